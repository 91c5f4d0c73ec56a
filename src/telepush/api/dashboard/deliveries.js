// The delivery log: filters, paging, finding one delivery by id, its attempts, and sending a
// failed delivery again.
import { api, query, report } from "./api.js";
import { $, busy, el, toast, when } from "./dom.js";
import { findEndpoint } from "./endpoints.js";
import { fmtAgo, fmtMs, fmtTime, num } from "./format.js";
import { refresh } from "./refresh.js";

const PAGE_SIZE = 50;
let nextCursor = null;
const openDetails = new Set();

function filters() {
  return {
    customer: $("filter-customer").value.trim(),
    service: $("filter-service").value,
    status: $("filter-status").value,
    key: $("filter-key").value.trim(),
  };
}

export function clearFilters() {
  for (const id of ["filter-customer", "filter-service", "filter-status", "filter-key"]) {
    $(id).value = "";
  }
  $("delivery-id").value = "";
}

const statusBadge = (status) =>
  el("span", { class: `badge status-${status}`, "data-testid": "status-badge", text: status });

function deliveryRow(d) {
  const row = el("tr", {
    class: "delivery clickable",
    "data-testid": "delivery-row",
    "data-id": d.deliveryId,
    "data-status": d.status,
    tabindex: 0,
    title: "click for its attempts",
    onclick: (ev) => {
      if (!ev.target.closest("button")) toggleDetail(row.dataset.id);
    },
    onkeydown: (ev) => {
      if (ev.key === "Enter" && !ev.target.closest("button")) toggleDetail(row.dataset.id);
    },
  },
  el("td", {}, when(d.createdAt, fmtTime(d.createdAt))),
  el("td", {}, statusBadge(d.status)),
  el("td", { class: "strong", text: d.customerId }),
  el("td", {}, el("span", { class: "chip", text: d.service })),
  el("td", { class: "mono ellipsis", title: d.key || "", text: d.key || "—" }),
  el("td", { class: "num", text: num(d.attemptCount) }),
  el("td", {}, nextAttempt(d)),
  el("td", { class: "actions" }, retryButton(d)));
  return row;
}

function nextAttempt(d) {
  if (!d.nextAttemptAt || !["pending", "sending"].includes(d.status)) {
    return el("span", { class: "muted", text: "—" });
  }
  const endpoint = findEndpoint(d.customerId, d.service);
  if (d.status === "pending" && endpoint && endpoint.paused) {
    return el("span", { class: "warn", text: `endpoint ${endpoint.paused === "breaker"
      ? "paused by breaker" : "paused"}` });
  }
  const due = new Date(d.nextAttemptAt).getTime() <= Date.now();
  return when(d.nextAttemptAt, due ? "due now" : fmtAgo(d.nextAttemptAt));
}

function retryButton(d) {
  if (d.status !== "failed") return null;
  return el("button", {
    type: "button",
    class: "btn small primary",
    "data-testid": "retry-button",
    text: "Retry",
    title: "Put this delivery back in the queue",
    onclick: (ev) => busy(ev.currentTarget, () => retryDelivery(d.deliveryId)),
  });
}

function replaceRow(d) {
  for (const row of $("delivery-rows").querySelectorAll("tr.delivery")) {
    if (row.dataset.id === d.deliveryId) row.replaceWith(deliveryRow(d));
  }
}

async function retryDelivery(id) {
  try {
    const d = await api("POST", `/v1/deliveries/${encodeURIComponent(id)}/retry`);
    replaceRow(d);
    toast(`Delivery ${id} is back in the queue (${d.status})`, "ok");
    if (openDetails.has(id)) await showDetail(id);
    refresh();
  } catch (exc) {
    report(exc);
  }
}

function detailRowOf(id) {
  for (const row of $("delivery-rows").querySelectorAll("tr.detail")) {
    if (row.dataset.id === id) return row;
  }
  return null;
}

async function toggleDetail(id) {
  const open = detailRowOf(id);
  if (open) {
    open.remove();
    openDetails.delete(id);
    return;
  }
  await showDetail(id);
}

