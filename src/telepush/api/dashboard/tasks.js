// Recent tasks (re-queuing an endpoint's failed deliveries) and a task's progress bar, also
// shown in the endpoint's row while it runs.
import { api, report } from "./api.js";
import { $, el, when } from "./dom.js";
import { fmtTime, num } from "./format.js";

export async function loadTasks() {
  try {
    const data = await api("GET", "/v1/tasks");
    const items = (data.items || []).slice(0, 20);
    $("task-rows").replaceChildren(...(items.length ? items.map(taskRow)
      : [el("tr", { class: "empty" }, el("td", { colspan: 7,
        text: "No task yet: “Retry failed…” on an endpoint starts one." }))]));
  } catch (exc) {
    if (exc.status === 401) return;
    $("task-rows").replaceChildren(el("tr", { class: "empty" },
      el("td", { colspan: 7, text: exc.message })));
    if (exc.status !== 404) report(exc);
  }
}

function taskRow(t) {
  const span = t.failedFrom || t.failedTo
    ? `${t.failedFrom ? fmtTime(t.failedFrom) : "…"} → ${t.failedTo ? fmtTime(t.failedTo) : "…"}`
    : "all failed";
  return el("tr", { "data-testid": "task-row", "data-task-id": t.taskId, "data-status": t.status },
    el("td", {}, el("code", { class: "ellipsis", title: t.taskId, text: t.taskId.slice(0, 12) }),
      el("div", { class: "sub", text: t.kind })),
    el("td", {}, el("span", { class: "strong", text: t.customerId }), " ",
      el("span", { class: "chip", text: t.service })),
    el("td", {}, el("span", { class: `badge task-${t.status}`, text: t.status }),
      t.error ? el("div", { class: "sub bad", text: t.error }) : null),
    el("td", {}, taskProgress(t, false)),
    el("td", { class: "small", text: span }),
    el("td", {}, when(t.createdAt, fmtTime(t.createdAt))),
    el("td", {}, t.finishedAt ? when(t.finishedAt, fmtTime(t.finishedAt)) : "—"));
}

export function taskProgress(task, compact) {
  const pct = Math.round((task.progress || 0) * 100);
  const fillNode = el("span", { class: `meter-fill task-${task.status}` });
  fillNode.style.width = `${pct}%`;
  let text;
  if (task.status === "running") text = `${num(task.nbDone || 0)} / ${num(task.nbItems)} re-queued`;
  else if (task.status === "done") {
    text = `${num(task.nbDone)} re-queued${task.nbSkipped ? `, ${num(task.nbSkipped)} skipped` : ""}`;
  } else text = `stopped: ${task.error || "failed"}`;
  return el("div", {
    class: `task-progress ${compact ? "compact" : ""}`,
    "data-testid": "task-progress",
    "data-status": task.status,
    "data-task-id": task.taskId,
    title: `task ${task.taskId}`,
  }, el("span", { class: "meter wide" }, fillNode), el("span", { class: "small", text }));
}
