// The request form: a JSON body, run or runsync, then the job's status live
// until it ends.
import { el, replace, events, api, badge, enc, section, pretty, TERMINAL } from "./util.js";
import { jobLink } from "./endpoint.js";

const SAMPLE = '{\n  "input": {\n    "hello": "world"\n  }\n}';

// check returns the error of a request body, or "".
function check(text) {
  let v;
  try { v = JSON.parse(text); } catch (e) { return "Not valid JSON: " + e.message; }
  if (v === null || typeof v !== "object" || Array.isArray(v)) return "The body must be a JSON object such as {\"input\": {...}}.";
  if (!("input" in v)) return "The body needs an \"input\" field.";
  return "";
}

export function sendPage(ep) {
  document.title = "Send a request to " + ep + " · Sluice";
  const main = document.getElementById("main");
  const ta = el("textarea", { id: "body", name: "body", spellcheck: "false", "aria-describedby": "body-help body-error", rows: 12 });
  ta.value = sessionStorage.getItem("sluice-body-" + ep) || SAMPLE;
  const err = el("p", { id: "body-error", class: "error", "aria-live": "polite" });
  const submit = el("button", { type: "submit", id: "send", text: "Send" });
  const result = el("div", { id: "result" });
  const radio = (v, label, checked) => el("label", { for: "mode-" + v },
    el("input", { type: "radio", name: "mode", id: "mode-" + v, value: v, checked }), label);
  replace(main,
    el("p", { class: "crumbs" }, el("a", { href: "/", text: "Overview" }), " / ", el("a", { href: "/endpoints/" + enc(ep), text: ep }), " / send"),
    el("h1", { text: "Send a request to " + ep }),
    el("form", { class: "card", id: "send-form", novalidate: true },
      el("label", { for: "body" }, "Request body (JSON)", ta),
      el("p", { id: "body-help", class: "muted", text: "Runpod's request body: \"input\" is handed to the handler; \"webhook\" and \"policy\" are optional." }),
      err,
      el("div", { class: "row" },
        el("fieldset", {}, el("legend", { text: "Mode" }), radio("run", "run (queue it)", true), radio("runsync", "runsync (wait for the result)", false)),
        submit)),
    section("result-card", "Result", result));
  const validate = () => {
    const e = check(ta.value);
    err.textContent = e;
    ta.setAttribute("aria-invalid", e ? "true" : "false");
    submit.disabled = !!e;
    return !e;
  };
  ta.addEventListener("input", validate);
  validate();

  let es = null;
  const show = (j, note) => {
    replace(result,
      el("p", {}, "Job ", j.id ? jobLink(ep, j.id) : "–", " ", el("span", { id: "send-status", role: "status", "aria-live": "polite" }, badge(j.status))),
      note ? el("p", { class: "muted", text: note }) : null,
      j.output !== undefined ? el("pre", { id: "send-output", tabindex: "0", text: pretty(j.output) }) : null,
      j.error ? el("pre", { id: "send-error", class: "error-text", tabindex: "0", text: pretty(j.error) }) : null);
  };
  const follow = (id) => {
    if (es) es.close();
    es = events({ ep, job: id }, {
      job: (d) => {
        if (d.code !== 200) return;
        show(d.job, TERMINAL.includes(d.job.status) ? "" : "Updating live…");
        if (TERMINAL.includes(d.job.status)) es.close();
      },
    });
  };
  document.getElementById("send-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!validate()) { ta.focus(); return; }
    sessionStorage.setItem("sluice-body-" + ep, ta.value);
    const mode = document.querySelector("input[name=mode]:checked").value;
    submit.disabled = true;
    replace(result, el("p", { role: "status", id: "send-status", text: mode === "runsync" ? "Waiting for the result (runsync)…" : "Submitting…" }));
    try {
      const r = await api("/v2/" + enc(ep) + "/" + mode, { method: "POST", body: ta.value });
      if (!r.ok) {
        replace(result, el("p", { class: "error", id: "send-failed", role: "alert", text: `${r.status}: ${(r.data && r.data.error) || "request failed"}` }));
        return;
      }
      show(r.data, TERMINAL.includes(r.data.status) ? "" : "Updating live…");
      if (!TERMINAL.includes(r.data.status)) follow(r.data.id);
    } finally {
      submit.disabled = false;
    }
  });
}
