// An endpoint's page: live figures, jobs by status with id search, workers,
// their live log tail and the scaler settings.
import { el, replace, events, api, ms, when, ago, badge, enc, section, STATUSES } from "./util.js";
import { endpointStats, charts } from "./overview.js";

const MAX_LOG_LINES = 500;

export function jobLink(ep, id) {
  return el("a", { href: "/endpoints/" + enc(ep) + "/jobs/" + enc(id), text: id });
}

function jobRow(ep, j) {
  return el("tr", { "data-job": j.id, "data-status": j.status },
    el("td", { class: "id" }, jobLink(ep, j.id)),
    el("td", {}, badge(j.status)),
    el("td", { text: when(j.submittedAt) }),
    el("td", { class: "hide-narrow", text: ms(j.delayTime) }),
    el("td", { class: "hide-narrow", text: ms(j.executionTime) }),
    el("td", { class: "id hide-narrow", text: j.workerId || "–" }),
    el("td", { class: "hide-narrow", text: j.retries ?? 0 }),
    el("td", { class: "err", text: j.error || "" }));
}

function jobsTable(ep, jobs) {
  const head = ["ID", "Status", "Submitted", "Delay", "Execution", "Worker", "Retries", "Error"];
  const narrow = new Set(["Delay", "Execution", "Worker", "Retries"]);
  return el("div", { class: "tablewrap" }, el("table", { id: "jobs-table" },
    el("caption", { class: "muted", text: jobs.length ? "" : "No jobs." }),
    el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col", class: narrow.has(h) ? "hide-narrow" : null, text: h })))),
    el("tbody", {}, jobs.map((j) => jobRow(ep, j)))));
}

