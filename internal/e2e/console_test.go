package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/sluicehq/sluice/internal/testutil"
)

// browserStep bounds every browser action.
const browserStep = 30 * time.Second

// browser is one headless Chromium shared by a test's subtests, with the
// JavaScript errors its pages raised.
type browser struct {
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

// startBrowser starts Debian's chromium headless (no sandbox: tests run as
// root) with a fresh profile, and records every uncaught exception,
// console.error or console.warn call and error entry of the browser log.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	path := testutil.NeedBinary(t, "chromium", "/usr/bin/chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{ctx: ctx}
	// The first action starts the browser: no deadline on it (it would end
	// the browser), but the test's own timeout bounds it.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			switch m.Type {
			case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException:
				b.mu.Lock()
				b.errs = append(b.errs, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		<-done
	})
	return b
}

// run runs actions with a deadline, failing the test on error.
func (b *browser) run(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		hctx, hcancel := context.WithTimeout(b.ctx, 5*time.Second)
		html, _ := chromedp.Run(hctx, chromedp.OuterHTML(chromedp.CSS("main")))
		hcancel()
		t.Fatalf("browser: %v\npage main: %s", err, tail(html, 3000))
	}
}

// value runs one action that returns a value, with a deadline.
func value[T any](t *testing.T, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// noErrors fails t if the pages raised any JavaScript error so far.
func (b *browser) noErrors(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errs {
		t.Errorf("JavaScript error in the console: %s", e)
	}
	b.errs = nil
}

// labelled checks that the page's form controls, buttons, links and
// charts have a name a screen reader can read, and that it has one h1.
func (b *browser) labelled(t *testing.T) {
	t.Helper()
	bad := value(t, b, chromedp.Evaluate[[]string](`(() => {
		const bad = [];
		const name = (e) => (e.getAttribute("aria-label") || e.textContent || "").trim();
		for (const e of document.querySelectorAll("input:not([type=hidden]), select, textarea"))
			if (!e.labels || !e.labels.length) bad.push("control without a label: " + (e.id || e.name || e.outerHTML.slice(0, 80)));
		for (const e of document.querySelectorAll("button, a[href]"))
			if (!name(e)) bad.push("unnamed " + e.tagName.toLowerCase() + ": " + e.outerHTML.slice(0, 80));
		for (const e of document.querySelectorAll("svg"))
			if (e.getAttribute("role") !== "img" || !e.getAttribute("aria-label")) bad.push("chart without role=img and aria-label");
		if (document.querySelectorAll("h1").length !== 1) bad.push(document.querySelectorAll("h1").length + " h1 headings");
		return bad;
	})()`))
	for _, m := range bad {
		t.Errorf("accessibility: %s", m)
	}
}

// shots saves a full-page screenshot of the current page at 1280 and 390
// px wide into the test's artifact directory (go test -artifacts keeps it).
func (b *browser) shots(t *testing.T, name string) {
	t.Helper()
	dir := t.ArtifactDir()
	for _, w := range []int64{1280, 390} {
		b.run(t, chromedp.EmulateViewport(w, 900))
		png := value(t, b, chromedp.FullScreenshot(100))
		if len(png) == 0 {
			t.Fatalf("empty screenshot of %s at %d px", name, w)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.png", name, w)), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b.run(t, chromedp.EmulateViewport(1280, 900))
}

// text is the text of the first visible node matching the CSS selector sel.
func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	return value(t, b, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
}

// visible waits until a node matching each CSS selector is visible.
func visible(sels ...string) chromedp.Action[chromedp.Void] {
	steps := make([]chromedp.Action[chromedp.Void], 0, len(sels))
	for _, s := range sels {
		steps = append(steps, chromedp.WaitVisible(chromedp.CSS(s)))
	}
	return chromedp.Steps(steps...)
}

// until waits until the JavaScript expression js is true.
func (b *browser) until(t *testing.T, js string) {
	t.Helper()
	value(t, b, chromedp.Poll[bool](js))
}

func click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)
}

// consoleServer is `sluice serve` with a managed endpoint "ep" (one worker
// always up) and an endpoint "idle" with no worker; top is added to the
// top of the config and epExtra to ep's entry.
func consoleServer(t *testing.T, top, epExtra string) *server {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	yaml := fmt.Sprintf("%sendpoints:\n  - id: ep\n    command: [%q]\n    workersMin: 1\n    workersMax: 2\n%s  - id: idle\n", top, bins.worker, epExtra)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return startServer(t, "", filepath.Join(dir, "data"), []string{"SLUICE_API_KEYS="}, "--config", cfg)
}

// TestConsoleBrowser drives the web console in a real headless Chromium
// against a real `sluice serve` with real worker processes: the overview,
// a job sent from the form reaching COMPLETED live, its detail page,
// cancelling a running job, retrying a failed one, the FAILED filter, and
// no JavaScript error on any page; screenshots of each page at 1280 and
// 390 px.
func TestConsoleBrowser(t *testing.T) {
	s := consoleServer(t, "", "")
	b := startBrowser(t)
	var sentID string

	t.Run("overview", func(t *testing.T) {
		b.run(t, chromedp.Navigate(s.url+"/"),
			visible(`section[data-endpoint="ep"] .stats`),
			visible(`section[data-endpoint="idle"]`),
			visible(`section[data-endpoint="ep"] .charts svg`))
		if got := b.text(t, `section[data-endpoint="ep"] h2`); got != "ep" {
			t.Errorf("endpoint card heading %q, want ep", got)
		}
		// The managed endpoint's worker comes up live (workersMin 1).
		b.run(t, visible(`section[data-endpoint="ep"] li[data-stat="idle"] .v:not(:empty)`))
		// A job finished through the API shows up live, without a reload.
		id := s.submit(t, "ep", `{"echo": "overview"}`)
		s.waitStatus(t, "", "ep", id, 30*time.Second, "COMPLETED")
		b.until(t, `document.querySelector('section[data-endpoint="ep"] li[data-stat="completed"] .v').textContent === "1"`)
		b.until(t, `document.querySelector('section[data-endpoint="ep"] .charts svg').getAttribute("aria-label").includes("completed 1")`)
		// A job on the endpoint without workers waits, and the card says why.
		s.submit(t, "idle", `{"echo": "waits"}`)
		b.run(t, visible(`section[data-endpoint="idle"] .waiting[data-reason="NO_WORKERS"]`))
		b.shots(t, "overview")
		b.labelled(t)
		b.noErrors(t)
	})

	t.Run("send", func(t *testing.T) {
		b.run(t, chromedp.Navigate(s.url+"/endpoints/ep/send"), visible(`#body`))
		// Invalid JSON disables Send and says why.
		// (SetValue cannot set an empty value in chromedp v0.23.1: it sends "undefined".)
		value(t, b, chromedp.Evaluate[string](`document.getElementById("body").value = ""`))
		b.run(t, chromedp.SendKeys(chromedp.CSS(`#body`), `{"input": `),
			visible(`#send[disabled]`))
		if msg := b.text(t, `#body-error`); !strings.Contains(msg, "JSON") {
			t.Errorf("validation message %q does not mention JSON", msg)
		}
		b.run(t, chromedp.SendKeys(chromedp.CSS(`#body`), `{"echo": "from-the-form", "sleep_ms": 1500}}`),
			visible(`#send:not([disabled])`),
			click(`#send`),
			// The status is seen while the job runs, then live at the end.
			visible(`#send-status .badge.IN_PROGRESS, #send-status .badge.IN_QUEUE`),
			visible(`#send-status .badge.COMPLETED`))
		if out := b.text(t, `#send-output`); !strings.Contains(out, "from-the-form") {
			t.Errorf("output shown %q, want the echo", out)
		}
		sentID = b.text(t, `#result a`)
		if !uuidRE.MatchString(sentID) {
			t.Fatalf("job link %q is not a job id", sentID)
		}
		b.shots(t, "send")
		b.labelled(t)
		b.noErrors(t)
	})

	t.Run("job detail", func(t *testing.T) {
		b.run(t, click(`#result a`),
			visible(`#job-status .badge.COMPLETED`),
			visible(`#output-pre`),
			visible(`#attempts-table`))
		if out := b.text(t, `#output-pre`); !strings.Contains(out, "from-the-form") {
			t.Errorf("output %q, want the echo", out)
		}
		if in := b.text(t, `#input-pre`); !strings.Contains(in, `"sleep_ms": 1500`) {
			t.Errorf("input %q, want the input sent", in)
		}
		if got := b.text(t, `#attempts-table tbody tr td:nth-child(5)`); got != "COMPLETED" {
			t.Errorf("attempt outcome %q, want COMPLETED", got)
		}
		// That job's own log lines, from the worker's output.
		b.until(t, `document.getElementById("job-log").textContent.includes("Finished.")`)
		// Download input as test_input.json: the browser saves {"input": ...}.
		dl := t.TempDir()
		if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl}); err != nil {
			t.Fatalf("allow downloads: %v", err)
		}
		b.run(t, click(`#download-input`))
		var saved []byte
		testutil.WaitFor(t, 30*time.Second, "test_input.json to be saved", func() bool {
			var err error
			saved, err = os.ReadFile(filepath.Join(dl, "test_input.json"))
			return err == nil && len(saved) > 0
		})
		var in struct {
			Input map[string]any `json:"input"`
		}
		if err := json.Unmarshal(saved, &in); err != nil || in.Input["echo"] != "from-the-form" {
			t.Errorf("test_input.json = %s (%v), want the job's input under \"input\"", saved, err)
		}
		b.run(t, click(`#copy-curl`), visible(`#curl`))
		if c := b.text(t, `#curl`); !strings.Contains(c, "/v2/ep/run") || !strings.Contains(c, "from-the-form") {
			t.Errorf("curl command %q", c)
		}
		loc := value(t, b, chromedp.Location())
		if want := s.url + "/endpoints/ep/jobs/" + sentID; loc != want {
			t.Errorf("job page URL %s, want %s", loc, want)
		}
		b.shots(t, "job")
		b.labelled(t)
		b.noErrors(t)
	})

	t.Run("progress", func(t *testing.T) {
		id := s.submit(t, "ep", `{"progress": 3, "sleep_ms": 700}`)
		b.run(t, chromedp.Navigate(s.url+"/endpoints/ep/jobs/"+id),
			visible(`#job-status .badge.IN_PROGRESS`, `#progress-pre`))
		if p := b.text(t, `#progress-pre`); !strings.Contains(p, `"step"`) {
			t.Errorf("progress shown %q, want a {\"step\": n} update", p)
		}
		b.run(t, visible(`#job-status .badge.COMPLETED`))
		b.noErrors(t)
	})

	t.Run("cancel running", func(t *testing.T) {
		id := s.submit(t, "ep", `{"sleep_ms": 60000}`)
		s.waitStatus(t, "", "ep", id, 30*time.Second, "IN_PROGRESS")
		// The endpoint page shows it as the current job of its worker, and links to it.
		b.run(t, chromedp.Navigate(s.url+"/endpoints/ep"),
			visible(`#workers-table a[href="/endpoints/ep/jobs/`+id+`"]`),
			click(`#workers-table a[href="/endpoints/ep/jobs/`+id+`"]`),
			visible(`#job-status .badge.IN_PROGRESS`),
			visible(`#cancel:not([disabled])`),
			click(`#cancel`),
			visible(`#job-status .badge.CANCELLED`),
			visible(`#cancel[disabled]`))
		if st := s.waitStatus(t, "", "ep", id, 5*time.Second, "CANCELLED"); st["status"] != "CANCELLED" {
			t.Errorf("API status %v after Cancel", st["status"])
		}
		b.noErrors(t)
	})

	var failedID string
	t.Run("retry failed", func(t *testing.T) {
		failedID = s.submit(t, "ep", `{"fail": "boom from the test"}`)
		s.waitStatus(t, "", "ep", failedID, 30*time.Second, "FAILED")
		b.run(t, chromedp.Navigate(s.url+"/endpoints/ep/jobs/"+failedID),
			visible(`#job-status .badge.FAILED`),
			visible(`#error-pre`))
		if e := b.text(t, `#error-pre`); !strings.Contains(e, "boom from the test") {
			t.Errorf("error shown %q", e)
		}
		b.shots(t, "job-failed")
		b.run(t, click(`#retry`),
			visible(`#attempts-table tbody tr:nth-child(2)`),
			visible(`#job-status .badge.FAILED`))
		if r := b.text(t, `#action-result`); !strings.Contains(r, "Retried") {
			t.Errorf("action result %q", r)
		}
		b.noErrors(t)
	})

	t.Run("filter failed", func(t *testing.T) {
		b.run(t, chromedp.Navigate(s.url+"/endpoints/ep"),
			visible(`#jobs-table tr[data-job="`+sentID+`"]`),
			visible(`#workers-table td`),
			chromedp.SetValue(chromedp.CSS(`#status-filter`), "FAILED"))
		value(t, b, chromedp.Evaluate[bool](`document.getElementById("status-filter").dispatchEvent(new Event("change"))`))
		b.run(t, visible(`#jobs-table tr[data-job="`+failedID+`"]`))
		if pid := b.text(t, `#workers-table tbody tr td:nth-child(4)`); strings.Trim(pid, "0123456789") != "" || pid == "" {
			t.Errorf("worker pid shown as %q", pid)
		}
		b.until(t, `document.getElementById("log").textContent.includes("Starting Serverless Worker")`)
		statuses := value(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#jobs-table tbody tr")].map(r => r.dataset.status)`))
		if len(statuses) == 0 {
			t.Fatal("no job listed under FAILED")
		}
		for _, st := range statuses {
			if st != "FAILED" {
				t.Errorf("job with status %s listed under FAILED", st)
			}
		}
		loc := value(t, b, chromedp.Location())
		if !strings.HasSuffix(loc, "/endpoints/ep?status=FAILED") {
			t.Errorf("filtered page URL %s does not keep the filter", loc)
		}
		b.shots(t, "endpoint")
		b.labelled(t)
		// Find a job by its id.
		b.run(t, chromedp.SendKeys(chromedp.CSS(`#job-search`), sentID), click(`#jobs-form button[type=submit]`),
			visible(`#jobs-table tr[data-job="`+sentID+`"]`))
		if n := value(t, b, chromedp.Evaluate[int](`document.querySelectorAll("#jobs-table tbody tr").length`)); n != 1 {
			t.Errorf("search by id lists %d jobs, want 1", n)
		}
		b.noErrors(t)
	})

	// The server stops promptly and cleanly (exit 0) with a page holding
	// event streams (the endpoint page: events and the log tail).
	t.Run("shutdown with pages open", func(t *testing.T) {
		b.run(t, chromedp.Navigate(s.url+"/endpoints/ep"), visible(`#workers-table td`))
		start := time.Now()
		s.stop()
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("sluice serve took %v to stop with console streams open", d)
		}
	})
}

