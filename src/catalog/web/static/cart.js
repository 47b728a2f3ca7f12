// The browser's cart, shared by the storefront and the product page. The server knows
// the shopper by the guest cookie the pages set; the cart id is kept in localStorage,
// with a mark once a line was added, so a cart nobody has added to is never read (it
// does not exist yet on the server).
"use strict";

const shopperCart = (function () {
  const CART_KEY = "tandem.cart";
  const USED_KEY = "tandem.cart.used";

  function id() {
    let current = localStorage.getItem(CART_KEY);
    if (!current) {
      current = newUuid();
      localStorage.setItem(CART_KEY, current);
    }
    return current;
  }

  function exists() {
    return localStorage.getItem(USED_KEY) === id();
  }

  // Starts a new, empty cart (after a checkout) and returns its id.
  function renew() {
    localStorage.removeItem(USED_KEY);
    localStorage.setItem(CART_KEY, newUuid());
    return id();
  }

  async function add(productId, quantity) {
    const cart = id();
    const answer = await apiCall("POST", `/carts/${cart}/items`, {
      body: { product_id: productId, quantity },
    });
    localStorage.setItem(USED_KEY, cart);
    return answer;
  }

  async function remove(productId) {
    return apiCall("DELETE", `/carts/${id()}/items/${productId}`);
  }

  // The cart as the server has it (at least as new as this browser's last change: the
  // read-your-writes cookie); null while nothing was ever added.
  async function read() {
    if (!exists()) return null;
    return apiCall("GET", `/carts/${id()}`);
  }

  // Places the order; `contact` ({name, email}) says whom it is for.
  async function checkout(contact) {
    return apiCall("POST", `/carts/${id()}/checkout`, { body: contact });
  }

  return { id, exists, renew, add, remove, read, checkout };
})();
