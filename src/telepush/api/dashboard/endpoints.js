// Endpoint health: a row per customer endpoint (state, failure streak, failure rate, latency,
// pending), pausing and resuming it, and re-queuing its failed deliveries while following the
// task's progress.
import { api, query, report } from "./api.js";
import { $, busy, el, toast, when } from "./dom.js";
import { fmtAgo, fmtMs, fmtTime, num } from "./format.js";
import { refresh } from "./refresh.js";
import { taskProgress } from "./tasks.js";

const TASK_POLL_MS = 1000;

const endpointKey = (e) => `${e.customerId}\u0000${e.service}`;
let endpoints = [];
const retryDialogs = new Map(); // key -> <tr> of the open "retry failed" form
const endpointTasks = new Map(); // key -> last known task started from this page
const taskPolls = new Map(); // taskId -> timer

const endpointPath = (customerId, service) =>
  `/v1/customers/${encodeURIComponent(customerId)}/push/${encodeURIComponent(service)}`;

// The endpoint as last read (whether it is paused, for the delivery log), or undefined.
export const findEndpoint = (customerId, service) =>
  endpoints.find((e) => e.customerId === customerId && e.service === service);

// Stop following the tasks started from this page (signing out).
export function stopTaskPolls() {
  for (const poll of taskPolls.values()) clearTimeout(poll);
  taskPolls.clear();
}

export async function loadEndpoints() {
  const params = {
    customer: $("endpoint-customer").value.trim(),
    windowMinutes: $("endpoint-window").value,
  };
  try {
    const data = await api("GET", `/v1/endpoints${query(params)}`);
    endpoints = (data.items || []).slice().sort((a, b) =>
      a.customerId.localeCompare(b.customerId) || a.service.localeCompare(b.service));
    renderEndpoints();
  } catch (exc) {
    if (exc.status === 401) return;
    $("endpoint-rows").replaceChildren(
      el("tr", { class: "empty" }, el("td", { colspan: 8, text: exc.message })),
    );
    if (exc.status !== 404) report(exc);
  }
}

function stateBadge(e) {
  let state = "running";
  let text = "running";
  if (e.paused === "manual") [state, text] = ["manual", "paused by hand"];
  else if (e.paused === "breaker") [state, text] = ["breaker", "paused by breaker"];
  else if (e.paused) [state, text] = [e.paused, `paused (${e.paused})`];
  else if (e.enabled === false) [state, text] = ["disabled", "disabled"];
  const notes = [];
  if (e.paused && e.pausedAt) notes.push(el("span", {}, "since ", when(e.pausedAt, fmtTime(e.pausedAt))));
  if (e.paused === "breaker" && e.probeAt) {
    notes.push(el("span", {}, "probe ", when(e.probeAt, fmtAgo(e.probeAt))));
  }
  if (e.paused && e.enabled === false) notes.push(el("span", { text: "service disabled" }));
  return [
    el("span", { class: `badge state-${state}`, "data-testid": "paused-badge",
      "data-state": state, text }),
    notes.length ? el("div", { class: "sub" }, ...notes) : null,
  ];
}

function rateCell(e) {
  if (e.failureRate === null || e.failureRate === undefined) {
    return el("span", { class: "muted", text: "no attempts" });
  }
  const pct = Math.round(e.failureRate * 1000) / 10;
  const level = pct >= 50 ? "bad" : pct > 5 ? "warn" : "good";
  const bar = el("span", { class: `meter-fill ${level}` });
  bar.style.width = `${Math.min(100, Math.max(pct, pct > 0 ? 2 : 0))}%`;
  return el("div", { class: "rate", title: `${num(e.failures)} failed of ${num(e.attempts)} attempts` },
    el("span", { class: "meter" }, bar),
    el("span", { class: `rate-text ${level}`, text: `${pct}%` }),
    el("span", { class: "muted small", text: ` of ${num(e.attempts)}` }));
}

