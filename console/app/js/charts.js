// Small SVG charts: a bar chart (stacked, negatives below the axis) and a line
// chart, both with axes, labels, a legend, and a <title> tooltip per point.
// No library, nothing fetched; colours come from CSS classes (series-0 … 3).

import { h } from "./dom.js";
import { num, shortDate } from "./format.js";

const NS = "http://www.w3.org/2000/svg";
/** Drawing width: narrower on phones so that the labels stay readable. */
const chartWidth = () => Math.min(640, Math.max(340, window.innerWidth - 40));
let WIDTH = 640;
const HEIGHT = 240;
const PAD = { top: 12, right: 12, bottom: 28, left: 52 };

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) if (child) node.append(child);
  return node;
}

function tooltip(text) {
  const title = svg("title");
  title.textContent = text;
  return title;
}

/** Round numbers for an axis covering [min, max]: about 4 steps. */
function ticks(min, max) {
  if (min === max) max = min + 1;
  const raw = (max - min) / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  // Every figure is a whole number, so no step below 1 (and no 2.5 × 10^0).
  const step = Math.max(1, [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw && (s >= 10 || Number.isInteger(s))));
  const start = Math.floor(min / step) * step;
  const values = [];
  for (let v = start; v <= max + step * 0.001; v += step) values.push(Math.round(v * 1e6) / 1e6);
  if (values[values.length - 1] < max) values.push(values[values.length - 1] + step);
  return values;
}

function frame(labels, low, high, description) {
  WIDTH = chartWidth();
  const axis = ticks(Math.min(0, low), Math.max(high, 1));
  const bottom = axis[0];
  const top = axis[axis.length - 1];
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const y = (v) => PAD.top + plotH - ((v - bottom) / (top - bottom)) * plotH;
  const slot = plotW / labels.length;
  const x = (i) => PAD.left + slot * i + slot / 2;
  const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "chart", role: "img", "aria-label": description });
  for (const value of axis) {
    root.append(svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value), class: value === 0 ? "axis" : "grid" }));
    const label = svg("text", { x: PAD.left - 6, y: y(value) + 4, class: "tick", "text-anchor": "end" });
    label.textContent = num(value);
    root.append(label);
  }
  const every = Math.max(1, Math.ceil(labels.length / (WIDTH < 500 ? 5 : 8)));
  labels.forEach((date, i) => {
    if ((labels.length - 1 - i) % every !== 0) return;
    const label = svg("text", { x: x(i), y: HEIGHT - 8, class: "tick", "text-anchor": "middle" });
    label.textContent = shortDate(date);
    root.append(label);
  });
  return { root, x, y, slot };
}

function legend(series) {
  return h("ul", { class: "legend" }, series.map((s, i) =>
    h("li", {}, h("span", { class: `swatch series-${s.color ?? i}`, "aria-hidden": "true" }), s.name)));
}

/**
 * Stacked bars per day. `dates`: ["2026-11-01", …]; `series`: [{ name, values }].
 * Positive values stack up from 0, negative ones down.
 */
export function barChart(title, dates, series, description = title) {
  const sums = dates.map((_, i) => series.reduce(([lo, hi], s) =>
    s.values[i] >= 0 ? [lo, hi + s.values[i]] : [lo + s.values[i], hi], [0, 0]));
  const { root, x, y, slot } = frame(dates, Math.min(...sums.map((s) => s[0])), Math.max(...sums.map((s) => s[1])), description);
  const width = Math.max(2, slot * 0.7);
  dates.forEach((date, i) => {
    let up = 0;
    let down = 0;
    series.forEach((s, k) => {
      const value = s.values[i];
      if (!value) return;
      const from = value >= 0 ? up : down;
      const to = from + value;
      if (value >= 0) up = to; else down = to;
      root.append(svg("rect", {
        x: x(i) - width / 2, width, y: Math.min(y(from), y(to)), height: Math.max(1, Math.abs(y(from) - y(to))),
        class: `bar series-${s.color ?? k}`,
      }, tooltip(`${shortDate(date)} · ${s.name}: ${num(value)}`)));
    });
  });
  return figure(title, root, series);
}

/** One line per series over the days; a dot per point carries its tooltip. */
export function lineChart(title, dates, series, description = title) {
  const all = series.flatMap((s) => s.values);
  const { root, x, y } = frame(dates, Math.min(...all), Math.max(...all), description);
  series.forEach((s, k) => {
    const points = s.values.map((v, i) => `${x(i)},${y(v)}`).join(" ");
    root.append(svg("polyline", { points, class: `line series-${s.color ?? k}` }));
    s.values.forEach((v, i) => root.append(svg("circle", { cx: x(i), cy: y(v), r: 3.5, class: `dot series-${s.color ?? k}` },
      tooltip(`${shortDate(dates[i])} · ${s.name}: ${num(v)}`))));
  });
  return figure(title, root, series);
}

function figure(title, chart, series) {
  return h("figure", { class: "chart-card" }, h("figcaption", {}, title), chart, legend(series));
}