// TestConsoleBrowserLogin: with apiKeys set the console asks for a key,
// refuses a wrong one, shows a per-endpoint key only its endpoint, keeps
// the key out of URLs and JavaScript's reach (an HttpOnly cookie holding
// an opaque token), and logs out.
func TestConsoleBrowserLogin(t *testing.T) {
	const topKey, epKey = "console-top-key-1234", "console-ep-key-5678"
	s := consoleServer(t, "apiKeys: ["+topKey+"]\n", "    apiKeys: ["+epKey+"]\n")
	b := startBrowser(t)

	// Any page sends an unauthenticated browser to the login form.
	b.run(t, chromedp.Navigate(s.url+"/endpoints/ep"), visible(`#login-form #key`))
	if loc := value(t, b, chromedp.Location()); !strings.Contains(loc, "/login?next=%2Fendpoints%2Fep") {
		t.Errorf("login URL %s does not carry the page to return to", loc)
	}
	b.shots(t, "login")
	b.labelled(t)

	b.run(t, chromedp.SendKeys(chromedp.CSS(`#key`), "wrong-key-0000"), click(`#login-submit`), visible(`#login-error`))
	if msg := b.text(t, `#login-error`); !strings.Contains(msg, "opens no endpoint") {
		t.Errorf("wrong-key message %q", msg)
	}
	loc := value(t, b, chromedp.Location())
	if strings.Contains(loc, "wrong-key") {
		t.Errorf("the key is in the URL: %s", loc)
	}
	if got := value(t, b, chromedp.Evaluate[string](`document.cookie`)); got != "" {
		t.Errorf("document.cookie = %q after a refused login, want none", got)
	}

	// The per-endpoint key opens ep only, and lands on the page asked for.
	b.run(t, chromedp.SendKeys(chromedp.CSS(`#key`), epKey), click(`#login-submit`),
		visible(`#jobs-table`, `#logout`))
	if loc := value(t, b, chromedp.Location()); loc != s.url+"/endpoints/ep" {
		t.Errorf("after login at %s, want %s/endpoints/ep", loc, s.url)
	}
	if got := value(t, b, chromedp.Evaluate[string](`document.cookie`)); got != "" {
		t.Errorf("document.cookie = %q: the session cookie must be HttpOnly", got)
	}
	b.run(t, chromedp.Navigate(s.url+"/"), visible(`section[data-endpoint="ep"] .stats`))
	if note := b.text(t, `#overview-note`); !strings.HasPrefix(note, "1 endpoint") {
		t.Errorf("overview with a key for ep only says %q, want 1 endpoint", note)
	}
	if n := value(t, b, chromedp.Evaluate[int](`document.querySelectorAll('[data-endpoint="idle"]').length`)); n != 0 {
		t.Errorf("the overview shows endpoint idle to a key that opens only ep")
	}
	// A job sent from the form with the session (the CSRF token travels in a header).
	b.run(t, chromedp.Navigate(s.url+"/endpoints/ep/send"), visible(`#send:not([disabled])`), click(`#mode-runsync`), click(`#send`),
		visible(`#send-status .badge.COMPLETED`))
	if out := b.text(t, `#send-output`); !strings.Contains(out, `"worker"`) {
		t.Errorf("runsync output %q", out)
	}

	b.run(t, click(`#logout`), visible(`#login-form #key`))
	b.run(t, chromedp.Navigate(s.url+"/"), visible(`#login-form`))
	b.noErrors(t)
}

