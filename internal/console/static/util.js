// Shared helpers of the console's pages: DOM building, API calls through
// /console/api (the server adds the session's key), the event stream, and
// formatting.

export const session = { csrf: "", needsKey: false, authenticated: false };

// el builds an element: attrs are attributes, except text (textContent),
// class, and on<event> handlers; children are nodes or strings.
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = String(v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, "");
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// replace empties parent and appends children.
export function replace(parent, ...children) {
  parent.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

export const enc = encodeURIComponent;

// api calls the /v2 API through the console: {ok, status, data}.
export async function api(path, opts = {}) {
  const headers = { "X-Sluice-Csrf": session.csrf };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch("/console/api" + path, { method: opts.method || "GET", headers, body: opts.body, credentials: "same-origin" });
  } catch (err) {
    return { ok: false, status: 0, data: { error: "the server did not answer: " + err.message } };
  }
  if (res.status === 401 && session.needsKey) {
    toLogin();
    return { ok: false, status: 401, data: { error: "log in first" } };
  }
  let data = null;
  const text = await res.text();
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text }; }
  return { ok: res.ok, status: res.status, data };
}

export function toLogin() {
  const next = location.pathname + location.search;
  location.replace("/login?next=" + enc(next));
}

// events opens the console's event stream with params and calls
// handlers[name](data) for each event; it returns the EventSource.
export function events(params, handlers) {
  const q = new URLSearchParams(params).toString();
  const es = new EventSource("/console/events" + (q ? "?" + q : ""));
  for (const [name, fn] of Object.entries(handlers)) {
    es.addEventListener(name, (ev) => {
      let data;
      try { data = JSON.parse(ev.data); } catch { return; }
      fn(data);
    });
  }
  window.addEventListener("pagehide", () => es.close());
  return es;
}

export function ms(v) {
  if (v === undefined || v === null) return "–";
  if (v < 1000) return Math.round(v) + " ms";
  if (v < 60000) return (v / 1000).toFixed(v < 10000 ? 2 : 1) + " s";
  if (v < 3600000) return (v / 60000).toFixed(1) + " min";
  return (v / 3600000).toFixed(1) + " h";
}

export function when(t) {
  if (!t) return "–";
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  return d.toLocaleString(undefined, { hour12: false });
}

export function ago(t) {
  if (!t) return "–";
  const d = Date.now() - new Date(t).getTime();
  if (!(d >= 0)) return "–";
  return ms(d);
}

export function badge(status) {
  const s = String(status || "UNKNOWN");
  return el("span", { class: "badge " + s.replace(/[^A-Za-z_]/g, ""), text: s });
}

export function pretty(v) {
  if (v === undefined) return "";
  if (typeof v === "string") return v;
  return JSON.stringify(v, null, 2);
}

export function toast(msg) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 3000);
}

export const TERMINAL = ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"];
export const STATUSES = ["IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"];

// section is a card with a heading and an id for aria-labelledby.
export function section(id, title, ...children) {
  return el("section", { class: "card", "aria-labelledby": id + "-h", id },
    el("h2", { id: id + "-h", text: title }), ...children);
}

// waitingBox shows why queued jobs wait (the server's waiting reason).
export function waitingBox(w) {
  if (!w) return null;
  return el("p", { class: "waiting " + String(w.reason).replace(/[^A-Z_]/g, ""), "data-reason": w.reason },
    el("strong", { text: "Waiting: " + w.reason }), " — " + (w.message || ""), w.since ? " (since " + when(w.since) + ")" : "");
}

// downloadJSON offers v as a file named name.
export function downloadJSON(name, v) {
  const blob = new Blob([JSON.stringify(v, null, 2) + "\n"], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// copyText copies s to the clipboard; false when the browser refuses
// (plain http on a non-local address, or no permission).
export async function copyText(s) {
  try {
    if (!navigator.clipboard) return false;
    await navigator.clipboard.writeText(s);
    return true;
  } catch {
    return false;
  }
}
