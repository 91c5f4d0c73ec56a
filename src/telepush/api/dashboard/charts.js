// The overview's two SVG charts (throughput per minute, queue depth), drawn by hand: axes,
// grid, time labels, bars, lines, hover titles and their legends.
import { $, el, svg } from "./dom.js";
import { fmtTime, num, pad } from "./format.js";

const COLORS = {
  delivered: "#16a34a",
  failed: "#dc2626",
  pending: "#2563eb",
  sending: "#7c3aed",
  superseded: "#94a3b8",
  failures: "#f59e0b",
};

function legend(id, entries) {
  $(id).replaceChildren(
    ...entries.map(([label, color, line]) =>
      el(
        "span",
        { class: "legend-item" },
        svg(
          "svg",
          { width: 14, height: 10, "aria-hidden": "true" },
          line
            ? svg("line", { x1: 0, y1: 5, x2: 14, y2: 5, stroke: color, "stroke-width": 2.5 })
            : svg("rect", { x: 1, y: 0, width: 12, height: 10, rx: 2, fill: color }),
        ),
        label,
      ),
    ),
  );
}

function niceStep(raw) {
  if (raw <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const f = raw / power;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power;
}

// A chart frame: axes, grid and time labels; returns scales and the <svg> to draw in.
function frame(container, xMin, xMax, yTop) {
  const width = Math.max(container.clientWidth || 0, 280);
  const height = 200;
  const m = { left: 40, right: 10, top: 10, bottom: 22 };
  const step = niceStep(Math.max(yTop, 1) / 4);
  const yMax = Math.max(step * Math.ceil(Math.max(yTop, 1) / step), step);
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const x = (t) => m.left + ((t - xMin) / Math.max(xMax - xMin, 1)) * pw;
  const y = (v) => m.top + ph - (v / yMax) * ph;
  const root = svg("svg", {
    class: "chart-svg",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
  });
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    root.append(
      svg("line", { class: "grid-line", x1: m.left, x2: width - m.right, y1: y(v), y2: y(v) }),
      svg("text", { class: "axis-label", x: m.left - 6, y: y(v) + 4, "text-anchor": "end" },
        num(v)),
    );
  }
  const spanMin = (xMax - xMin) / 60000;
  const every = [1, 2, 5, 10, 15, 30, 60, 120].find((k) => spanMin / k <= pw / 70) || 240;
  const first = Math.ceil(xMin / (every * 60000)) * every * 60000;
  for (let t = first; t <= xMax; t += every * 60000) {
    const d = new Date(t);
    root.append(
      svg("line", { class: "tick", x1: x(t), x2: x(t), y1: m.top + ph, y2: m.top + ph + 4 }),
      svg("text", { class: "axis-label", x: x(t), y: height - 6, "text-anchor": "middle" },
        `${pad(d.getHours())}:${pad(d.getMinutes())}`),
    );
  }
  root.append(svg("line", { class: "axis", x1: m.left, x2: width - m.right, y1: y(0), y2: y(0) }));
  return { root, x, y, m, pw, ph, width, height };
}

function emptyNote(f, text) {
  f.root.append(
    svg("text", {
      class: "chart-note",
      x: f.m.left + f.pw / 2,
      y: f.m.top + f.ph / 2,
      "text-anchor": "middle",
    }, text),
  );
}

// Both charts of the overview for the last `minutes` minutes, up to now: `data` is what
// /v1/stats/history answered, `live` the counts just read (the depth chart's right edge).
export function drawCharts({ data, live, minutes }) {
  const nowMinute = Math.floor(Date.now() / 60000);
  const firstMinute = nowMinute - minutes + 1;
  const xMin = firstMinute * 60000;
  const xMax = (nowMinute + 1) * 60000;
  drawThroughput(data, { firstMinute, nowMinute, xMin, xMax });
  drawDepth(data, live, { xMin, xMax });
}

