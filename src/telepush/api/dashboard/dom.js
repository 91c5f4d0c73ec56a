// Building the page: element helpers, <time> stamps, toasts and busy buttons.

const SVG_NS = "http://www.w3.org/2000/svg";

export const $ = (id) => document.getElementById(id);

function fill(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}
export const el = (tag, attrs, ...children) => fill(document.createElement(tag), attrs, children);
export const svg = (tag, attrs, ...children) =>
  fill(document.createElementNS(SVG_NS, tag), attrs, children);

export const when = (iso, text) => el("time", { datetime: iso || null, title: iso || null }, text);

export function toast(message, kind = "error") {
  const box = $("toasts");
  for (const existing of box.children) {
    if (existing.dataset.message === message) return;
  }
  const node = el("div", {
    class: `toast ${kind}`,
    "data-testid": "toast",
    "data-message": message,
    role: kind === "error" ? "alert" : "status",
    title: "click to dismiss",
    text: message,
    onclick: () => node.remove(),
  });
  box.append(node);
  setTimeout(() => node.remove(), kind === "error" ? 10000 : 5000);
}

export async function busy(button, action) {
  button.disabled = true;
  button.classList.add("busy");
  try {
    return await action();
  } finally {
    button.disabled = false;
    button.classList.remove("busy");
  }
}