function latencyCell(e) {
  const l = e.latencyMs || {};
  if (["p50", "p95", "p99"].every((p) => l[p] === null || l[p] === undefined)) {
    return el("span", { class: "muted", text: "—" });
  }
  const slow = (ms) => (ms >= 5000 ? "bad" : ms >= 1000 ? "warn" : "");
  return el("div", { class: "latency" },
    ...["p50", "p95", "p99"].map((p) =>
      el("span", { class: `lat ${slow(l[p])}`, title: p }, el("small", { text: p }), fmtMs(l[p]))));
}

function taskCell(key) {
  const task = endpointTasks.get(key);
  if (!task) return null;
  return taskProgress(task, true);
}

function endpointRow(e, row) {
  const key = endpointKey(e);
  const paused = Boolean(e.paused);
  const toggle = el("button", {
    type: "button",
    class: `btn small ${paused ? "go" : "warn"}`,
    "data-testid": paused ? "resume-button" : "pause-button",
    text: paused ? "Resume" : "Pause",
    title: paused ? "Send again (ends a manual or breaker pause)" : "Stop sending to this endpoint",
    onclick: (ev) => busy(ev.currentTarget, () => pauseOrResume(e, paused ? "resume" : "pause")),
  });
  const replay = el("button", {
    type: "button",
    class: "btn small",
    "data-testid": "retry-failed-button",
    text: "Retry failed…",
    title: "Put this endpoint's failed deliveries back in the queue",
    onclick: () => toggleRetryDialog(e),
  });
  const lastSuccess = el("div", {}, when(e.lastSuccessAt, fmtAgo(e.lastSuccessAt)));
  const t = (iso) => (iso ? new Date(iso).getTime() : 0);
  if (e.lastFailureAt && t(e.lastFailureAt) > t(e.lastSuccessAt)) {
    lastSuccess.append(el("div", { class: "sub bad" }, "last failure ",
      when(e.lastFailureAt, fmtAgo(e.lastFailureAt))));
  }
  const streak = e.consecutiveFailures || 0;
  row.className = `endpoint ${paused ? "is-paused" : ""}`;
  row.setAttribute("data-testid", "endpoint-row");
  row.dataset.customer = e.customerId;
  row.dataset.service = e.service;
  row.replaceChildren(
    el("td", {}, el("div", { class: "strong", text: e.customerId }),
      el("span", { class: "chip", text: e.service })),
    el("td", {}, ...stateBadge(e)),
    el("td", { class: `num ${streak ? "bad strong" : "muted"}`, "data-testid": "failure-streak",
      text: num(streak) }),
    el("td", {}, lastSuccess),
    el("td", {}, rateCell(e)),
    el("td", {}, latencyCell(e)),
    el("td", { class: `num ${e.pending ? "strong" : "muted"}`, text: num(e.pending) }),
    el("td", { class: "actions" }, el("div", { class: "btns" }, toggle, replay), taskCell(key)),
  );
  return row;
}

function renderEndpoints() {
  const body = $("endpoint-rows");
  if (!endpoints.length) {
    body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: 8,
      text: "No endpoints yet: configure a customer with PUT /v1/customers/{customerId}." })));
    return;
  }
  const existing = new Map();
  for (const row of body.querySelectorAll("tr.endpoint")) {
    existing.set(`${row.dataset.customer}\u0000${row.dataset.service}`, row);
  }
  for (const row of body.querySelectorAll("tr.empty")) row.remove();
  const keep = new Set();
  let anchor = null;
  const place = (node) => {
    const wanted = anchor ? anchor.nextSibling : body.firstChild;
    if (wanted !== node) body.insertBefore(node, wanted);
    anchor = node;
  };
  for (const e of endpoints) {
    const key = endpointKey(e);
    keep.add(key);
    place(endpointRow(e, existing.get(key) || el("tr")));
    const dialog = retryDialogs.get(key);
    if (dialog) place(dialog);
  }
  for (const [key, row] of existing) {
    if (!keep.has(key)) row.remove();
  }
  for (const [key, dialog] of retryDialogs) {
    if (!keep.has(key)) {
      dialog.remove();
      retryDialogs.delete(key);
    }
  }
}