function workersTable(ep, ws) {
  if (!ws.length) return el("p", { class: "muted", id: "no-workers", text: "No worker right now." });
  const rows = ws.map((w) => {
    const jobs = w.jobs || [];
    return el("tr", { "data-worker": w.id },
      el("td", { class: "id", text: w.id }),
      el("td", {}, badge((w.status || (jobs.length ? "RUNNING" : "IDLE")).toUpperCase()), w.draining ? " draining" : "", w.isStale ? " stale" : ""),
      el("td", { text: (w.gpus || []).join(", ") || "–" }),
      el("td", { text: w.pid || "–" }),
      el("td", { text: w.startedAt && !w.startedAt.startsWith("0001") ? ago(w.startedAt) : (w.lastSeen ? "seen " + ago(w.lastSeen) + " ago" : "–") }),
      el("td", { class: "id" }, jobs.length ? jobs.map((id, i) => [i ? ", " : "", jobLink(ep, id)]) : "–"));
  });
  return el("div", { class: "tablewrap" }, el("table", { id: "workers-table" },
    el("thead", {}, el("tr", {}, ["ID", "Status", "GPUs", "PID", "Uptime", "Current job"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows)));
}

// logTail follows an endpoint's worker output (one worker, or all) into pre.
export function logTail(pre, ep, params) {
  let lines = [];
  const q = new URLSearchParams({ follow: "1", tail: "200", ...params });
  const es = new EventSource("/console/api/v2/" + enc(ep) + "/logs?" + q);
  es.onmessage = (ev) => {
    let r;
    try { r = JSON.parse(ev.data); } catch { return; }
    const t = new Date(r.ts);
    lines.push(`${isNaN(t) ? "" : t.toLocaleTimeString(undefined, { hour12: false })} ${r.worker} ${r.stream === "stderr" ? "!" : " "} ${r.line}`);
    if (lines.length > MAX_LOG_LINES) lines = lines.slice(-MAX_LOG_LINES);
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = lines.join("\n");
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  };
  es.addEventListener("end", () => es.close());
  window.addEventListener("pagehide", () => es.close());
  return es;
}

export function endpointPage(ep) {
  document.title = ep + " · Sluice";
  const main = document.getElementById("main");
  const summary = el("div", { id: "summary" }, el("p", { class: "muted", text: "Connecting…" }));
  const chartBox = el("div");
  const statusSel = el("select", { id: "status-filter", name: "status" },
    el("option", { value: "", text: "All statuses" }), STATUSES.map((s) => el("option", { value: s, text: s })));
  const search = el("input", { id: "job-search", name: "id", type: "search", placeholder: "job id", autocomplete: "off", spellcheck: "false" });
  const jobsBox = el("div", { id: "jobs", "aria-live": "polite", "aria-busy": "true" });
  const more = el("button", { type: "button", class: "secondary", id: "more", hidden: true, text: "Load more" });
  const workersBox = el("div", { id: "workers" }, el("p", { class: "muted", text: "Loading…" }));
  const logSel = el("select", { id: "log-worker" }, el("option", { value: "", text: "All workers" }));
  const logPre = el("pre", { class: "log", id: "log", tabindex: "0", "aria-label": "Worker log tail" });
  const settingsBox = el("div", { id: "settings" });
  replace(main,
    el("p", { class: "crumbs" }, el("a", { href: "/", text: "Overview" }), " / endpoint"),
    el("h1", { text: ep }),
    el("div", { class: "actions" }, el("a", { href: "/endpoints/" + enc(ep) + "/send", text: "Send a request" })),
    section("live", "Now", summary, chartBox),
    section("jobs-card", "Jobs",
      el("form", { class: "row", id: "jobs-form", role: "search", "aria-label": "Filter jobs" },
        el("label", { for: "status-filter" }, "Status", statusSel),
        el("label", { for: "job-search" }, "Find a job by id", search),
        el("button", { type: "submit", text: "Search" }),
        el("button", { type: "button", class: "secondary", id: "clear", text: "Clear" })),
      jobsBox, more),
    section("workers-card", "Workers", workersBox,
      el("div", { class: "row" }, el("label", { for: "log-worker" }, "Log of", logSel)), logPre),
    section("settings-card", "Scaler settings", settingsBox));

  let cursor = "";
  let paged = false; // more than the first page shown: no live refresh
  let searching = "";
  let loading = false;
  let again = false; // a reload asked for while one runs
  async function loadJobs(append) {
    if (loading) {
      if (!append) again = true;
      return;
    }
    loading = true;
    jobsBox.setAttribute("aria-busy", "true");
    try {
      if (searching) {
        const r = await api("/v2/" + enc(ep) + "/jobs/" + enc(searching));
        more.hidden = true;
        if (r.ok) replace(jobsBox, jobsTable(ep, [r.data]));
        else replace(jobsBox, el("p", { class: "error", id: "search-error", text: r.status === 404 ? `No job with id ${searching} (unknown or expired).` : (r.data && r.data.error) || "Search failed." }));
        return;
      }
      const q = new URLSearchParams({ limit: "50" });
      if (statusSel.value) q.set("status", statusSel.value);
      if (append && cursor) q.set("cursor", cursor);
      const r = await api("/v2/" + enc(ep) + "/jobs?" + q);
      if (!r.ok) {
        replace(jobsBox, el("p", { class: "error", text: (r.data && r.data.error) || "Could not list the jobs." }));
        return;
      }
      cursor = r.data.nextCursor || "";
      paged = !!append;
      more.hidden = !cursor;
      if (append) {
        const tbody = jobsBox.querySelector("tbody");
        if (tbody) tbody.append(...r.data.jobs.map((j) => jobRow(ep, j)));
      } else replace(jobsBox, jobsTable(ep, r.data.jobs));
    } finally {
      loading = false;
      jobsBox.setAttribute("aria-busy", "false");
      if (again) {
        again = false;
        loadJobs(false);
      }
    }
  }
  const q0 = new URLSearchParams(location.search);
  if (STATUSES.includes(q0.get("status"))) statusSel.value = q0.get("status");
  const keepURL = () => {
    const q = new URLSearchParams();
    if (statusSel.value) q.set("status", statusSel.value);
    history.replaceState(null, "", location.pathname + (q.size ? "?" + q : ""));
  };
  statusSel.addEventListener("change", () => { searching = ""; search.value = ""; keepURL(); loadJobs(false); });
  document.getElementById("jobs-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    searching = search.value.trim();
    loadJobs(false);
  });
  document.getElementById("clear").addEventListener("click", () => { searching = ""; search.value = ""; statusSel.value = ""; keepURL(); loadJobs(false); });
  more.addEventListener("click", () => loadJobs(true));
  loadJobs(false);

  api("/v2/" + enc(ep) + "/health").then((r) => {
    if (!r.ok) replace(summary, el("p", { class: "error", id: "endpoint-error", text: (r.data && r.data.error) || "Unknown endpoint." }));
  });
  fetch("/console/settings/" + enc(ep), { credentials: "same-origin" }).then((r) => r.ok ? r.json() : null).then((s) => {
    if (!s) { replace(settingsBox, el("p", { class: "muted", text: "No settings to show." })); return; }
    const rows = [
      ["Workers started by Sluice", s.managed ? "yes" : "no (connected from elsewhere)"],
      ["Workers min / max", `${s.workersMin} / ${s.workersMax}`],
      ["Scaler", `${s.scalerType} ${s.scalerValue}`],
      ["Idle timeout", s.idleTimeout + " s"],
      ["Execution timeout", ms(s.executionTimeoutMs)],
      ["GPUs per worker", s.gpuCount + (s.gpus && s.gpus.length ? ` (pool ${s.gpus.join(", ")})` : "")],
      ["Max queue", s.maxQueue],
      ["Stop grace", s.stopGraceSeconds + " s"],
      ["Fail queued jobs after crashes", s.crashLoopFailAfter || "off"],
    ];
    replace(settingsBox, el("dl", { class: "facts" }, rows.map(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])));
  }).catch(() => replace(settingsBox, el("p", { class: "muted", text: "No settings to show." })));

  let lastCounts = "";
  let logES = logTail(logPre, ep, {});
  logSel.addEventListener("change", () => {
    logES.close();
    logPre.textContent = "";
    logES = logTail(logPre, ep, logSel.value ? { worker: logSel.value } : {});
  });
  let series = null;
  events({ ep }, {
    endpoints: (d) => {
      const e = (d.endpoints || []).find((x) => x.info.id === ep);
      if (!e) return;
      replace(summary, endpointStats(e.info, e.health));
      if (series) replace(chartBox, charts(series.endpoints[ep]));
      const j = (e.health && e.health.jobs) || {};
      const counts = [e.info.inQueue, e.info.inProgress, j.completed, j.failed, j.retried].join(",");
      if (lastCounts && counts !== lastCounts && !paged && !searching) loadJobs(false);
      if (counts !== lastCounts && searching) loadJobs(false);
      lastCounts = counts;
    },
    series: (s) => { series = s; replace(chartBox, charts(s.endpoints[ep])); },
    workers: (d) => {
      const ws = d.workers || [];
      replace(workersBox, workersTable(ep, ws));
      const have = new Set([...logSel.options].map((o) => o.value));
      for (const w of ws) if (!have.has(w.id)) logSel.append(el("option", { value: w.id, text: w.id }));
    },
  });
}
