// Product page: the server rendered the current version; the stream pushes newer ones.
"use strict";

(function () {
  const root = document.getElementById("product");
  const $ = (id) => document.getElementById(id);
  const live = $("live-state");

  function flash(element) {
    element.classList.remove("changed");
    // Reading layout restarts the animation when the same field changes twice.
    void element.offsetWidth;
    element.classList.add("changed");
  }

  function setText(element, text) {
    if (element.textContent === text) return;
    element.textContent = text;
    flash(element);
  }

  function show(doc) {
    // The stream opens with the current document, which the page may already show,
    // and an older version must never replace a newer one.
    if (Number(doc.version) < Number(root.dataset.version)) return;
    setText($("product-name"), doc.name);
    setText($("product-price"), doc.price);
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
  }

  const stream = new EventSource(`/stream/products/${root.dataset.id}`);
  stream.addEventListener("open", () => {
    live.textContent = "live";
    live.className = "ok";
  });
  stream.addEventListener("error", () => {
    // EventSource reconnects by itself; say so instead of pretending to be live.
    live.textContent = "reconnecting…";
    live.className = "warn";
  });
  stream.addEventListener("product", (event) => show(JSON.parse(event.data)));
})();
