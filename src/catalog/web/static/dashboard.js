// Sales dashboard: revenue by day (an SVG bar chart), by category and the top products,
// from GET /analytics/sales; read again, at the announced version, whenever
// /stream/progress says the sales analytics projection moved on.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const PROJECTION = "sales_analytics";
  const DAYS = Number(document.currentScript.dataset.days) || 30;
  const TOP = 8;
  const SETTLE_MS = 200;

  let wanted = 0; // the latest checkpoint the stream announced
  let shown = 0; // the version the figures on the page reflect
  let loading = null;
  let timer = null;
  let drawn = null; // the days and rows the chart shows, to draw again at another width

  // ---- reading ------------------------------------------------------------------

  function dayText(date) {
    return date.toISOString().slice(0, 10);
  }

  function lastDays() {
    const today = new Date();
    const days = [];
    for (let back = DAYS - 1; back >= 0; back--) {
      days.push(dayText(new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - back))));
    }
    return days;
  }

  async function report(groupBy, extra) {
    const query = new URLSearchParams({ group_by: groupBy, ...extra });
    if (wanted) {
      query.set("min_version", String(wanted));
      query.set("wait_ms", "5000");
    }
    const response = await fetch(`/analytics/sales?${query}`, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, body);
    return { rows: body.rows, version: Number(response.headers.get("X-Read-Version")) || 0 };
  }

  async function load() {
    const days = lastDays();
    const [byDay, byCategory, byProduct] = await Promise.all([
      report("day", { from: days[0], to: days[days.length - 1] }),
      report("category", {}),
      report("product", {}),
    ]);
    const version = Math.min(byDay.version, byCategory.version, byProduct.version);
    if (version < shown) return; // an older answer than the one shown
    shown = version;
    drawn = { days, rows: byDay.rows };
    renderTotals(byDay.rows);
    renderDays(days, byDay.rows);
    renderBars($("categories"), byCategory.rows);
    renderBars($("products"), byProduct.rows);
    $("read-version").textContent = String(version);
    $("dash-error").hidden = true;
  }

  // One read at a time; announcements during a read are read once it is done.
  async function refresh() {
    if (loading) return loading;
    loading = (async () => {
      try {
        let target;
        do {
          target = wanted;
          await load();
        } while (wanted > target);
      } catch (error) {
        $("dash-error").textContent = `Could not read the sales figures: ${error.message}`;
        $("dash-error").hidden = false;
      } finally {
        loading = null;
      }
    })();
    return loading;
  }

  function announce(checkpoint) {
    if (checkpoint <= wanted) return;
    wanted = checkpoint;
    clearTimeout(timer);
    timer = setTimeout(refresh, SETTLE_MS);
  }

  // ---- drawing ------------------------------------------------------------------

  function money(value) {
    return Number(value).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  function renderTotals(rows) {
    let revenue = 0;
    let orders = 0;
    let units = 0;
    for (const row of rows) {
      revenue += Number(row.revenue);
      orders += row.orders;
      units += row.units;
    }
    $("total-revenue").textContent = money(revenue);
    $("total-orders").textContent = String(orders);
    $("total-units").textContent = String(units);
  }

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceStep(value) {
    const magnitude = 10 ** Math.floor(Math.log10(value));
    for (const factor of [1, 2, 5]) if (value <= factor * magnitude) return factor * magnitude;
    return 10 * magnitude;
  }

  // Drawn at the chart's own width in pixels, so its text stays readable on a phone.
  function renderDays(days, rows) {
    const chart = $("days-chart");
    const width = Math.max(280, Math.round(chart.getBoundingClientRect().width) || 800);
    const height = 220;
    chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const pad = { left: 56, right: 8, top: 12, bottom: 26 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const revenue = new Map(rows.map((row) => [row.key, Number(row.revenue)]));
    const peak = Math.max(0, ...revenue.values());
    const step = niceStep(Math.max(peak, 4) / 4);
    const max = step * 4;
    const slot = plotW / days.length;
    const y = (v) => pad.top + plotH * (1 - v / max);
    const nodes = [];
    for (let i = 0; i <= 4; i++) {
      const value = (max * i) / 4;
      nodes.push(el("line", { x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value), class: "gridline" }));
      nodes.push(el("text", { x: pad.left - 6, y: y(value) + 4, "text-anchor": "end", class: "axis" }, String(value)));
    }
    days.forEach((day, index) => {
      const value = revenue.get(day) || 0;
      const x = pad.left + index * slot;
      const bar = el("rect", {
        x: (x + slot * 0.15).toFixed(1),
        y: y(value).toFixed(1),
        width: (slot * 0.7).toFixed(1),
        height: (pad.top + plotH - y(value)).toFixed(1),
        class: "bar",
        "data-day": day,
        "data-revenue": value.toFixed(2),
      });
      bar.append(el("title", {}, `${day}: ${money(value)}`));
      nodes.push(bar);
      if (index % 7 === (days.length - 1) % 7) {
        const last = index === days.length - 1; // ends at the edge rather than past it
        const at = { x: last ? x + slot : x + slot / 2, "text-anchor": last ? "end" : "middle" };
        nodes.push(el("text", { ...at, y: height - 8, class: "axis" }, day.slice(5)));
      }
    });
    chart.replaceChildren(...nodes);
  }

  function renderBars(list, rows) {
    const top = rows.slice(0, TOP);
    const peak = Math.max(0, ...top.map((row) => Number(row.revenue)));
    list.replaceChildren(
      ...top.map((row) => {
        const item = document.createElement("li");
        item.dataset.key = row.key;
        item.dataset.revenue = row.revenue;
        const name = document.createElement("span");
        name.className = "bar-name";
        name.textContent = row.name;
        name.title = row.name;
        const figures = document.createElement("span");
        figures.className = "bar-figures";
        figures.textContent = `${money(row.revenue)} · ${row.units} unit${row.units === 1 ? "" : "s"}`;
        const track = document.createElement("span");
        track.className = "bar-track";
        const fill = document.createElement("span");
        fill.className = "bar-fill";
        fill.style.width = `${peak ? (100 * Number(row.revenue)) / peak : 0}%`;
        track.append(fill);
        item.append(name, figures, track);
        return item;
      })
    );
    document.querySelector(`.empty[data-for="${list.id}"]`).hidden = top.length > 0;
  }

  // ---- feed ---------------------------------------------------------------------

  const stream = liveStream("/stream/progress", $("live-state"));
  stream.addEventListener("progress", (event) => {
    const progress = JSON.parse(event.data);
    if (progress.projection === PROJECTION) announce(Number(progress.checkpoint));
  });

  let width = window.innerWidth;
  window.addEventListener("resize", () => {
    if (!drawn || window.innerWidth === width) return;
    width = window.innerWidth;
    renderDays(drawn.days, drawn.rows);
  });

  refresh();
})();
