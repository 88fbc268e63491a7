// The overview: every endpoint the session sees, live, with charts of the
// last hour.
import { el, replace, events, ms, enc, waitingBox } from "./util.js";
import { lineChart } from "./chart.js";

// endpointStats lists an endpoint's job and worker figures.
export function endpointStats(info, health) {
  const j = (health && health.jobs) || {};
  const w = (health && health.workers) || {};
  const stat = (k, v, name) => el("li", { "data-stat": name }, el("span", { class: "v", text: v ?? 0 }), el("span", { class: "k", text: k }));
  return [
    el("ul", { class: "stats", "aria-label": "Jobs" },
      stat("In queue", info.inQueue, "inQueue"), stat("In progress", info.inProgress, "inProgress"),
      stat("Completed", j.completed, "completed"), stat("Failed", j.failed, "failed"), stat("Retried", j.retried, "retried")),
    el("ul", { class: "stats", "aria-label": "Workers by state" },
      stat("Idle", w.idle, "idle"), stat("Running", w.running, "running"), stat("Starting", w.initializing, "initializing"),
      stat("Throttled", w.throttled, "throttled"), stat("Unhealthy", w.unhealthy, "unhealthy"),
      stat("Max", info.workersMax, "workersMax")),
    health && health.waiting ? waitingBox(health.waiting) : null,
    health && health.crashLoop ? el("p", { class: "waiting CRASH_LOOP" },
      el("strong", { text: "Crash loop: " }), `${health.crashLoop.crashes} worker(s) exited at start; last: ${health.crashLoop.lastExit}`) : null,
  ];
}

// charts draws an endpoint's three charts from its series.
export function charts(c) {
  if (!c) return el("div", { class: "charts" });
  const sum = c.failed.map((f, i) => f + (c.cancelled[i] || 0));
  const count = (v) => String(Math.round(v));
  return el("div", { class: "charts" },
    lineChart("Throughput (jobs/min)", [{ name: "completed", values: c.completed, cls: 0 }, { name: "failed/cancelled", values: sum, cls: 1 }], count),
    lineChart("Delay", [{ name: "p50", values: c.delayP50, cls: 2 }, { name: "p95", values: c.delayP95, cls: 3 }], ms),
    lineChart("Execution time", [{ name: "p50", values: c.execP50, cls: 2 }, { name: "p95", values: c.execP95, cls: 3 }], ms));
}

export function overview() {
  document.title = "Overview · Sluice";
  const main = document.getElementById("main");
  const grid = el("div", { class: "grid", id: "endpoints", "aria-live": "off" });
  const note = el("p", { class: "muted", id: "overview-note", text: "Connecting…" });
  replace(main, el("h1", { text: "Endpoints" }), note, grid);
  const cards = new Map();
  let series = null;
  const card = (id) => {
    let c = cards.get(id);
    if (!c) {
      c = { stats: el("div"), charts: el("div") };
      c.root = el("section", { class: "card", "aria-labelledby": "ep-" + id, "data-endpoint": id },
        el("h2", { id: "ep-" + id }, el("a", { href: "/endpoints/" + enc(id), text: id })),
        c.stats, c.charts,
        el("p", {}, el("a", { href: "/endpoints/" + enc(id) + "/send", text: "Send a request" })));
      cards.set(id, c);
      grid.append(c.root);
    }
    return c;
  };
  events({}, {
    endpoints: (d) => {
      if (d.error) {
        note.textContent = "Could not read the endpoints: " + d.error;
        return;
      }
      note.textContent = d.endpoints.length ? `${d.endpoints.length} endpoint(s), updated live.` : "No endpoint is visible to this key.";
      const seen = new Set();
      for (const e of d.endpoints) {
        seen.add(e.info.id);
        const c = card(e.info.id);
        replace(c.stats, el("p", { class: "muted", text: e.info.managed ? "Workers started by Sluice" : "Workers connected from elsewhere" }), endpointStats(e.info, e.health));
        if (series) replace(c.charts, charts(series.endpoints[e.info.id]));
      }
      for (const [id, c] of cards) if (!seen.has(id)) { c.root.remove(); cards.delete(id); }
    },
    series: (s) => {
      series = s;
      for (const [id, c] of cards) replace(c.charts, charts(s.endpoints[id]));
    },
  });
}