// Throughput: stacked bars of delivered and failed per minute, failed attempts as a line.
function drawThroughput(data, { firstMinute, nowMinute, xMin, xMax }) {
  const byMinute = new Map();
  for (const row of data.minutes || []) {
    byMinute.set(Math.floor(new Date(row.minute).getTime() / 60000), row);
  }
  const rows = [];
  for (let k = firstMinute; k <= nowMinute; k += 1) {
    const r = byMinute.get(k) || {};
    rows.push({ k, delivered: r.delivered || 0, failed: r.failed || 0,
      failures: r.failures || 0, attempts: r.attempts || 0, retried: r.retried || 0 });
  }
  const top = Math.max(1, ...rows.map((r) => Math.max(r.delivered + r.failed, r.failures)));
  const tp = frame($("chart-throughput"), xMin, xMax, top);
  const slot = tp.pw / rows.length;
  const barW = Math.max(1, slot - (slot > 4 ? Math.min(2, slot * 0.2) : 0));
  let total = 0;
  const attemptLine = [];
  for (const r of rows) {
    const x0 = tp.x(r.k * 60000) + (slot - barW) / 2;
    total += r.delivered + r.failed + r.failures;
    if (r.delivered) {
      tp.root.append(svg("rect", { x: x0, width: barW, y: tp.y(r.delivered),
        height: tp.y(0) - tp.y(r.delivered), fill: COLORS.delivered, class: "bar" }));
    }
    if (r.failed) {
      tp.root.append(svg("rect", { x: x0, width: barW, y: tp.y(r.delivered + r.failed),
        height: tp.y(r.delivered) - tp.y(r.delivered + r.failed), fill: COLORS.failed,
        class: "bar" }));
    }
    attemptLine.push([tp.x(r.k * 60000) + slot / 2, tp.y(r.failures), r.failures]);
  }
  // Failed attempts: drawn where there are some (rising from and falling back to zero),
  // not as a line along the axis all the quiet hour long.
  const at = ([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`;
  let trail = "";
  let open = false; // the path currently ends at the previous point
  attemptLine.forEach((point, i) => {
    const prev = attemptLine[i - 1];
    if (prev && (point[2] || prev[2])) {
      trail += `${open ? "" : `M${at(prev)}`}L${at(point)}`;
      open = true;
    } else {
      open = false;
    }
  });
  if (trail) {
    tp.root.append(svg("path", { class: "series", stroke: COLORS.failures, d: trail }));
  }
  for (const [px, py, n] of attemptLine) {
    if (n) tp.root.append(svg("circle", { cx: px, cy: py, r: 2.5, fill: COLORS.failures }));
  }
  for (const r of rows) {
    const d = new Date(r.k * 60000);
    tp.root.append(svg("rect", { class: "hit", x: tp.x(r.k * 60000), width: slot,
      y: tp.m.top, height: tp.ph },
      svg("title", {}, `${pad(d.getHours())}:${pad(d.getMinutes())} — delivered ${r.delivered}`
        + `, failed ${r.failed}, failed attempts ${r.failures}, attempts ${r.attempts}`)));
  }
  if (!total) emptyNote(tp, "no deliveries in this window");
  $("chart-throughput").replaceChildren(tp.root);
  legend("legend-throughput", [
    ["delivered", COLORS.delivered],
    ["failed (gave up)", COLORS.failed],
    ["failed attempts", COLORS.failures, true],
  ]);
}

// Queue depth: pending, sending and failed over time.
function drawDepth(data, live, { xMin, xMax }) {
  const points = [...(data.depth || []), ...live]
    .map((p) => ({ ...p, t: new Date(p.at).getTime() }))
    .filter((p) => p.t >= xMin - 60000)
    .sort((a, b) => a.t - b.t);
  const series = ["pending", "sending", "failed"];
  const dTop = Math.max(1, ...points.flatMap((p) => series.map((s) => p[s] || 0)));
  const dp = frame($("chart-depth"), xMin, xMax, dTop);
  const clampX = (t) => dp.x(Math.min(Math.max(t, xMin), xMax));
  for (const s of series) {
    if (!points.length) break;
    const path = points.map((p, i) => `${i ? "L" : "M"}${clampX(p.t).toFixed(1)},`
      + `${dp.y(p[s] || 0).toFixed(1)}`);
    if (s === "pending" && points.length > 1) {
      const area = `${path.join("")}L${clampX(points.at(-1).t).toFixed(1)},${dp.y(0)}`
        + `L${clampX(points[0].t).toFixed(1)},${dp.y(0)}Z`;
      dp.root.append(svg("path", { class: "area", fill: COLORS.pending, d: area }));
    }
    dp.root.append(svg("path", { class: "series", stroke: COLORS[s], d: path.join("") }));
    if (points.length === 1) {
      dp.root.append(svg("circle", { cx: clampX(points[0].t), cy: dp.y(points[0][s] || 0),
        r: 3, fill: COLORS[s] }));
    }
  }
  points.forEach((p, i) => {
    const left = i ? (clampX(points[i - 1].t) + clampX(p.t)) / 2 : dp.m.left;
    const right = i < points.length - 1 ? (clampX(p.t) + clampX(points[i + 1].t)) / 2
      : dp.m.left + dp.pw;
    dp.root.append(svg("rect", { class: "hit", x: left, width: Math.max(right - left, 1),
      y: dp.m.top, height: dp.ph },
      svg("title", {}, `${p.live ? "now" : fmtTime(p.at)} — pending ${p.pending || 0}, sending `
        + `${p.sending || 0}, failed ${p.failed || 0}`)));
  });
  if (!points.length) emptyNote(dp, "no samples in this window yet");
  $("chart-depth").replaceChildren(dp.root);
  const now = points.at(-1) || {};
  legend("legend-depth", [
    [`pending ${num(now.pending || 0)}`, COLORS.pending, true],
    [`sending ${num(now.sending || 0)}`, COLORS.sending, true],
    [`failed ${num(now.failed || 0)}`, COLORS.failed, true],
  ]);
}
