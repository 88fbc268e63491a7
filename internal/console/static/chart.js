// Line charts drawn as inline SVG: one value per minute of the last hour.
import { el } from "./util.js";

const NS = "http://www.w3.org/2000/svg";
const W = 300, H = 110, L = 44, R = 6, T = 8, B = 16;

function svg(tag, attrs) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

// lineChart returns a figure with a title, the chart and its legend.
// lines: [{name, values (numbers or null)}]; fmt formats a y value.
export function lineChart(title, lines, fmt) {
  const all = lines.flatMap((l) => l.values).filter((v) => typeof v === "number");
  const top = Math.max(1, ...all);
  const n = Math.max(1, ...lines.map((l) => l.values.length));
  const x = (i) => L + ((W - L - R) * i) / Math.max(1, n - 1);
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const last = lines.map((l) => l.name + " " + fmt(lastValue(l.values))).join(", ");
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${title}, last hour; latest minute: ${last}; peak ${fmt(top)}` });
  s.append(svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
  s.append(svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
  const lbl = (tx, ty, text, anchor) => {
    const t = svg("text", { class: "lbl", x: tx, y: ty, "text-anchor": anchor });
    t.textContent = text;
    s.append(t);
  };
  lbl(L - 3, T + 7, fmt(top), "end");
  lbl(L - 3, H - B, "0", "end");
  lbl(L, H - 3, "-60 min", "start");
  lbl(W - R, H - 3, "now", "end");
  lines.forEach((l, k) => {
    const cls = "s" + (l.cls ?? k);
    let pts = [];
    const flush = () => {
      if (pts.length === 1) {
        // A lone minute: a dot, as a line needs two.
        const [cx, cy] = pts[0];
        s.append(svg("circle", { class: cls + " dot", cx, cy, r: 2 }));
      } else if (pts.length) {
        s.append(svg("polyline", { class: cls, points: pts.map((p) => p.join(",")).join(" ") }));
      }
      pts = [];
    };
    l.values.forEach((v, i) => {
      if (typeof v === "number") pts.push([x(i).toFixed(1), y(v).toFixed(1)]);
      else flush();
    });
    flush();
  });
  const legend = el("div", { class: "legend", "aria-hidden": "true" },
    lines.map((l, k) => el("span", { class: "l" + (l.cls ?? k), text: l.name })));
  return el("figure", { class: "chart" }, el("h3", { text: title }), s, legend);
}

function lastValue(vs) {
  for (let i = vs.length - 1; i >= 0; i--) if (typeof vs[i] === "number") return vs[i];
  return 0;
}
