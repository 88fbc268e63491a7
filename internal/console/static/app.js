// The console's entry point: reads the session, draws the header and
// renders the page the URL names.
import { session, el, replace, toLogin } from "./util.js";
import { overview } from "./overview.js";
import { endpointPage } from "./endpoint.js";
import { jobPage } from "./job.js";
import { sendPage } from "./send.js";
import { loginPage } from "./login.js";

const routes = [
  [/^\/$/, () => overview()],
  [/^\/login$/, () => loginPage()],
  [/^\/endpoints\/([^/]+)$/, (m) => endpointPage(decodeURIComponent(m[1]))],
  [/^\/endpoints\/([^/]+)\/send$/, (m) => sendPage(decodeURIComponent(m[1]))],
  [/^\/endpoints\/([^/]+)\/jobs\/([^/]+)$/, (m) => jobPage(decodeURIComponent(m[1]), decodeURIComponent(m[2]))],
];

async function logout() {
  await fetch("/console/logout", { method: "POST", headers: { "X-Sluice-Csrf": session.csrf }, credentials: "same-origin" });
  location.assign("/login");
}

function nav() {
  const n = document.getElementById("nav");
  replace(n,
    el("a", { href: "/", text: "Overview", "aria-current": location.pathname === "/" ? "page" : null }),
    el("span", { class: "spacer" }),
    session.authenticated ? el("button", { type: "button", id: "logout", onclick: logout, text: "Log out" }) : null);
}

async function start() {
  try {
    const res = await fetch("/console/session", { credentials: "same-origin" });
    Object.assign(session, await res.json());
  } catch {
    replace(document.getElementById("main"), el("p", { class: "error", text: "The Sluice server did not answer." }));
    return;
  }
  const path = location.pathname;
  if (session.needsKey && !session.authenticated && path !== "/login") {
    toLogin();
    return;
  }
  nav();
  for (const [re, render] of routes) {
    const m = path.match(re);
    if (m) {
      render(m);
      return;
    }
  }
  replace(document.getElementById("main"), el("h1", { text: "Not found" }), el("p", {}, el("a", { href: "/", text: "Back to the overview" })));
}

start();
