// The overview: a tile per delivery status (a click shows them in the delivery log) and the
// charts of the last minutes.
import { api, query, report } from "./api.js";
import { drawCharts } from "./charts.js";
import { clearFilters, loadDeliveries } from "./deliveries.js";
import { $, el } from "./dom.js";
import { num } from "./format.js";

const STATUSES = ["pending", "sending", "delivered", "failed", "superseded"];
let lastHistory = null; // what the charts show: drawn again when the window is resized

export async function loadOverview() {
  const minutes = Number($("history-minutes").value);
  const [stats, history] = await Promise.allSettled([
    api("GET", "/v1/stats"),
    api("GET", `/v1/stats/history${query({ minutes })}`),
  ]);
  if (stats.status === "fulfilled") renderTiles(stats.value.deliveries || {});
  else report(stats.reason);
  if (history.status === "fulfilled") {
    // The counts just read are the chart's right edge: it shows "now" between samples.
    const live = stats.status === "fulfilled"
      ? [{ ...stats.value.deliveries, at: new Date().toISOString(), live: true }] : [];
    lastHistory = { data: history.value, live, minutes };
    renderCharts();
  } else {
    lastHistory = null;
    const why = history.reason ? history.reason.message : "unavailable";
    for (const id of ["chart-throughput", "chart-depth"]) {
      $(id).replaceChildren(el("p", { class: "chart-empty", text: `No history: ${why}` }));
    }
    if (history.reason && history.reason.status !== 404) report(history.reason);
  }
}

function renderTiles(counts) {
  const tiles = STATUSES.map((status) =>
    el(
      "button",
      {
        type: "button",
        class: `tile tile-${status}`,
        "data-testid": `stat-${status}`,
        "data-status": status,
        title: `Show ${status} deliveries in the delivery log`,
        onclick: () => {
          clearFilters();
          $("filter-status").value = status;
          loadDeliveries(true);
          $("deliveries").scrollIntoView({ behavior: "smooth" });
        },
      },
      el("span", { class: "tile-value", text: num(counts[status] || 0) }),
      el("span", { class: "tile-label", text: status }),
    ),
  );
  $("tiles").replaceChildren(...tiles);
}

// Draw the charts again (the page was resized).
export function renderCharts() {
  if (lastHistory) drawCharts(lastHistory);
}

// Forget the figures shown (signing out).
export function resetOverview() {
  lastHistory = null;
}
