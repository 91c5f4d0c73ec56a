// telepush operator dashboard: plain JavaScript modules, no dependencies, no inline script
// (CSP). Every figure comes from the /v1 API, called with the operator's API token.
//
// This entry wires the sections together: signing in and out, the periodic refresh of the
// overview, endpoints and tasks, and the page's forms and buttons.
import { api, forgetToken, keepToken, onSignOut, signedIn, signOut } from "./api.js";
import { clearFilters, findDelivery, loadDeliveries } from "./deliveries.js";
import { $, busy } from "./dom.js";
import { loadEndpoints, stopTaskPolls } from "./endpoints.js";
import { fmtTime } from "./format.js";
import { loadOverview, renderCharts, resetOverview } from "./overview.js";
import { onRefresh } from "./refresh.js";
import { loadTasks } from "./tasks.js";

const REFRESH_MS = 5000;

// ---- session -----------------------------------------------------------------------------
let refreshTimer = null;
let ticking = false;

function showSignin(message) {
  $("app").hidden = true;
  $("nav").hidden = true;
  $("session").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  $("token").value = "";
  $("token").focus();
}

onSignOut((message, hadToken) => {
  const wasIn = hadToken || !$("app").hidden;
  clearTimeout(refreshTimer);
  stopTaskPolls();
  if (wasIn || message) {
    for (const id of ["tiles", "endpoint-rows", "delivery-rows", "task-rows"]) {
      $(id).replaceChildren();
    }
    resetOverview();
  }
  showSignin(message);
});

async function signIn(token) {
  keepToken(token);
  try {
    await api("GET", "/v1/stats");
  } catch (exc) {
    forgetToken();
    $("signin-error").textContent = exc.status === 401
      ? "That API token was refused: check TELEPUSH_API_TOKEN or the api-token file."
      : exc.message;
    return;
  }
  showApp();
}

function showApp() {
  $("signin").hidden = true;
  $("app").hidden = false;
  $("nav").hidden = false;
  $("session").hidden = false;
  tick();
  loadDeliveries(true);
}

// ---- refreshing --------------------------------------------------------------------------
function schedule() {
  clearTimeout(refreshTimer);
  if (signedIn() && $("auto-refresh").checked) refreshTimer = setTimeout(tick, REFRESH_MS);
}

async function tick() {
  if (!signedIn()) return;
  if (!ticking && !document.hidden) {
    ticking = true;
    try {
      await Promise.all([loadOverview(), loadEndpoints(), loadTasks()]);
      $("updated").textContent = `updated ${fmtTime(new Date().toISOString())}`;
    } finally {
      ticking = false;
    }
  }
  schedule();
}

onRefresh(({ deliveries }) => {
  tick();
  if (deliveries) loadDeliveries(true);
});

// ---- wiring ------------------------------------------------------------------------------
function init() {
  $("signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = $("token").value.trim();
    if (!token) return;
    const button = ev.currentTarget.querySelector("button[type=submit]");
    $("signin-error").textContent = "";
    busy(button, () => signIn(token));
  });
  $("signout").addEventListener("click", () => signOut("Signed out."));
  $("auto-refresh").addEventListener("change", () =>
    ($("auto-refresh").checked ? tick() : schedule()));
  $("history-minutes").addEventListener("change", () => loadOverview());
  $("endpoint-filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    loadEndpoints();
  });
  $("endpoint-window").addEventListener("change", () => loadEndpoints());
  $("delivery-filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    $("delivery-id").value = "";
    loadDeliveries(true);
  });
  $("filter-reset").addEventListener("click", () => {
    clearFilters();
    loadDeliveries(true);
  });
  $("delivery-search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const id = $("delivery-id").value.trim();
    if (id) findDelivery(id);
    else loadDeliveries(true);
  });
  $("load-more").addEventListener("click", (ev) =>
    busy(ev.currentTarget, () => loadDeliveries(false)));
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && signedIn()) tick();
  });
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(renderCharts, 150);
  });
  if (signedIn()) showApp();
  else showSignin("");
}

init();
