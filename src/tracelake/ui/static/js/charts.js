// Small SVG time charts (bars or lines), drawn with DOM APIs: no library, no HTML strings.
// Every mark carries a <title> (hover text) and data-value, so the numbers can be read and tested.
import { h, svg } from "./dom.js";
import { formatTime } from "./format.js";

const WIDTH = 480;
const HEIGHT = 200;
const PAD = { left: 62, right: 12, top: 10, bottom: 26 };
export const PALETTE = ["var(--c1)", "var(--c2)", "var(--c3)", "var(--c4)", "var(--c5)", "var(--c6)"];

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function shortTime(ms, spanMs) {
  const date = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  if (spanMs > 3 * 86_400_000) return `${date.getMonth() + 1}/${date.getDate()}`;
  return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/**
 * A time chart. `series`: [{name, points: [{x: ms, y: number|null}]}]; `kind`: "bar" or "line";
 * `start`/`end`: the x range in ms; `bucketMs`: bar width; `format`: y value → text.
 */
export function timeChart({ title, series, kind = "line", start, end, bucketMs, format = String, id }) {
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const values = series.flatMap((s) => s.points.map((p) => p.y)).filter((y) => y !== null && y !== undefined);
  const yMax = niceMax(Math.max(0, ...values));
  const span = Math.max(1, end - start);
  const x = (ms) => PAD.left + ((ms - start) / span) * plotW;
  const y = (v) => PAD.top + plotH - (v / yMax) * plotH;
  const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "chart", role: "img", "aria-label": title });
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    root.append(svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v), class: "grid" }),
      svg("text", { x: PAD.left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end", text: format(v) }));
  }
  for (let i = 0; i <= 4; i++) {
    const ms = start + (span * i) / 4;
    root.append(svg("text", { x: x(ms), y: HEIGHT - 6, class: "axis", "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle",
      text: shortTime(ms, span) }));
  }
  series.forEach((s, index) => {
    const color = s.color || PALETTE[index % PALETTE.length];
    const points = s.points.filter((p) => p.y !== null && p.y !== undefined).sort((a, b) => a.x - b.x);
    if (kind === "bar") {
      const barW = Math.max(1, (bucketMs / span) * plotW - 1);
      for (const p of points) {
        const left = Math.max(PAD.left, x(p.x));
        root.append(svg("rect", { x: left, y: y(p.y), width: Math.min(barW, WIDTH - PAD.right - left), height: Math.max(0, PAD.top + plotH - y(p.y)),
          fill: color, class: "mark", "data-value": p.y, "data-x": p.x },
        svg("title", { text: `${formatTime(p.x)} · ${s.name}: ${format(p.y)}` })));
      }
    } else {
      const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.x + bucketMs / 2).toFixed(1)},${y(p.y).toFixed(1)}`).join(" ");
      if (d) root.append(svg("path", { d, fill: "none", stroke: color, "stroke-width": 2 }));
      for (const p of points) {
        root.append(svg("circle", { cx: x(p.x + bucketMs / 2), cy: y(p.y), r: 3, fill: color, class: "mark", "data-value": p.y, "data-x": p.x },
          svg("title", { text: `${formatTime(p.x)} · ${s.name}: ${format(p.y)}` })));
      }
    }
  });
  const legend = series.length > 1 || kind === "line"
    ? h("div", { class: "legend" }, series.map((s, index) => h("span", { class: "legend-item" },
      swatch(s.color || PALETTE[index % PALETTE.length]), s.name)))
    : null;
  const figure = h("figure", { class: "chart-card", attrs: { id } }, h("figcaption", { text: title }), root, legend);
  if (!values.length) figure.append(h("div", { class: "muted chart-empty", text: "no data in this range" }));
  return figure;
}

function swatch(color) {
  const mark = svg("svg", { width: 10, height: 10, class: "swatch" }, svg("rect", { width: 10, height: 10, fill: color }));
  return mark;
}
