// Shared helpers for the pages: JSON calls that turn problem responses into errors.
"use strict";

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

// Calls the API and resolves with the JSON body; rejects with an ApiError carrying the
// problem document, so callers can show its `detail` as-is. `X-Requested-With` tells
// the server that this site's own page sent the request: a guest's cart and orders
// change only with it (a form or a page of another site cannot send it).
async function apiCall(method, path, { token, body, signal } = {}) {
  const headers = { Accept: "application/json", "X-Requested-With": "fetch" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    credentials: "same-origin",
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function formatMoney(amount, currency) {
  return currency ? `${amount} ${currency}` : String(amount);
}

// crypto.randomUUID exists only in secure contexts; a page served over plain HTTP on a
// LAN address still needs a cart id, so fall back to getRandomValues (RFC 4122 v4).
function newUuid() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") {
    return window.crypto.randomUUID();
  }
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// An EventSource on `url` whose state `status` shows: "live" once open, "reconnecting…"
// while the browser reconnects by itself after an error.
function liveStream(url, status) {
  const stream = new EventSource(url);
  stream.addEventListener("open", () => {
    status.textContent = "live";
    status.className = "ok";
  });
  stream.addEventListener("error", () => {
    status.textContent = "reconnecting…";
    status.className = "warn";
  });
  return stream;
}