async function pauseOrResume(e, action) {
  try {
    const updated = await api("POST", `${endpointPath(e.customerId, e.service)}/${action}`);
    const key = endpointKey(e);
    endpoints = endpoints.map((x) => (endpointKey(x) === key ? { ...x, ...updated } : x));
    renderEndpoints();
    toast(`${action === "pause" ? "Paused" : "Resumed"} ${e.customerId} / ${e.service}`, "ok");
  } catch (exc) {
    report(exc);
  }
}

function toggleRetryDialog(e) {
  const key = endpointKey(e);
  const open = retryDialogs.get(key);
  if (open) {
    open.remove();
    retryDialogs.delete(key);
    return;
  }
  const from = el("input", { type: "datetime-local", step: 1, "data-testid": "retry-from" });
  const to = el("input", { type: "datetime-local", step: 1, "data-testid": "retry-to" });
  const close = () => {
    row.remove();
    retryDialogs.delete(key);
  };
  const form = el("form", { class: "retry-form", "data-testid": "retry-failed-form" },
    el("strong", { text: `Re-queue the failed deliveries of ${e.customerId} / ${e.service}` }),
    el("label", {}, "failed from ", from),
    el("label", {}, "to ", to),
    el("button", { type: "submit", class: "btn small primary", "data-testid": "retry-failed-start",
      text: "Start" }),
    el("button", { type: "button", class: "btn small ghost", text: "Cancel", onclick: close }),
    el("span", { class: "muted small", text: "leave both empty for all of them" }));
  const row = el("tr", { class: "retry-row", "data-testid": "retry-failed-row" },
    el("td", { colspan: 8 }, form));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {};
    if (from.value) body.from = new Date(from.value).toISOString();
    if (to.value) body.to = new Date(to.value).toISOString();
    const button = form.querySelector("button[type=submit]");
    await busy(button, async () => {
      try {
        const started = await api("POST", `${endpointPath(e.customerId, e.service)}/failed/retry`,
          Object.keys(body).length ? body : undefined);
        close();
        endpointTasks.set(key, { taskId: started.taskId, nbItems: started.nbItems, nbDone: 0,
          nbSkipped: 0, progress: started.nbItems ? 0 : 1, status: "running" });
        renderEndpoints();
        toast(started.nbItems
          ? `Re-queuing ${num(started.nbItems)} failed deliveries of ${e.customerId} / ${e.service}`
          : `No failed deliveries of ${e.customerId} / ${e.service} to re-queue`,
        started.nbItems ? "ok" : "info");
        pollTask(key, started.taskId);
      } catch (exc) {
        report(exc);
      }
    });
  });
  retryDialogs.set(key, row);
  renderEndpoints();
  from.focus();
}

async function pollTask(key, taskId) {
  taskPolls.delete(taskId);
  let task;
  try {
    task = await api("GET", `/v1/tasks/${encodeURIComponent(taskId)}`);
  } catch (exc) {
    if (exc.status === 401) return;
    if (exc.status !== 0) {
      report(exc);
      return;
    }
  }
  if (task) {
    endpointTasks.set(key, task);
    renderEndpoints();
    if (task.status !== "running") {
      if (task.status === "done") {
        toast(`Task done: ${num(task.nbDone)} deliveries back in the queue`, "ok");
      } else {
        toast(`Task ${taskId} stopped: ${task.error || "failed"}`);
      }
      refresh({ deliveries: true });
      return;
    }
  }
  taskPolls.set(taskId, setTimeout(() => pollTask(key, taskId), TASK_POLL_MS));
}
