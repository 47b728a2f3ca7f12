// Operations page: projection table kept live by SSE and /status, a lag chart and rates;
// rebuilds (started, cancelled and followed over SSE) and dead letters, with an admin token.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const WINDOW_MS = 5 * 60 * 1000;
  const RATE_WINDOW_MS = 10 * 1000;
  const STATUS_EVERY_MS = 2000;
  const COLORS = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#4b5563"];
  const FIELDS = ["mode", "store", "version", "checkpoint", "head", "lag_events", "lag_seconds", "dead_letters"];
  const TOKEN_KEY = "tandem.ops.token";
  const FINAL = new Set(["switched", "cancelled", "failed"]);

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
    for (const field of [...FIELDS, "state", "rebuild"]) {
      const td = document.createElement("td");
      td.dataset.field = field;
      if (FIELDS.includes(field) && field !== "mode" && field !== "store") td.className = "num";
      if (field === "rebuild") td.className = "rebuild";
      row.append(td);
    }
    tbody.append(row);
    rows.set(name, row);
    rebuildControls(row);
    return row;
  }

  function setField(row, field, value) {
    const cell = row.querySelector(`[data-field="${field}"]`);
    let text = String(value);
    if (field === "lag_seconds") text = Number(value).toFixed(3);
    else if (value === null || value === undefined) text = "—";
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
      syncRebuildButton(row);
    }
    seeHead(status.head);
    sample(status.projections);
    seeLetterCounts(status.projections);
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

  // ---- messages and the admin token ------------------------------------------

  function showError(text) {
    $("ops-notice").hidden = true;
    $("ops-error").textContent = text;
    $("ops-error").hidden = false;
  }

  // The projection whose rebuild the notice is about, if it is: it goes when that ends.
  let noticeRebuild = null;

  function showNotice(text, rebuilding = null) {
    noticeRebuild = rebuilding;
    $("ops-error").hidden = true;
    $("ops-notice").textContent = text;
    $("ops-notice").hidden = false;
  }

  function rebuildEnded(name) {
    if (noticeRebuild !== name) return;
    noticeRebuild = null;
    $("ops-notice").hidden = true;
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  function renderTokenState() {
    $("token-state").textContent = token()
      ? "A token is saved for this tab."
      : "Rebuilds and dead letters need a token with the admin scope; it stays in this tab only.";
    $("token-forget").hidden = !token();
  }

  // Runs an admin call; shows the problem's detail and resolves to null if it fails.
  async function admin(method, path) {
    if (!token()) {
      showError("Save an admin token first.");
      $("admin-token").focus();
      return null;
    }
    try {
      return await apiCall(method, path, { token: token() });
    } catch (error) {
      showError(error.message);
      return null;
    }
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("admin-token").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    $("admin-token").value = "";
    $("ops-error").hidden = true;
    renderTokenState();
    loadLetters();
  });

  $("token-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    renderTokenState();
    renderLetters(null);
  });

  // ---- rebuilds ----------------------------------------------------------------

  // The latest progress shown per projection, so an older answer never overwrites it.
  const rebuilds = new Map();

  function rebuildControls(row) {
    const cell = row.querySelector('[data-field="rebuild"]');
    const name = row.dataset.projection;
    const start = document.createElement("button");
    start.type = "button";
    start.className = "secondary";
    start.dataset.action = "rebuild";
    start.textContent = "Rebuild";
    start.setAttribute("aria-label", `Rebuild ${name}`);
    start.addEventListener("click", () => startRebuild(name));
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "secondary";
    cancel.dataset.action = "cancel";
    cancel.textContent = "Cancel";
    cancel.setAttribute("aria-label", `Cancel the rebuild of ${name}`);
    cancel.hidden = true;
    cancel.addEventListener("click", () => cancelRebuild(name));
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.hidden = true;
    bar.setAttribute("aria-label", `Rebuild of ${name}`);
    const text = document.createElement("span");
    text.className = "rebuild-text";
    const actions = document.createElement("div");
    actions.className = "rebuild-actions";
    actions.append(start, cancel);
    cell.replaceChildren(actions, bar, text);
    syncRebuildButton(row);
  }

  function syncRebuildButton(row) {
    const start = row.querySelector('button[data-action="rebuild"]');
    const mode = row.querySelector('[data-field="mode"]').textContent.trim();
    const running = row.dataset.rebuild === "running";
    start.disabled = running;
    start.title =
      mode === "sync" ? "A sync projection lives in the write database: its new copy is new tables there." : "";
  }

  function formatDuration(seconds) {
    if (!Number.isFinite(seconds)) return "—";
    if (seconds < 1) return "< 1 s";
    if (seconds < 90) return `${Math.round(seconds)} s`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  function describeRebuild(r) {
    const rate = `${Number(r.events_per_s).toFixed(1)} events/s`;
    if (r.state === "running") {
      const left = Math.max(0, Number(r.head) - Number(r.checkpoint));
      const eta = left === 0 ? "< 1 s" : formatDuration(left / Number(r.events_per_s));
      return `running ${Number(r.percent).toFixed(1)}% · ${rate} · ETA ${eta}`;
    }
    if (r.state === "switched") return `switched to ${r.target} · ${r.events_applied} events · ${rate}`;
    if (r.state === "failed") return `failed: ${r.error || "unknown error"}`;
    return r.state;
  }

  function isOlder(update, shown) {
    if (!shown || shown.target !== update.target) return false;
    const rank = (r) => (FINAL.has(r.state) ? 1 : 0);
    if (rank(update) !== rank(shown)) return rank(update) < rank(shown);
    return Number(update.checkpoint) < Number(shown.checkpoint);
  }

  function applyRebuild(r) {
    if (isOlder(r, rebuilds.get(r.projection))) return;
    rebuilds.set(r.projection, r);
    const row = rowFor(r.projection);
    row.dataset.rebuild = r.state;
    row.classList.toggle("rebuild-failed", r.state === "failed");
    const bar = row.querySelector('[data-field="rebuild"] progress');
    bar.hidden = false;
    bar.value = Number(r.percent);
    const text = row.querySelector(".rebuild-text");
    text.textContent = describeRebuild(r);
    text.title = r.error || "";
    text.className = `rebuild-text rebuild-${r.state}`;
    row.querySelector('button[data-action="cancel"]').hidden = r.state !== "running";
    syncRebuildButton(row);
    if (FINAL.has(r.state)) rebuildEnded(r.projection);
  }

  async function startRebuild(name) {
    const started = await admin("POST", `/admin/projections/${encodeURIComponent(name)}/rebuild`);
    if (!started) return;
    applyRebuild(started);
    // The stream may have told the end already (a small model); then there is no news.
    if (rebuilds.get(name).state === "running") {
      showNotice(`Rebuilding ${name} into ${started.target}.`, name);
    }
  }

  async function cancelRebuild(name) {
    const cancelled = await admin("DELETE", `/admin/projections/${encodeURIComponent(name)}/rebuild`);
    if (!cancelled) return;
    applyRebuild(cancelled);
    if (rebuilds.get(name).state === "running") showNotice(`Cancelling the rebuild of ${name}.`, name);
  }

  // ---- dead letters ------------------------------------------------------------

  const letterRows = document.querySelector("#dead-letters tbody");
  let letterCounts = null;

  function seeLetterCounts(projections) {
    const counts = projections.map((p) => `${p.name}=${p.dead_letters}`).join(",");
    if (counts === letterCounts) return;
    letterCounts = counts;
    loadLetters();
  }

  async function loadLetters() {
    if (!token()) return renderLetters(null);
    try {
      const answer = await apiCall("GET", "/admin/dead-letters", { token: token() });
      renderLetters(answer.dead_letters);
    } catch (error) {
      renderLetters(null, `Could not list dead letters: ${error.message}`);
    }
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = String(text);
    if (className) td.className = className;
    return td;
  }

  function letterButton(label, aria, title, action) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = label;
    button.title = title;
    button.setAttribute("aria-label", aria);
    button.addEventListener("click", async () => {
      button.disabled = true;
      await action();
      button.disabled = false;
    });
    return button;
  }

  function renderLetters(letters, problem) {
    const state = $("dead-letters-state");
    if (letters === null) {
      letterRows.replaceChildren();
      state.textContent = problem || "Save an admin token to see parked events.";
      state.classList.toggle("alert", Boolean(problem));
      return;
    }
    state.classList.remove("alert");
    state.textContent = letters.length ? `${letters.length} parked event(s).` : "No parked events.";
    letterRows.replaceChildren(
      ...letters.map((letter) => {
        const row = document.createElement("tr");
        row.className = "parked";
        row.dataset.projection = letter.projection;
        row.dataset.position = String(letter.position);
        row.dataset.aggregate = letter.aggregate_id;
        const th = document.createElement("th");
        th.scope = "row";
        th.textContent = letter.projection;
        const error = cell(letter.error, "error");
        const actions = document.createElement("td");
        actions.className = "actions";
        const where = `${letter.projection} at ${letter.position}`;
        actions.append(
          letterButton(
            "Retry",
            `Retry ${where}`,
            "Apply every parked event of this aggregate again, in order",
            () => retryLetter(letter)
          ),
          letterButton("Skip", `Skip ${where}`, "Drop this event without applying it", () =>
            skipLetter(letter)
          )
        );
        row.append(
          th,
          cell(letter.position, "num"),
          cell(letter.aggregate_id),
          cell(letter.event_type),
          cell(new Date(letter.parked_at).toLocaleString()),
          error,
          actions
        );
        return row;
      })
    );
  }

  async function retryLetter(letter) {
    const path = `/admin/dead-letters/${encodeURIComponent(letter.projection)}/${encodeURIComponent(letter.aggregate_id)}/retry`;
    const done = await admin("POST", path);
    if (done) showNotice(`Applied ${done.applied} parked event(s) of ${done.aggregate_id} to ${done.projection}.`);
    await loadLetters();
  }

  async function skipLetter(letter) {
    const path = `/admin/dead-letters/${encodeURIComponent(letter.projection)}/${letter.position}/skip`;
    const done = await admin("POST", path);
    if (done) showNotice(`Skipped position ${done.position} of ${done.projection}.`);
    await loadLetters();
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

  const stream = liveStream("/stream/progress", $("stream-state"));
  stream.addEventListener("progress", (event) => applyProgress(JSON.parse(event.data)));
  stream.addEventListener("rebuild", (event) => applyRebuild(JSON.parse(event.data)));

  for (const row of rows.values()) rebuildControls(row);
  renderTokenState();
  seeHead(Number($("head").textContent));
  poll();
  setInterval(poll, STATUS_EVERY_MS);
})();