// TestConsoleRoutes: on a real server the console answers its pages at
// their URLs while the API, the probes and /metrics keep theirs, and any
// other path gets the API's JSON 404.
func TestConsoleRoutes(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "", dir, []string{"SLUICE_API_KEYS="}, "--endpoint", "ep")
	for _, c := range []struct {
		path, ctype string
		code        int
	}{
		{"/", "text/html", 200},
		{"/endpoints/ep", "text/html", 200},
		{"/endpoints/ep/jobs/some-id", "text/html", 200},
		{"/endpoints/ep/send", "text/html", 200},
		{"/login", "text/html", 200},
		{"/console/static/app.js", "text/javascript", 200},
		{"/console/session", "application/json", 200},
		{"/console/api/v2/ep/health", "application/json", 200},
		{"/v2/ep/health", "application/json", 200},
		{"/v2/ep/jobs", "application/json", 200},
		{"/healthz", "application/json", 200},
		{"/readyz", "application/json", 200},
		{"/metrics", "text/plain", 200},
		{"/nothing", "application/json", 404},
		{"/endpoints/ep/extra/path/x", "application/json", 404},
		{"/console/nothing", "application/json", 404},
	} {
		r := s.do(t, "GET", c.path, "", nil)
		if r.code != c.code || !strings.HasPrefix(r.hdr.Get("Content-Type"), c.ctype) {
			t.Errorf("GET %s: %d %q, want %d %s", c.path, r.code, r.hdr.Get("Content-Type"), c.code, c.ctype)
		}
	}
}
