// ReDoc over this server's OpenAPI document. ReDoc writes <style> elements as it
// renders; the page's policy allows styles that carry this response's nonce, which the
// server put on this script's tag for ReDoc to use.
"use strict";

(() => {
  // ReDoc's menu shows its maker's logo from the maker's CDN. This page loads nothing
  // from elsewhere (its policy refuses it, and reports each refusal), so an image is
  // never given that source, as an attribute (React's first render) or as a property
  // (React's mount): it stays hidden, as ReDoc hides it when it fails to load.
  const VENDOR_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg";
  const images = HTMLImageElement.prototype;
  const src = Object.getOwnPropertyDescriptor(images, "src");
  const setAttribute = Element.prototype.setAttribute;
  Object.defineProperty(images, "src", {
    ...src,
    set(value) {
      if (value === VENDOR_LOGO) this.hidden = true;
      else src.set.call(this, value);
    },
  });
  Object.defineProperty(images, "setAttribute", {
    configurable: true,
    value(name, value) {
      if (name === "src" && value === VENDOR_LOGO) this.hidden = true;
      else setAttribute.call(this, name, value);
    },
  });

  const root = document.getElementById("redoc");
  const nonce = document.currentScript.nonce;
  Redoc.init(root.dataset.spec, { nonce }, root);
})();
