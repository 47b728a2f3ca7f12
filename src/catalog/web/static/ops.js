// Operations page: projection table kept live by SSE and /status, a lag chart and rates.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const WINDOW_MS = 5 * 60 * 1000;
  const RATE_WINDOW_MS = 10 * 1000;
  const STATUS_EVERY_MS = 2000;
  const COLORS = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#4b5563"];
  const FIELDS = ["mode", "store", "checkpoint", "head", "lag_events", "lag_seconds", "dead_letters"];

  const tbody = document.querySelector("#projections tbody");
  const rows = new Map();
  for (const row of tbody.querySelectorAll("tr[data-projection]")) rows.set(row.dataset.projection, row);

  // ---- table -------------------------------------------------------------------

  function rowFor(name) {
    let row = rows.get(name);
    if (row) return row;
    row = document.createElement("tr");
    row.dataset.projection = name;
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = name;
    row.append(th);
    for (const field of [...FIELDS, "state"]) {
      const td = document.createElement("td");
      td.dataset.field = field;
      if (field !== "mode" && field !== "store" && field !== "state") td.className = "num";
      row.append(td);
    }
    tbody.append(row);
    rows.set(name, row);
    return row;
  }

  function setField(row, field, value) {
    const cell = row.querySelector(`[data-field="${field}"]`);
    const text = field === "lag_seconds" ? Number(value).toFixed(3) : String(value);
    if (cell.textContent !== text) cell.textContent = text;
  }

  function setState(row, state, error) {
    row.dataset.state = state;
    row.classList.toggle("failed", state === "failed");
    const cell = row.querySelector('[data-field="state"]');
    const badge = document.createElement("span");
    badge.className = `badge state-${state}`;
    badge.textContent = state;
    if (error) badge.title = error;
    cell.replaceChildren(badge);
  }

  function applyStatus(status) {
    for (const p of status.projections) {
      const row = rowFor(p.name);
      for (const field of FIELDS) setField(row, field, p[field]);
      row.querySelector('[data-field="dead_letters"]').classList.toggle("parked", p.dead_letters > 0);
      setState(row, p.state, p.error);
    }
    seeHead(status.head);
    sample(status.projections);
  }

  function applyProgress(progress) {
    const row = rowFor(progress.projection);
    const checkpoint = Number(progress.checkpoint);
    const head = Number(progress.head);
    // A stream event can carry a checkpoint a /status answer already passed.
    const shown = Number(row.querySelector('[data-field="checkpoint"]').textContent) || 0;
    if (checkpoint >= shown) {
      setField(row, "checkpoint", checkpoint);
      setField(row, "head", head);
      setField(row, "lag_events", Math.max(0, head - checkpoint));
    }
    seeHead(head);
  }

  // ---- rates -------------------------------------------------------------------

  // Head positions seen, with when; each advance is at least one committed command.
  const heads = [];

  function seeHead(head) {
    head = Number(head);
    const last = heads.length ? heads[heads.length - 1].head : null;
    if (last !== null && head <= last) return;
    heads.push({ t: Date.now(), head });
    $("head").textContent = String(head);
  }

  function renderRates() {
    const now = Date.now();
    // heads[0] stays the baseline: the head as it was when the window opened (or when
    // the page loaded); every later entry is one advance inside the window.
    while (heads.length > 1 && heads[1].t < now - RATE_WINDOW_MS) heads.shift();
    const seconds = Math.max(1, Math.min(RATE_WINDOW_MS, now - heads[0].t) / 1000);
    const events = heads[heads.length - 1].head - heads[0].head;
    const commands = heads.length - 1;
    $("events-rate").textContent = (events / seconds).toFixed(1);
    $("commands-rate").textContent = (commands / seconds).toFixed(1);
  }

  // ---- chart -------------------------------------------------------------------

  const samples = [];
  const chart = $("lag-chart");
  const metric = $("chart-metric");

  function sample(projections) {
    const values = {};
    for (const p of projections) values[p.name] = { lag_events: p.lag_events, lag_seconds: p.lag_seconds };
    samples.push({ t: Date.now(), values });
    while (samples.length && samples[0].t < Date.now() - WINDOW_MS) samples.shift();
    renderChart();
  }

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function renderChart() {
    const width = 800;
    const height = 220;
    const pad = { left: 48, right: 12, top: 12, bottom: 24 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const key = metric.value;
    const now = Date.now();
    const names = [...rows.keys()];
    let peak = 0;
    for (const s of samples) for (const name of names) peak = Math.max(peak, Number(s.values[name]?.[key] ?? 0));
    // Four gridline steps of a round size; a quiet system still gets a readable scale.
    const step = niceStep(Math.max(peak, key === "lag_seconds" ? 1 : 4) / 4);
    const max = step * 4;
    const x = (t) => pad.left + plotW * (1 - (now - t) / WINDOW_MS);
    const y = (v) => pad.top + plotH * (1 - v / max);

    const nodes = [];
    for (let i = 0; i <= 4; i++) {
      const value = (max * i) / 4;
      const yy = y(value);
      nodes.push(el("line", { x1: pad.left, x2: width - pad.right, y1: yy, y2: yy, class: "gridline" }));
      const label = key === "lag_seconds" ? value.toFixed(2) : String(value);
      nodes.push(el("text", { x: pad.left - 6, y: yy + 4, "text-anchor": "end", class: "axis" }, label));
    }
    for (const minutes of [5, 4, 3, 2, 1, 0]) {
      const xx = x(now - minutes * 60000);
      const label = minutes === 0 ? "now" : `-${minutes}m`;
      nodes.push(el("text", { x: xx, y: height - 6, "text-anchor": "middle", class: "axis" }, label));
    }
    const legend = [];
    names.forEach((name, index) => {
      const color = COLORS[index % COLORS.length];
      const points = samples
        .filter((s) => s.values[name] !== undefined)
        .map((s) => `${x(s.t).toFixed(1)},${y(Number(s.values[name][key])).toFixed(1)}`);
      if (points.length) {
        nodes.push(el("polyline", { points: points.join(" "), fill: "none", stroke: color, "stroke-width": 2 }));
      }
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = color;
      item.append(swatch, name);
      legend.push(item);
    });
    chart.replaceChildren(...nodes);
    $("chart-legend").replaceChildren(...legend);
  }

  function niceStep(value) {
    const magnitude = 10 ** Math.floor(Math.log10(value));
    for (const factor of [1, 2, 5]) if (value <= factor * magnitude) return factor * magnitude;
    return 10 * magnitude;
  }

  metric.addEventListener("change", renderChart);

  // ---- feeds -------------------------------------------------------------------

  async function poll() {
    try {
      const response = await fetch("/status", { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      applyStatus(await response.json());
      $("status-error").hidden = true;
    } catch (error) {
      $("status-error").textContent = `Could not read /status: ${error.message}`;
      $("status-error").hidden = false;
    }
    renderRates();
  }

  const stream = new EventSource("/stream/progress");
  const streamState = $("stream-state");
  stream.addEventListener("open", () => {
    streamState.textContent = "live";
    streamState.className = "ok";
  });
  stream.addEventListener("error", () => {
    streamState.textContent = "reconnecting…";
    streamState.className = "warn";
  });
  stream.addEventListener("progress", (event) => applyProgress(JSON.parse(event.data)));

  seeHead(Number($("head").textContent));
  poll();
  setInterval(poll, STATUS_EVERY_MS);
})();