async function showDetail(id) {
  let d;
  try {
    d = await api("GET", `/v1/deliveries/${encodeURIComponent(id)}`);
  } catch (exc) {
    report(exc);
    return;
  }
  replaceRow(d);
  const row = [...$("delivery-rows").querySelectorAll("tr.delivery")]
    .find((r) => r.dataset.id === id);
  if (!row) return;
  const detail = el("tr", { class: "detail", "data-testid": "delivery-detail", "data-id": id },
    el("td", { colspan: 8 }, detailView(d)));
  const old = detailRowOf(id);
  if (old) old.remove();
  row.after(detail);
  row.classList.add("open");
  openDetails.add(id);
}

function detailView(d) {
  const facts = [
    ["delivery id", el("code", { "data-testid": "detail-id", text: d.deliveryId })],
    ["status", statusBadge(d.status)],
    ["endpoint", `${d.customerId} / ${d.service}`],
    ["key", d.key || "—"],
    ["created", when(d.createdAt, fmtTime(d.createdAt))],
    ["next attempt", d.nextAttemptAt ? when(d.nextAttemptAt, fmtTime(d.nextAttemptAt)) : "—"],
  ];
  const attempts = d.attempts || [];
  const table = attempts.length
    ? el("table", { class: "grid attempts", "data-testid": "attempt-table" },
      el("thead", {}, el("tr", {}, ...["#", "Time", "Status", "Error", "Duration", "Response"]
        .map((h) => el("th", { text: h })))),
      el("tbody", {}, ...attempts.map((a) => {
        const ok = a.statusCode !== null && a.statusCode >= 200 && a.statusCode < 300;
        const response = [a.response, a.detail].filter(Boolean).join("\n");
        return el("tr", { "data-testid": "attempt-row" },
          el("td", { class: "num", text: a.number }),
          el("td", {}, when(a.at, fmtTime(a.at))),
          el("td", {}, a.statusCode === null || a.statusCode === undefined
            ? el("span", { class: "muted", text: "no answer" })
            : el("span", { class: `code ${ok ? "ok" : "ko"}`, text: a.statusCode })),
          el("td", {}, a.error ? el("span", { class: "chip bad", text: a.error }) : "—"),
          el("td", { class: "num", text: fmtMs(a.durationMs) }),
          el("td", {}, response ? el("pre", { class: "response", title: response,
            text: response.length > 400 ? `${response.slice(0, 400)}…` : response }) : "—"));
      })))
    : el("p", { class: "muted", text: "No attempt yet." });
  return el("div", { class: "detail-box" },
    el("dl", { class: "facts" }, ...facts.flatMap(([k, v]) => [el("dt", { text: k }),
      el("dd", {}, v)])),
    el("div", { class: "detail-actions" }, retryButton(d)),
    table);
}

export async function loadDeliveries(reset) {
  const params = { ...filters(), limit: PAGE_SIZE, cursor: reset ? "" : nextCursor };
  const more = $("load-more");
  try {
    const page = await api("GET", `/v1/deliveries${query(params)}`);
    const body = $("delivery-rows");
    if (reset) {
      body.replaceChildren();
      openDetails.clear();
      $("delivery-note")?.remove();
    }
    for (const d of page.items || []) body.append(deliveryRow(d));
    if (!body.children.length) {
      body.append(el("tr", { class: "empty" }, el("td", { colspan: 8,
        text: "No delivery matches these filters." })));
    }
    nextCursor = page.nextCursor || null;
    more.hidden = !nextCursor;
  } catch (exc) {
    report(exc);
  }
}

export async function findDelivery(id) {
  let d;
  try {
    d = await api("GET", `/v1/deliveries/${encodeURIComponent(id)}`);
  } catch (exc) {
    if (exc.status === 404) toast(`No delivery with id ${id}`);
    else report(exc);
    return;
  }
  const body = $("delivery-rows");
  body.replaceChildren(deliveryRow(d));
  openDetails.clear();
  nextCursor = null;
  $("load-more").hidden = true;
  $("delivery-note")?.remove();
  $("delivery-filters").after(el("p", { id: "delivery-note", class: "note",
    "data-testid": "search-note" }, `Showing delivery ${id} only. `,
  el("button", { type: "button", class: "link", text: "Show the log again",
    onclick: () => {
      $("delivery-id").value = "";
      loadDeliveries(true);
    } })));
  await showDetail(d.deliveryId);
}
