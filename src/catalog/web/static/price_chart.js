// A product's price history drawn as inline SVG: a step line (a price holds until the
// next change), carried on to now, with the lowest and highest price and the first date.
"use strict";

const priceChart = (function () {
  const SVG = "http://www.w3.org/2000/svg";
  const WIDTH = 640;
  const HEIGHT = 180;
  const PAD = { left: 80, right: 12, top: 14, bottom: 28 };

  function el(name, attributes, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Draws `points` ([{at, price}], oldest first) into the <svg> `chart`.
  function draw(chart, points, now) {
    if (points.length === 0) {
      chart.replaceChildren();
      return;
    }
    const times = points.map((p) => Date.parse(p.at));
    const prices = points.map((p) => Number(p.price));
    const start = times[0];
    const end = Math.max(now, times[times.length - 1]) || start + 1;
    let low = Math.min(...prices);
    let high = Math.max(...prices);
    if (high === low) {
      low = low * 0.9;
      high = high * 1.1 || 1;
    }
    const x = (t) => PAD.left + ((t - start) / Math.max(1, end - start)) * (WIDTH - PAD.left - PAD.right);
    const y = (p) => HEIGHT - PAD.bottom - ((p - low) / (high - low)) * (HEIGHT - PAD.top - PAD.bottom);
    const steps = [];
    prices.forEach((price, i) => {
      if (i > 0) steps.push(`${x(times[i]).toFixed(1)},${y(prices[i - 1]).toFixed(1)}`);
      steps.push(`${x(times[i]).toFixed(1)},${y(price).toFixed(1)}`);
    });
    steps.push(`${x(end).toFixed(1)},${y(prices[prices.length - 1]).toFixed(1)}`);
    const nodes = [];
    for (const value of new Set([Math.min(...prices), Math.max(...prices)])) {
      nodes.push(el("line", { class: "gridline", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value) }));
      nodes.push(el("text", { class: "axis", x: 0, y: y(value) + 5 }, value.toFixed(2)));
    }
    const first = new Date(start).toISOString().slice(0, 10);
    nodes.push(el("text", { class: "axis", x: PAD.left, y: HEIGHT - 6 }, first));
    nodes.push(el("text", { class: "axis", x: WIDTH - PAD.right, y: HEIGHT - 6, "text-anchor": "end" }, "now"));
    nodes.push(el("polyline", { class: "line", points: steps.join(" ") }));
    points.forEach((point, i) => {
      const dot = el("circle", { class: "dot", cx: x(times[i]), cy: y(prices[i]), r: 3 });
      dot.append(el("title", {}, `${point.price} on ${point.at.slice(0, 10)}`));
      nodes.push(dot);
    });
    chart.replaceChildren(...nodes);
    chart.dataset.points = String(points.length);
  }

  return { draw };
})();
