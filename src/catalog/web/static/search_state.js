// The storefront's search as the page address says it, so Back, Forward, a reload and
// a shared link show the same search: q, category, min_price and max_price, in_stock,
// sort and pages (how many pages "Load more" has shown). Anything the address holds
// that the API would refuse is dropped, never sent.
"use strict";

const searchState = (function () {
  const SORTS = ["relevance", "price_asc", "price_desc", "newest"];
  const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  const MONEY = /^\d{1,9}(\.\d{1,2})?$/;
  const MAX_PAGES = 50;

  function empty() {
    return { q: "", sort: "relevance", category: null, price: null, inStock: false, pages: 1 };
  }

  // The state `search` (a location.search) describes.
  function parse(search) {
    const params = new URLSearchParams(search);
    const state = empty();
    state.q = (params.get("q") || "").trim().slice(0, 200);
    const sort = params.get("sort");
    if (SORTS.includes(sort)) state.sort = sort;
    const category = params.get("category");
    if (category && ID.test(category)) state.category = category;
    const min = params.get("min_price");
    const max = params.get("max_price");
    if (min && MONEY.test(min)) state.price = { min, max: max && MONEY.test(max) ? max : null };
    state.inStock = params.get("in_stock") === "true";
    const pages = Number(params.get("pages"));
    if (Number.isInteger(pages) && pages > 1) state.pages = Math.min(pages, MAX_PAGES);
    return state;
  }

  // Sets the parameters the page address and the API share.
  function setFilters(params, state) {
    if (state.q) params.set("q", state.q);
    if (state.category) params.set("category", state.category);
    if (state.price) {
      params.set("min_price", state.price.min);
      if (state.price.max !== null) params.set("max_price", state.price.max);
    }
    if (state.inStock) params.set("in_stock", "true");
  }

  // The query string of `state`, keeping the address's other parameters (per_page).
  function format(state, search) {
    const params = new URLSearchParams(search);
    for (const key of ["q", "sort", "category", "min_price", "max_price", "in_stock", "pages"]) {
      params.delete(key);
    }
    setFilters(params, state);
    if (state.sort !== "relevance") params.set("sort", state.sort);
    if (state.pages > 1) params.set("pages", String(state.pages));
    const text = params.toString();
    return text ? `?${text}` : "";
  }

  // The API's search parameters for `state`: `limit` results after `cursor`.
  function apiParams(state, limit, cursor) {
    const params = new URLSearchParams({ sort: state.sort, limit: String(limit) });
    setFilters(params, state);
    if (cursor) params.set("cursor", cursor);
    return params;
  }

  // A price bucket as a shopper reads it; the last bucket has no upper bound.
  function priceLabel(price) {
    return price.max === null ? `${price.min} and up` : `${price.min} – ${price.max}`;
  }

  return { empty, parse, format, apiParams, priceLabel };
})();
