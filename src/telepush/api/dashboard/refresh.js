// "The data changed: read it again." The sections that change data (a retried delivery, a
// finished task) call refresh(); app.js says what reading again means. It lives apart so that
// no section has to import app.js, nor the sections each other in a circle.
let refresher = () => {};

export function onRefresh(handler) {
  refresher = handler;
}

// Read the overview, endpoints and tasks again; with deliveries, the delivery log too.
export function refresh({ deliveries = false } = {}) {
  refresher({ deliveries });
}
