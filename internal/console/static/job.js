// A job's page: its facts, input, output, error, progress, attempts, log
// lines and webhook, live; Retry, Cancel, copy as curl and the input as
// test_input.json.
import { el, replace, events, api, ms, when, badge, enc, section, pretty, toast, downloadJSON, copyText, TERMINAL } from "./util.js";
import { logTail } from "./endpoint.js";

// curlFor is the command that submits input to ep again.
function curlFor(ep, input) {
  const body = JSON.stringify({ input }).replaceAll("'", "'\\''");
  return `curl -s -X POST ${location.origin}/v2/${enc(ep)}/run \\\n  -H "Authorization: Bearer $SLUICE_API_KEY" \\\n  -H "Content-Type: application/json" \\\n  -d '${body}'`;
}

export function jobPage(ep, id) {
  document.title = "Job " + id + " · Sluice";
  const main = document.getElementById("main");
  const status = el("span", { id: "job-status", role: "status", "aria-live": "polite" }, "…");
  const facts = el("dl", { class: "facts", id: "facts" });
  const cancelBtn = el("button", { type: "button", class: "danger", id: "cancel", disabled: true, text: "Cancel" });
  const retryBtn = el("button", { type: "button", id: "retry", disabled: true, text: "Retry" });
  const curlBtn = el("button", { type: "button", class: "secondary", id: "copy-curl", text: "Copy as curl" });
  const dlBtn = el("button", { type: "button", class: "secondary", id: "download-input", text: "Download input as test_input.json" });
  const curlPre = el("pre", { id: "curl", tabindex: "0" });
  const body = el("div", { id: "job-body" });
  const logPre = el("pre", { class: "log", id: "job-log", tabindex: "0", "aria-label": "Log lines of this job" });
  replace(main,
    el("p", { class: "crumbs" }, el("a", { href: "/", text: "Overview" }), " / ", el("a", { href: "/endpoints/" + enc(ep), text: ep }), " / job"),
    el("h1", {}, "Job ", el("span", { class: "mono", text: id }), " ", status),
    el("div", { class: "actions" }, cancelBtn, retryBtn, curlBtn, dlBtn),
    el("p", { id: "action-result", class: "muted", role: "status" }),
    section("facts-card", "Facts", facts),
    body,
    el("details", { class: "card" }, el("summary", { text: "curl command to send this input again" }), curlPre),
    section("log-card", "Log lines of this job", logPre));
  let job = null;
  let shown = "";

  async function fullInput() {
    if (!job) return undefined;
    if (!job.inputTruncated) return job.input;
    const r = await api("/v2/" + enc(ep) + "/jobs/" + enc(id) + "/input");
    return r.ok ? r.data : undefined;
  }
  const say = (msg, cls) => {
    const p = document.getElementById("action-result");
    p.className = cls || "muted";
    p.textContent = msg;
  };
  async function act(what) {
    const r = await api("/v2/" + enc(ep) + "/" + what + "/" + enc(id), { method: "POST", body: "{}" });
    if (r.ok) say(`${what === "cancel" ? "Cancelled" : "Retried"}: now ${r.data.status}.`, "ok");
    else say(`${what} failed: ${(r.data && r.data.error) || r.status}`, "error");
  }
  cancelBtn.addEventListener("click", () => act("cancel"));
  retryBtn.addEventListener("click", () => act("retry"));
  curlBtn.addEventListener("click", async () => {
    const cmd = curlFor(ep, await fullInput());
    curlPre.textContent = cmd;
    curlPre.closest("details").open = true;
    toast((await copyText(cmd)) ? "curl command copied" : "Copy the curl command below");
  });
  dlBtn.addEventListener("click", async () => {
    const input = await fullInput();
    if (input === undefined) { toast("The input is not available"); return; }
    downloadJSON("test_input.json", { input });
    toast("Saved test_input.json: run the worker with --test_input \"$(cat test_input.json)\"");
  });

  const pane = (key, title, content, cls) => section(key, title, el("pre", { id: key + "-pre", class: cls || null, tabindex: "0", text: content }));
  function render(j) {
    job = j;
    replace(status, badge(j.status));
    cancelBtn.disabled = TERMINAL.includes(j.status);
    retryBtn.disabled = !(j.status === "FAILED" || j.status === "TIMED_OUT");
    const f = [
      ["Status", j.status], ["Submitted", when(j.submittedAt)], ["Started", when(j.startedAt)], ["Finished", when(j.finishedAt)],
      ["Delay", ms(j.delayTime)], ["Execution", ms(j.executionTime)], ["Worker", j.workerId || "–"], ["Retries", j.retries ?? 0],
      ["Stream chunks", j.streamChunks ?? 0],
    ];
    replace(facts, f.map(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
    // The rest is drawn again only when it changed (not for the running
    // clock), so that scrolling and selections in it survive updates.
    const { executionTime, delayTime, ...rest } = j;
    const key = JSON.stringify(rest);
    if (key === shown) return;
    shown = key;
    curlPre.textContent = j.inputTruncated ? "(the input is large: Copy as curl fetches it whole)" : curlFor(ep, j.input);
    const parts = [];
    parts.push(j.inputTruncated
      ? pane("input", `Input (${j.inputBytes} bytes; first 64 KiB shown)`, j.inputPreview)
      : pane("input", "Input", pretty(j.input)));
    if (j.progress !== undefined && !TERMINAL.includes(j.status)) parts.push(pane("progress", "Progress", pretty(j.progress)));
    if (j.output !== undefined) parts.push(pane("output", "Output", pretty(j.output)));
    if (j.error) parts.push(section("error", "Error", el("pre", { id: "error-pre", class: "error-text", tabindex: "0", text: pretty(j.error) }),
      j.traceback ? el("details", { open: true }, el("summary", { text: "Traceback" }), el("pre", { id: "traceback-pre", tabindex: "0", text: j.traceback })) : null));
    const attempts = j.attempts || [];
    parts.push(section("attempts", "Attempts", attempts.length ? el("div", { class: "tablewrap" }, el("table", { id: "attempts-table" },
      el("thead", {}, el("tr", {}, ["#", "Worker", "Started", "Finished", "Outcome", "Error"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, attempts.map((a) => el("tr", {},
        el("td", { text: a.attempt }), el("td", { class: "id", text: a.workerId || "–" }), el("td", { text: when(a.startedAt) }),
        el("td", { text: when(a.finishedAt) }), el("td", {}, badge(a.outcome)), el("td", { class: "err", text: a.error || "" }))))))
      : el("p", { class: "muted", text: "No worker has taken this job yet." })));
    if (j.webhook) {
      const w = j.webhook;
      parts.push(section("webhook", "Webhook", el("dl", { class: "facts" },
        el("dt", { text: "URL" }), el("dd", { class: "mono", text: w.url }),
        el("dt", { text: "State" }), el("dd", {}, badge(w.state)),
        el("dt", { text: "Attempts" }), el("dd", { text: w.attempts ?? 0 }),
        w.deliveredAt ? [el("dt", { text: "Delivered" }), el("dd", { text: when(w.deliveredAt) })] : null,
        w.lastError ? [el("dt", { text: "Last error" }), el("dd", { class: "error", text: w.lastError })] : null)));
    }
    replace(body, parts);
  }

  logTail(logPre, ep, { job: id, tail: "1000" });
  events({ ep, job: id }, {
    job: (d) => {
      if (d.code === 404) {
        replace(status, badge("NOT_FOUND"));
        replace(body, el("p", { class: "card error", id: "job-missing", text: "No job with this id on " + ep + " (unknown, or its result expired)." }));
        return;
      }
      render(d.job);
    },
  });
}
