package console

import (
	"bufio"
	"encoding/base64"
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestPagesLoadDirectly: every console URL answers the page with its
// security headers; other paths reach the API untouched.
func TestPagesLoadDirectly(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, false)
	for _, p := range []string{"/", "/login", "/endpoints/a", "/endpoints/a/send", "/endpoints/a/jobs/j1", "/endpoints/a%2Fb/jobs/x"} {
		res := tc.do(t, "GET", p, "")
		body := res.body
		if res.code != http.StatusOK || !strings.HasPrefix(res.hdr.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: %d %s, want 200 text/html", p, res.code, res.hdr.Get("Content-Type"))
		}
		if csp := res.hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", p, csp)
		}
		if !strings.Contains(string(body), `src="/console/static/app.js"`) {
			t.Errorf("GET %s: the page does not load app.js", p)
		}
	}
	for _, p := range []string{"/nothing", "/v2/a/health", "/endpoints/a/b/c", "/healthz"} {
		before := len(tc.api.called(p))
		res := tc.do(t, "GET", p, "")
		if len(tc.api.called(p)) != before+1 {
			t.Errorf("GET %s did not reach the API", p)
		}
		if ct := res.hdr.Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: Content-Type %q, want the API's JSON", p, ct)
		}
	}
}

// TestStaticEmbedded: the page's scripts and styles are served from the
// binary with their types, every module they import is embedded, and
// nothing is fetched from elsewhere.
func TestStaticEmbedded(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, false)
	importRE := regexp.MustCompile(`from "\./([a-z]+\.js)"`)
	urlRE := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?https?:|fetch\(\s*["']https?:|from\s+["']https?:`)
	err := fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(path)
		if err != nil {
			return err
		}
		if m := urlRE.Find(b); m != nil {
			t.Errorf("%s refers to another origin: %q", path, m)
		}
		for _, m := range importRE.FindAllSubmatch(b, -1) {
			if _, err := staticFS.ReadFile("static/" + string(m[1])); err != nil {
				t.Errorf("%s imports %s, which is not embedded", path, m[1])
			}
		}
		name := strings.TrimPrefix(path, "static/")
		if name == "index.html" {
			return nil // served as every page (TestPagesLoadDirectly)
		}
		res := tc.do(t, "GET", "/console/static/"+name, "")
		want := map[string]string{".js": "text/javascript", ".css": "text/css", ".html": "text/html"}[name[strings.LastIndex(name, "."):]]
		if res.code != http.StatusOK || !strings.HasPrefix(res.hdr.Get("Content-Type"), want) {
			t.Errorf("GET /console/static/%s: %d %q, want 200 %s", name, res.code, res.hdr.Get("Content-Type"), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpenConsole: without keys the console needs no login; the proxy
// sends no key, and a mutation still needs the CSRF header and this origin.
func TestOpenConsole(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, false)
	s := decode[sessionInfo](t, tc.do(t, "GET", "/console/session", ""))
	if s.NeedsKey || s.Authenticated || s.CSRF == "" {
		t.Errorf("open session %+v, want needsKey false and a CSRF token", s)
	}
	if res := tc.do(t, "POST", "/console/api/v2/a/cancel/j1", "{}"); res.code != http.StatusForbidden {
		t.Errorf("mutation without the CSRF header: %d, want 403", res.code)
	}
	if res := tc.do(t, "POST", "/console/api/v2/a/cancel/j1", "{}", headerCSRF, s.CSRF, "Sec-Fetch-Site", "cross-site"); res.code != http.StatusForbidden {
		t.Errorf("cross-site mutation: %d, want 403", res.code)
	}
	if n := len(tc.api.called("/v2/a/cancel/j1")); n != 0 {
		t.Fatalf("refused mutations reached the API %d times", n)
	}
	// The fake API wants a key, so the open console's keyless call gets its 401.
	if res := tc.do(t, "POST", "/console/api/v2/a/cancel/j1", "{}", headerCSRF, s.CSRF, "Sec-Fetch-Site", "same-origin"); res.code != http.StatusUnauthorized {
		t.Errorf("same-origin mutation: %d, want the API's 401", res.code)
	}
	if c := tc.api.called("/v2/a/cancel/j1"); len(c) != 1 || c[0].auth != "" || c[0].csrf != "" {
		t.Errorf("API calls %+v, want one without Authorization and CSRF headers", c)
	}
}

// TestLoginSessionAndKeyRules: a wrong key is refused without a cookie; a
// right one gets an HttpOnly, SameSite=Strict, Path=/ cookie that holds an
// opaque token, not the key; the proxy then presents the key (and no
// cookie) to the API, whose per-endpoint rules hold; mutations need the
// session's CSRF token and this origin; logout ends the session.
func TestLoginSessionAndKeyRules(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, true)
	if res := tc.do(t, "GET", "/console/api/v2/a/health", ""); res.code != http.StatusUnauthorized {
		t.Errorf("API through the console before login: %d, want 401", res.code)
	}
	if res := tc.do(t, "GET", "/console/events", ""); res.code != http.StatusUnauthorized {
		t.Errorf("events before login: %d, want 401", res.code)
	}
	ck, loc := tc.login(t, "wrong-key", "/endpoints/a")
	if ck != nil || loc != "/login?error=invalid&next=%2Fendpoints%2Fa" {
		t.Errorf("wrong key: cookie %v, Location %q", ck, loc)
	}
	ck, loc = tc.login(t, keyA, "/endpoints/a")
	if ck == nil || loc != "/endpoints/a" {
		t.Fatalf("right key: cookie %v, Location %q", ck, loc)
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || strings.Contains(ck.Value, keyA) || len(ck.Value) < 40 {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/, an opaque token", ck)
	}
	cookie := ck.Name + "=" + ck.Value
	s := decode[sessionInfo](t, tc.do(t, "GET", "/console/session", "", "Cookie", cookie))
	if !s.NeedsKey || !s.Authenticated || len(s.CSRF) < 40 {
		t.Fatalf("session %+v", s)
	}
	if res := tc.do(t, "GET", "/console/api/v2/a/health", "", "Cookie", cookie); res.code != http.StatusOK {
		t.Errorf("health of a with key A: %d", res.code)
	}
	if c := tc.api.called("/v2/a/health"); len(c) != 1 || c[0].auth != "Bearer "+keyA || c[0].cookie != "" {
		t.Errorf("API saw %+v, want the key and no cookie", c)
	}
	if res := tc.do(t, "GET", "/console/api/v2/b/health", "", "Cookie", cookie); res.code != http.StatusUnauthorized {
		t.Errorf("health of b with key A: %d, want the API's 401", res.code)
	}
	if res := tc.do(t, "GET", "/console/settings/b", "", "Cookie", cookie); res.code != http.StatusUnauthorized {
		t.Errorf("settings of b with key A: %d, want 401", res.code)
	}
	if res := tc.do(t, "GET", "/console/settings/a", "", "Cookie", cookie); res.code != http.StatusOK {
		t.Errorf("settings of a with key A: %d, want 200", res.code)
	}
	for _, h := range [][]string{
		{"Cookie", cookie},
		{"Cookie", cookie, headerCSRF, "open"},
		{"Cookie", cookie, headerCSRF, s.CSRF, "Origin", "http://evil.example"},
		{"Cookie", cookie, headerCSRF, s.CSRF, "Sec-Fetch-Site", "cross-site"},
	} {
		if res := tc.do(t, "POST", "/console/api/v2/a/cancel/j1", "{}", h...); res.code != http.StatusForbidden {
			t.Errorf("mutation with %q: %d, want 403", h[2:], res.code)
		}
	}
	if n := len(tc.api.called("/v2/a/cancel/j1")); n != 0 {
		t.Fatalf("refused mutations reached the API %d times", n)
	}
	res := tc.do(t, "POST", "/console/api/v2/a/cancel/j1", "{}", "Cookie", cookie, headerCSRF, s.CSRF, "Origin", tc.srv.URL)
	if res.code != http.StatusOK {
		t.Errorf("same-origin mutation with the token: %d, want 200", res.code)
	}
	res = tc.do(t, "POST", "/console/logout", "", "Cookie", cookie, headerCSRF, s.CSRF)
	if res.code != http.StatusOK || len(res.cookies) != 1 || res.cookies[0].MaxAge >= 0 {
		t.Errorf("logout: %d, cookies %v", res.code, res.cookies)
	}
	if res := tc.do(t, "GET", "/console/api/v2/a/health", "", "Cookie", cookie); res.code != http.StatusUnauthorized {
		t.Errorf("after logout: %d, want 401", res.code)
	}
}

// TestLoginRefusals: another site's form cannot log in, the redirect stays
// on this site, and an over-long key is refused.
func TestLoginRefusals(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, true)
	res := tc.do(t, "POST", "/console/login", "key="+keyA, "Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "cross-site")
	if res.code != http.StatusForbidden || len(res.cookies) != 0 {
		t.Errorf("cross-site login: %d with cookies %v, want 403 and none", res.code, res.cookies)
	}
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", ""} {
		if ck, loc := tc.login(t, keyA, next); ck == nil || loc != "/" {
			t.Errorf("next=%q: Location %q, want /", next, loc)
		}
	}
	if ck, loc := tc.login(t, strings.Repeat("k", maxKeyLength+1), "/"); ck != nil || !strings.Contains(loc, "error=empty") {
		t.Errorf("over-long key: cookie %v, Location %q", ck, loc)
	}
}

// TestSessionsSealed: a login cookie opens on every replica with the same
// secret and on none with another; an altered, expired or logged-out one
// is refused, and the logged-out ones kept are bounded.
func TestSessionsSealed(t *testing.T) {
	t.Parallel()
	secret := func(b string) func() []byte { return func() []byte { return []byte(b) } }
	a, replica, other := newSessions(time.Hour, 2, secret("k1")), newSessions(time.Hour, 2, secret("k1")), newSessions(time.Hour, 2, secret("k2"))
	now := time.Now()
	tok, ss := a.open("key-a", now)
	if strings.Contains(tok, "key-a") || ss.key != "key-a" || ss.csrf == "" {
		t.Fatalf("cookie %q, session %+v", tok, ss)
	}
	if got, ok := replica.get(tok, now.Add(time.Minute)); !ok || got.key != "key-a" || got.csrf != ss.csrf {
		t.Errorf("another replica with the same secret read %+v, %v", got, ok)
	}
	if _, ok := other.get(tok, now); ok {
		t.Error("a replica with another secret accepted the cookie")
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	testutil.NoErr(t, err)
	raw[len(raw)-1] ^= 1
	for _, bad := range []string{base64.RawURLEncoding.EncodeToString(raw), "", "x", tok + "x"} {
		if _, ok := a.get(bad, now); ok {
			t.Errorf("altered cookie %q accepted", bad)
		}
	}
	if _, ok := a.get(tok, now.Add(2*time.Hour)); ok {
		t.Error("an expired session is still valid")
	}
	// Logged out here: refused here until it expires; three logouts keep two.
	b, _ := a.open("key-b", now.Add(time.Second))
	c, _ := a.open("key-c", now.Add(2*time.Second))
	for _, x := range []string{tok, b, c} {
		a.close(x, now.Add(3*time.Second))
	}
	if _, ok := a.get(c, now.Add(4*time.Second)); ok {
		t.Error("a logged-out session is still valid")
	}
	if len(a.revoked) != 2 {
		t.Errorf("%d logged-out cookies kept, want 2", len(a.revoked))
	}
}

// TestEvents: the stream sends what the key may see (endpoint a only for
// key A), the endpoint's workers and the job, heartbeats while nothing
// changes, and ends when the client goes (goleak checks the goroutines).
func TestEvents(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, true, func(c *Config) { c.Tick = 10 * time.Millisecond; c.Heartbeat = 30 * time.Millisecond })
	ck, _ := tc.login(t, keyA, "/")
	res := tc.open(t, "GET", "/console/events?ep=a&job=j1", "", "Cookie", ck.Name+"="+ck.Value)
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	got := map[string]string{}
	heartbeats := 0
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	deadline := time.Now().Add(10 * time.Second)
	event := ""
	for heartbeats < 2 || len(got) < 4 {
		if time.Now().After(deadline) || !sc.Scan() {
			t.Fatalf("stream ended or stalled: events %v, heartbeats %d", got, heartbeats)
		}
		line := sc.Text()
		switch {
		case line == ": heartbeat":
			heartbeats++
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if _, dup := got[event]; dup {
				t.Errorf("event %s sent again though unchanged", event)
			}
			got[event] = strings.TrimPrefix(line, "data: ")
		}
	}
	if e := got["endpoints"]; !strings.Contains(e, `"id":"a"`) || strings.Contains(e, `"id":"b"`) || !strings.Contains(e, `"health":{"jobs"`) {
		t.Errorf("endpoints event for key A: %s", e)
	}
	if s := got["series"]; !strings.Contains(s, `"a":{`) || strings.Contains(s, `"b":{`) {
		t.Errorf("series event for key A: %s", s)
	}
	if w := got["workers"]; !strings.Contains(w, `"pid":42`) {
		t.Errorf("workers event: %s", w)
	}
	if j := got["job"]; !strings.Contains(j, `"code":200`) || !strings.Contains(j, `"status":"COMPLETED"`) {
		t.Errorf("job event: %s", j)
	}
	if res := tc.do(t, "GET", "/console/events?job=j1", "", "Cookie", ck.Name+"="+ck.Value); res.code != http.StatusBadRequest {
		t.Errorf("job without ep: %d, want 400", res.code)
	}
}

// TestEventsEndWithServer: an open stream ends when the server closes.
func TestEventsEndWithServer(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, false, func(c *Config) { c.Tick = 10 * time.Millisecond })
	res := tc.open(t, "GET", "/console/events", "")
	defer res.Body.Close()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		tc.srv.CloseClientConnections()
		tc.srv.Close()
	}()
	// The read ends when the server cuts the stream; the request's own
	// deadline (requestTimeout) bounds it otherwise.
	start := time.Now()
	_, _ = io.Copy(io.Discard, res.Body)
	if d := time.Since(start); d >= requestTimeout {
		t.Fatalf("the event stream did not end with the server (read for %v)", d)
	}
	<-closed
}

// FuzzSafeNext: the page to return to after login is always on this site.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "/endpoints/a", "//evil", "/\\evil", "https://x", "/a\r\nSet-Cookie: x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, "/\\") || strings.ContainsAny(got, "\r\n") {
			t.Errorf("safeNext(%q) = %q", next, got)
		}
	})
}
