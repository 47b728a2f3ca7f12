// Product page: the server rendered the current version; the stream pushes newer ones.
// Add to cart puts the chosen quantity in this browser's cart; the price history is
// drawn from /products/{id}/price-history and read again when the price changes.
"use strict";

(function () {
  const root = document.getElementById("product");
  const $ = (id) => document.getElementById(id);
  const live = $("live-state");
  const productId = root.dataset.id;

  function flash(element) {
    element.classList.remove("changed");
    // Reading layout restarts the animation when the same field changes twice.
    void element.offsetWidth;
    element.classList.add("changed");
  }

  function setText(element, text) {
    if (element.textContent === text) return false;
    element.textContent = text;
    flash(element);
    return true;
  }

  function show(doc, position) {
    // The stream opens with the current document, which the page may already show,
    // and an older version must never replace a newer one.
    if (Number(doc.version) < Number(root.dataset.version)) return;
    setText($("product-name"), doc.name);
    const repriced = setText($("product-price"), doc.price);
    setText($("product-currency"), doc.currency);
    const stock = $("product-stock");
    setText(stock, doc.in_stock ? `${doc.stock} in stock` : "Out of stock");
    stock.dataset.stock = String(doc.stock);
    stock.classList.toggle("out", !doc.in_stock);
    const status = $("product-status");
    setText(status, doc.status);
    status.classList.toggle("bad", doc.status !== "active");
    $("product-description").textContent = doc.description || "";
    const path = (doc.category && doc.category.path) || [];
    setText($("category-path"), path.map((part) => ` › ${part}`).join(""));
    document.title = `${doc.name} · Tandem catalog`;
    root.dataset.version = String(doc.version);
    $("product-version").textContent = String(doc.version);
    $("add-to-cart").disabled = !doc.in_stock || doc.status !== "active";
    if (repriced) loadHistory(position);
  }

  // ---- price history ------------------------------------------------------------

  let historyAsked = 0;

  async function loadHistory(position) {
    const asked = ++historyAsked;
    const wait = position ? `?min_version=${position}&wait_ms=5000` : "";
    try {
      const history = await apiCall("GET", `/products/${productId}/price-history${wait}`);
      if (asked !== historyAsked) return;
      priceChart.draw($("price-chart"), history.points, Date.now());
      const count = history.points.length;
      $("price-history-summary").textContent =
        count === 1 ? "One price so far." : `${count} prices since ${history.points[0].at.slice(0, 10)}.`;
    } catch (error) {
      if (asked === historyAsked) $("price-history-summary").textContent = `No price history: ${error.message}`;
    }
  }

  // ---- add to cart ----------------------------------------------------------------

  $("add-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const quantity = Number($("add-quantity").value);
    const message = $("add-message");
    const name = $("product-name").textContent;
    message.className = "small";
    if (!Number.isInteger(quantity) || quantity < 1) {
      message.textContent = "Choose a quantity of at least 1.";
      message.classList.add("warn");
      return;
    }
    $("add-to-cart").disabled = true;
    message.textContent = "Adding…";
    try {
      await shopperCart.add(productId, quantity);
      message.textContent = `Added ${quantity} × ${name} to your cart.`;
      message.classList.add("ok");
    } catch (error) {
      message.textContent = `Could not add “${name}”: ${error.message}`;
      message.classList.add("warn");
    } finally {
      $("add-to-cart").disabled = $("product-stock").classList.contains("out");
    }
  });

  // Back to the storefront's last search in this tab, as it was.
  const lastSearch = sessionStorage.getItem("tandem.search") || "";
  if (lastSearch.startsWith("?")) $("back-to-store").href = `/${lastSearch}`;

  // ---- live ---------------------------------------------------------------------

  const stream = liveStream(`/stream/products/${productId}`, live);
  stream.addEventListener("product", (event) => show(JSON.parse(event.data), event.lastEventId));
  loadHistory(null);
})();
