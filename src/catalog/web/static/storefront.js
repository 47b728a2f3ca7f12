// Storefront: live search with facets, sort and paging, kept in the page address, and
// an optimistic cart (a drawer on phones).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  // `?per_page=N` in the page address picks another page size (1 to 100, as the API allows).
  const PAGE_SIZE = Math.min(100, Math.max(1, Number(new URLSearchParams(location.search).get("per_page")) || 12));
  const MAX_LIMIT = 100;
  const DEBOUNCE_MS = 250;

  // ---- search ------------------------------------------------------------------

  let state = searchState.parse(location.search);
  // Category names by id, for an active category the facets no longer list.
  const categoryNames = new Map();
  let lastFacets = { category: [], price: [] };
  let nextCursor = null;
  let inFlight = null;
  let debounceTimer = null;

  // Records the state in the address: a new history entry (`push`) for a choice the
  // shopper may want to go Back from, else the current entry is updated.
  function remember(push) {
    const search = searchState.format(state, location.search);
    sessionStorage.setItem("tandem.search", search);
    if (search === location.search) return;
    const url = `${location.pathname}${search}`;
    if (push) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
  }

  // The controls say what the results are for, whatever the browser restored.
  function showControls() {
    $("q").value = state.q;
    $("sort").value = state.sort;
    $("in-stock").checked = state.inStock;
  }

  async function search(append) {
    // Only the newest request may paint: an older answer arriving late would show
    // results for text the user has already changed.
    if (inFlight) inFlight.abort();
    const controller = new AbortController();
    inFlight = controller;
    $("results").setAttribute("aria-busy", "true");
    const limit = append ? PAGE_SIZE : Math.min(MAX_LIMIT, PAGE_SIZE * state.pages);
    const params = searchState.apiParams(state, limit, append ? nextCursor : null);
    try {
      const page = await apiCall("GET", `/products?${params}`, { signal: controller.signal });
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
      add.addEventListener("click", () => addToCart(item, 1));
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
    name.className = "facet-name";
    name.textContent = label;
    const badge = document.createElement("span");
    badge.className = "count";
    badge.textContent = String(count);
    button.append(name, badge);
    button.addEventListener("click", onClick);
    li.append(button);
    return li;
  }

  function choose(change) {
    change();
    state.pages = 1;
    remember(true);
    refresh();
  }

  function renderFacets(facets) {
    lastFacets = facets;
    for (const facet of facets.category) categoryNames.set(facet.id, facet.name);
    const categories = facets.category.map((facet) => {
      const pressed = state.category === facet.id;
      return facetButton(facet.name, facet.count, pressed, () =>
        choose(() => (state.category = pressed ? null : facet.id)),
      );
    });
    // Keep the active category visible even when the narrowed results list only its
    // sub-categories, so it can always be switched off where it was switched on.
    if (state.category && !facets.category.some((f) => f.id === state.category)) {
      const name = categoryNames.get(state.category) || "Selected category";
      categories.unshift(facetButton(name, "✓", true, () => choose(() => (state.category = null))));
    }
    $("category-facets").replaceChildren(...categories);

    const isActive = (f) => state.price !== null && state.price.min === f.min && state.price.max === f.max;
    const prices = facets.price.map((facet) => {
      const pressed = isActive(facet);
      return facetButton(searchState.priceLabel(facet), facet.count, pressed, () =>
        choose(() => (state.price = pressed ? null : { min: facet.min, max: facet.max })),
      );
    });
    if (state.price && !facets.price.some(isActive)) {
      const label = searchState.priceLabel(state.price);
      prices.unshift(facetButton(label, "✓", true, () => choose(() => (state.price = null))));
    }
    $("price-facets").replaceChildren(...prices);
    $("clear-filters").hidden = !(state.category || state.price);
  }

  function refresh() {
    nextCursor = null;
    search(false);
  }

  // Category names for an address that names a category the facets do not list.
  async function learnCategories() {
    try {
      const tree = await apiCall("GET", "/categories");
      const walk = (nodes) => {
        for (const node of nodes) {
          if (!categoryNames.has(node.id)) categoryNames.set(node.id, node.name);
          walk(node.children || []);
        }
      };
      walk(tree.categories || []);
    } catch (_) {
      // The facet then reads "Selected category": nothing else depends on the names.
    }
  }

  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(debounceTimer);
    choose(() => (state.q = $("q").value.trim()));
  });
  $("q").addEventListener("input", () => {
    clearTimeout(debounceTimer);
    debounceTimer = setTimeout(() => {
      state.q = $("q").value.trim();
      state.pages = 1;
      remember(false);
      refresh();
    }, DEBOUNCE_MS);
  });
  $("sort").addEventListener("change", () => choose(() => (state.sort = $("sort").value)));
  $("in-stock").addEventListener("change", () => choose(() => (state.inStock = $("in-stock").checked)));
  $("clear-filters").addEventListener("click", () =>
    choose(() => {
      state.category = null;
      state.price = null;
    }),
  );
  $("load-more").addEventListener("click", () => {
    state.pages += 1;
    remember(false);
    search(true);
  });
  window.addEventListener("popstate", () => {
    clearTimeout(debounceTimer);
    state = searchState.parse(location.search);
    sessionStorage.setItem("tandem.search", location.search);
    showControls();
    refresh();
  });

  // ---- cart --------------------------------------------------------------------

  // Each line counts what the server has accepted and what is still on its way, so
  // concurrent clicks on one product roll back only their own share.
  const lines = new Map();
  let subtotal = null;

  function showCartMessage(text) {
    const box = $("cart-message");
    box.textContent = text;
    box.hidden = !text;
    // On a phone the cart is a closed drawer: open it, so the message is seen.
    if (text && getComputedStyle($("cart-toggle")).display !== "none") openCart(true);
  }

  function cartLine(line) {
    const quantity = line.confirmed + line.pending;
    const pending = line.pending !== 0;
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
    const amount = document.createElement("input");
    amount.type = "number";
    amount.min = "1";
    amount.max = "999";
    amount.value = String(quantity);
    amount.className = "line-amount";
    amount.disabled = pending;
    amount.setAttribute("aria-label", `Quantity of ${line.name}`);
    amount.addEventListener("change", () => setQuantity(line, Number(amount.value)));
    const state = document.createElement("span");
    state.className = "line-state small";
    state.textContent = pending ? "updating…" : "in cart";
    if (line.pending > 0 && line.confirmed === 0) state.textContent = "adding…";
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link small";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", `Remove ${line.name} from cart`);
    remove.disabled = pending;
    remove.addEventListener("click", () => removeFromCart(line));
    li.append(name, qty, amount, state, remove);
    return li;
  }

  function renderCart() {
    const items = [];
    let pendingTotal = 0;
    let count = 0;
    let currency = "";
    for (const line of lines.values()) {
      const quantity = line.confirmed + line.pending;
      if (quantity <= 0) continue;
      currency = line.currency || currency;
      items.push(cartLine(line));
      pendingTotal += quantity * Number(line.unitPrice);
      count += quantity;
    }
    $("cart-lines").replaceChildren(...items);
    $("cart-empty").hidden = items.length > 0;
    $("cart-count").textContent = String(count);
    // The server's subtotal is exact; the local sum is only shown while lines are
    // pending or before the cart has been read back.
    const anyPending = [...lines.values()].some((l) => l.pending !== 0);
    $("cart-subtotal").textContent =
      subtotal !== null && !anyPending ? subtotal : `${pendingTotal.toFixed(2)}${currency ? " " + currency : ""}`;
    $("checkout").disabled = items.length === 0 || anyPending;
  }

  async function loadCart() {
    const asked = shopperCart.id();
    try {
      const cart = await shopperCart.read();
      // A checkout may have started a new cart while this answer was on its way.
      if (cart === null || asked !== shopperCart.id()) return;
      for (const line of cart.lines) {
        const local = lines.get(line.product_id);
        lines.set(line.product_id, {
          productId: line.product_id,
          name: line.name,
          unitPrice: line.unit_price,
          currency: local ? local.currency : cart.currency || "",
          confirmed: line.quantity,
          pending: local ? local.pending : 0,
        });
      }
      for (const [id, line] of lines) {
        if (line.pending === 0 && !cart.lines.some((l) => l.product_id === id)) lines.delete(id);
      }
      subtotal = cart.subtotal;
    } catch (error) {
      showCartMessage(`Could not read the cart: ${error.message}`);
    }
    renderCart();
  }

  function lineOf(item) {
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
    return line;
  }

  async function addToCart(item, quantity) {
    showCartMessage("");
    $("order-result").hidden = true;
    const line = lineOf(item);
    line.pending += quantity;
    renderCart();
    try {
      await shopperCart.add(item.id, quantity);
      line.pending -= quantity;
      line.confirmed += quantity;
      renderCart();
      await loadCart();
    } catch (error) {
      line.pending -= quantity;
      if (line.confirmed + line.pending <= 0) lines.delete(item.id);
      renderCart();
      showCartMessage(`Could not add “${item.name}”: ${error.message}`);
    }
  }

  // A line's new quantity: more is added; less takes the line out and puts the new
  // quantity back (the cart's commands add and remove lines).
  async function setQuantity(line, wanted) {
    const current = line.confirmed;
    if (!Number.isInteger(wanted) || wanted < 1 || wanted === current) {
      renderCart();
      return;
    }
    if (wanted > current) {
      await addToCart({ id: line.productId, name: line.name, price: line.unitPrice, currency: line.currency }, wanted - current);
      return;
    }
    showCartMessage("");
    line.pending = wanted - current;
    renderCart();
    try {
      await shopperCart.remove(line.productId);
      line.confirmed = 0;
      line.pending = wanted;
      await shopperCart.add(line.productId, wanted);
      line.confirmed = wanted;
    } catch (error) {
      showCartMessage(`Could not change “${line.name}”: ${error.message}`);
    }
    line.pending = 0;
    await loadCart();
  }

  async function removeFromCart(line) {
    showCartMessage("");
    try {
      await shopperCart.remove(line.productId);
      lines.delete(line.productId);
      await loadCart();
    } catch (error) {
      showCartMessage(`Could not remove “${line.name}”: ${error.message}`);
    }
    renderCart();
  }

  function showOrder(order) {
    const box = $("order-result");
    box.replaceChildren();
    const title = document.createElement("strong");
    title.textContent = order.status === "placed" ? "Order placed" : `Order ${order.status}`;
    const id = document.createElement("div");
    id.className = "small";
    id.append("Order ");
    const code = document.createElement("code");
    code.id = "order-id";
    code.textContent = order.id;
    id.append(code);
    const list = document.createElement("ul");
    list.className = "order-lines";
    for (const line of order.lines || []) {
      const li = document.createElement("li");
      li.textContent = `${line.quantity} × ${line.name}`;
      list.append(li);
    }
    const total = document.createElement("div");
    total.id = "order-total";
    total.textContent = `Total ${formatMoney(order.total, order.currency)}`;
    box.append(title, id, list, total);
    if (order.contact) {
      const contact = document.createElement("div");
      contact.className = "small";
      contact.id = "order-contact";
      contact.textContent = `For ${order.contact.name} <${order.contact.email}>`;
      box.append(contact);
    }
    box.dataset.orderId = order.id;
    box.hidden = false;
  }

  $("checkout-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showCartMessage("");
    $("checkout").disabled = true;
    const contact = { name: $("checkout-name").value.trim(), email: $("checkout-email").value.trim() };
    try {
      const placed = await shopperCart.checkout(contact);
      $("order-result").dataset.version = String(placed.version);
      showOrder({ id: placed.id, status: "placed", total: placed.total, currency: placed.currency });
      shopperCart.renew();
      lines.clear();
      subtotal = null;
      renderCart();
      // The order as the server keeps it (the read-your-writes cookie waits for it).
      showOrder(await apiCall("GET", `/orders/${placed.id}`));
    } catch (error) {
      showCartMessage(`Checkout failed: ${error.message}`);
      renderCart();
    }
  });

  // ---- the drawer (phones) -------------------------------------------------------

  function openCart(open) {
    $("cart").classList.toggle("open", open);
    $("cart-toggle").setAttribute("aria-expanded", String(open));
    if (open) $("cart-close").focus();
  }

  $("cart-toggle").addEventListener("click", () => openCart(!$("cart").classList.contains("open")));
  $("cart-close").addEventListener("click", () => {
    openCart(false);
    $("cart-toggle").focus();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && $("cart").classList.contains("open")) openCart(false);
  });

  // ---- start -------------------------------------------------------------------

  sessionStorage.setItem("tandem.search", location.search);
  showControls();
  renderCart();
  loadCart();
  search(false);
  if (state.category) learnCategories().then(() => renderFacets(lastFacets));
})();
