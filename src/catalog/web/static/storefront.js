// Storefront: live search with facets, sort and paging, and an optimistic cart.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "tandem.token";
  const CART_KEY = "tandem.cart";
  // `?per_page=N` in the page address picks another page size (1 to 100, as the API allows).
  const PAGE_SIZE = Math.min(100, Math.max(1, Number(new URLSearchParams(location.search).get("per_page")) || 12));
  const DEBOUNCE_MS = 250;

  // ---- search ------------------------------------------------------------------

  const filters = { q: "", sort: "relevance", category: null, price: null, inStock: false };
  let nextCursor = null;
  let inFlight = null;
  let debounceTimer = null;

  function searchUrl(cursor) {
    const params = new URLSearchParams({ sort: filters.sort, limit: String(PAGE_SIZE) });
    if (filters.q) params.set("q", filters.q);
    if (filters.category) params.set("category", filters.category.id);
    if (filters.price) {
      params.set("min_price", filters.price.min);
      params.set("max_price", filters.price.max);
    }
    if (filters.inStock) params.set("in_stock", "true");
    if (cursor) params.set("cursor", cursor);
    return `/products?${params}`;
  }

  async function search(append) {
    // Only the newest request may paint: an older answer arriving late would show
    // results for text the user has already changed.
    if (inFlight) inFlight.abort();
    const controller = new AbortController();
    inFlight = controller;
    $("results").setAttribute("aria-busy", "true");
    try {
      const page = await apiCall("GET", searchUrl(append ? nextCursor : null), {
        signal: controller.signal,
      });
      $("search-error").hidden = true;
      renderResults(page, append);
      renderFacets(page.facets || { category: [], price: [] });
    } catch (error) {
      if (error.name === "AbortError") return;
      $("search-error").textContent = `Search failed: ${error.message}`;
      $("search-error").hidden = false;
    } finally {
      if (inFlight === controller) {
        inFlight = null;
        $("results").removeAttribute("aria-busy");
      }
    }
  }

  function renderResults(page, append) {
    const list = $("results");
    if (!append) list.replaceChildren();
    const template = $("result-template");
    for (const item of page.items) {
      const node = template.content.firstElementChild.cloneNode(true);
      node.dataset.productId = item.id;
      const link = node.querySelector(".result-name");
      link.href = `/products/${item.id}/view`;
      link.textContent = item.name;
      node.querySelector(".result-category").textContent = item.category ? item.category.name : "";
      node.querySelector(".result-price").textContent = formatMoney(item.price, item.currency);
      const stock = node.querySelector(".result-stock");
      stock.textContent = item.in_stock ? `${item.stock} in stock` : "Out of stock";
      stock.classList.toggle("out", !item.in_stock);
      const add = node.querySelector(".add");
      add.disabled = !item.in_stock;
      add.setAttribute("aria-label", `Add ${item.name} to cart`);
      add.addEventListener("click", () => addToCart(item));
      list.append(node);
    }
    nextCursor = page.next_cursor;
    $("load-more").hidden = !nextCursor;
    const shown = list.children.length;
    $("result-summary").textContent =
      page.total === 0 ? "No products match." : `Showing ${shown} of ${page.total} products`;
  }

  function facetButton(label, count, pressed, onClick) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "facet";
    button.setAttribute("aria-pressed", String(pressed));
    const name = document.createElement("span");
    name.textContent = label;
    const badge = document.createElement("span");
    badge.className = "count";
    badge.textContent = String(count);
    button.append(name, badge);
    button.addEventListener("click", onClick);
    li.append(button);
    return li;
  }

  function renderFacets(facets) {
    const categories = facets.category.map((facet) => {
      const pressed = filters.category !== null && filters.category.id === facet.id;
      return facetButton(facet.name, facet.count, pressed, () => {
        filters.category = pressed ? null : { id: facet.id, name: facet.name };
        refresh();
      });
    });
    // Keep the active category visible even when the narrowed results list only its
    // sub-categories, so it can always be switched off where it was switched on.
    if (filters.category && !facets.category.some((f) => f.id === filters.category.id)) {
      categories.unshift(
        facetButton(filters.category.name, "✓", true, () => {
          filters.category = null;
          refresh();
        }),
      );
    }
    $("category-facets").replaceChildren(...categories);

    const isActive = (f) => filters.price && filters.price.min === f.min && filters.price.max === f.max;
    const prices = facets.price.map((facet) => {
      const pressed = Boolean(isActive(facet));
      return facetButton(`${facet.min} – ${facet.max}`, facet.count, pressed, () => {
        filters.price = pressed ? null : { min: facet.min, max: facet.max };
        refresh();
      });
    });
    if (filters.price && !facets.price.some(isActive)) {
      prices.unshift(
        facetButton(`${filters.price.min} – ${filters.price.max}`, "✓", true, () => {
          filters.price = null;
          refresh();
        }),
      );
    }
    $("price-facets").replaceChildren(...prices);
    $("clear-filters").hidden = !(filters.category || filters.price);
  }

  function refresh() {
    nextCursor = null;
    search(false);
  }

  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(debounceTimer);
    filters.q = $("q").value.trim();
    refresh();
  });
  $("q").addEventListener("input", () => {
    clearTimeout(debounceTimer);
    debounceTimer = setTimeout(() => {
      filters.q = $("q").value.trim();
      refresh();
    }, DEBOUNCE_MS);
  });
  $("sort").addEventListener("change", () => {
    filters.sort = $("sort").value;
    refresh();
  });
  $("in-stock").addEventListener("change", () => {
    filters.inStock = $("in-stock").checked;
    refresh();
  });
  $("clear-filters").addEventListener("click", () => {
    filters.category = null;
    filters.price = null;
    refresh();
  });
  $("load-more").addEventListener("click", () => search(true));

  // ---- cart --------------------------------------------------------------------

  // Each line counts what the server has accepted and what is still on its way, so
  // concurrent clicks on one product roll back only their own share.
  const lines = new Map();
  let cartId = localStorage.getItem(CART_KEY) || "";
  let subtotal = null;

  // The bearer token stays in this tab (sessionStorage): it is gone when the tab
  // closes and no other tab sees it. Earlier pages kept it in localStorage, on disk
  // for good: such a copy is dropped. (An HttpOnly cookie would hide it from scripts,
  // but would also send it with every request the browser makes to this server, asked
  // for by any site; the page's policy runs no script but this server's.)
  localStorage.removeItem(TOKEN_KEY);

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  function startNewCart() {
    cartId = newUuid();
    localStorage.setItem(CART_KEY, cartId);
    lines.clear();
    subtotal = null;
    $("cart-id").textContent = cartId;
    renderCart();
  }

  function showCartMessage(text) {
    const box = $("cart-message");
    box.textContent = text;
    box.hidden = !text;
  }

  function renderTokenState() {
    $("token-state").textContent = token()
      ? "A token is saved."
      : "No token saved: add a token to use the cart.";
  }

  function renderCart() {
    const items = [];
    let pendingTotal = 0;
    let currency = "";
    for (const line of lines.values()) {
      const quantity = line.confirmed + line.pending;
      if (quantity <= 0) continue;
      const pending = line.pending > 0;
      currency = line.currency || currency;
      const li = document.createElement("li");
      li.className = "cart-line";
      li.dataset.productId = line.productId;
      li.dataset.state = pending ? "pending" : "confirmed";
      li.dataset.quantity = String(quantity);
      const name = document.createElement("span");
      name.className = "line-name";
      name.textContent = line.name;
      const qty = document.createElement("span");
      qty.className = "line-qty";
      qty.textContent = `${quantity} × ${line.unitPrice}`;
      const state = document.createElement("span");
      state.className = "line-state small";
      state.textContent = pending ? "adding…" : "in cart";
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link small";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", `Remove ${line.name} from cart`);
      remove.disabled = pending;
      remove.addEventListener("click", () => removeFromCart(line));
      li.append(name, qty, state, remove);
      items.push(li);
      pendingTotal += quantity * Number(line.unitPrice);
    }
    $("cart-lines").replaceChildren(...items);
    // The server's subtotal is exact; the local sum is only shown while lines are
    // pending or before the cart has been read back.
    const anyPending = [...lines.values()].some((l) => l.pending > 0);
    $("cart-subtotal").textContent =
      subtotal !== null && !anyPending ? subtotal : `${pendingTotal.toFixed(2)}${currency ? " " + currency : ""}`;
    $("checkout").disabled = items.length === 0 || anyPending || !token();
  }

  async function loadCart() {
    if (!token() || !cartId) return;
    const asked = cartId;
    try {
      const cart = await apiCall("GET", `/carts/${asked}`, { token: token() });
      // A checkout may have started a new cart while this answer was on its way.
      if (asked !== cartId) return;
      for (const line of cart.lines) {
        const local = lines.get(line.product_id);
        lines.set(line.product_id, {
          productId: line.product_id,
          name: line.name,
          unitPrice: line.unit_price,
          currency: local ? local.currency : "",
          confirmed: line.quantity,
          pending: local ? local.pending : 0,
        });
      }
      for (const [id, line] of lines) {
        if (line.pending === 0 && !cart.lines.some((l) => l.product_id === id)) lines.delete(id);
      }
      subtotal = cart.subtotal;
    } catch (error) {
      // A cart nobody has added to yet does not exist: that is an empty cart.
      if (error.status !== 404) showCartMessage(`Could not read the cart: ${error.message}`);
    }
    renderCart();
  }

  async function addToCart(item) {
    showCartMessage("");
    $("order-result").hidden = true;
    if (!token()) {
      showCartMessage("Add a token first: the cart needs one.");
      $("token").focus();
      return;
    }
    let line = lines.get(item.id);
    if (!line) {
      line = {
        productId: item.id,
        name: item.name,
        unitPrice: item.price,
        currency: item.currency,
        confirmed: 0,
        pending: 0,
      };
      lines.set(item.id, line);
    }
    line.pending += 1;
    renderCart();
    try {
      await apiCall("POST", `/carts/${cartId}/items`, {
        token: token(),
        body: { product_id: item.id, quantity: 1 },
      });
      line.pending -= 1;
      line.confirmed += 1;
      renderCart();
      await loadCart();
    } catch (error) {
      line.pending -= 1;
      if (line.confirmed + line.pending <= 0) lines.delete(item.id);
      renderCart();
      showCartMessage(`Could not add “${item.name}”: ${error.message}`);
    }
  }

  async function removeFromCart(line) {
    showCartMessage("");
    try {
      await apiCall("DELETE", `/carts/${cartId}/items/${line.productId}`, { token: token() });
      lines.delete(line.productId);
      await loadCart();
    } catch (error) {
      showCartMessage(`Could not remove “${line.name}”: ${error.message}`);
    }
    renderCart();
  }

  $("checkout").addEventListener("click", async () => {
    showCartMessage("");
    $("checkout").disabled = true;
    try {
      const order = await apiCall("POST", `/carts/${cartId}/checkout`, { token: token() });
      const box = $("order-result");
      box.replaceChildren();
      const title = document.createElement("strong");
      title.textContent = "Order placed";
      const id = document.createElement("div");
      id.className = "small";
      id.append("Order ");
      const code = document.createElement("code");
      code.id = "order-id";
      code.textContent = order.id;
      id.append(code);
      const total = document.createElement("div");
      total.id = "order-total";
      total.textContent = `Total ${formatMoney(order.total, order.currency)}`;
      box.append(title, id, total);
      box.dataset.orderId = order.id;
      box.dataset.version = String(order.version);
      box.hidden = false;
      startNewCart();
    } catch (error) {
      showCartMessage(`Checkout failed: ${error.message}`);
      renderCart();
    }
  });

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token").value.trim();
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
    $("token").value = "";
    renderTokenState();
    showCartMessage("");
    loadCart();
  });

  // ---- start -------------------------------------------------------------------

  if (!cartId) startNewCart();
  $("cart-id").textContent = cartId;
  renderTokenState();
  renderCart();
  loadCart();
  search(false);
})();
