// The login page: a plain form POST (the key never goes into a URL).
import { session, el, replace } from "./util.js";

const reasons = {
  invalid: "That key opens no endpoint on this server. Check it and try again.",
  empty: "Enter an API key.",
  limited: "Too many attempts; wait a moment and try again.",
};

export function loginPage() {
  document.title = "Log in · Sluice";
  const main = document.getElementById("main");
  const q = new URLSearchParams(location.search);
  const next = q.get("next") || "/";
  if (!session.needsKey) {
    replace(main, el("div", { class: "card login" }, el("h1", { text: "No key needed" }),
      el("p", { text: "This server has no client API keys configured (it listens on loopback only)." }),
      el("p", {}, el("a", { href: "/", text: "Open the overview" }))));
    return;
  }
  const err = q.get("error");
  replace(main, el("div", { class: "card login" },
    el("h1", { text: "Log in to the Sluice console" }),
    err ? el("p", { class: "error", id: "login-error", role: "alert", text: reasons[err] || "Login failed." }) : null,
    el("form", { method: "post", action: "/console/login", id: "login-form" },
      el("input", { type: "hidden", name: "next", value: next }),
      el("label", { for: "key" }, "API key",
        el("input", { id: "key", name: "key", type: "password", autocomplete: "current-password", required: true, autofocus: true,
          "aria-describedby": err ? "login-error" : null })),
      el("p", { class: "muted", text: "A key from apiKeys (or a per-endpoint key, which shows that endpoint only). It is kept on the server; the browser holds an opaque session cookie." }),
      el("button", { type: "submit", id: "login-submit", text: "Log in" }))));
  document.getElementById("key").focus();
}
