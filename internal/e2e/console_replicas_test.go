package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestConsoleLoginAcrossReplicas: a console login opened on one replica
// holds on the other (the cookie is sealed with a secret both derive from
// the config's keys), as behind a load balancer without session affinity.
func TestConsoleLoginAcrossReplicas(t *testing.T) {
	a, b, _ := twoReplicas(t)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.PostForm(a.url+"/console/login", url.Values{"key": {clientKey}, "next": {"/endpoints/ep"}})
	testutil.NoErr(t, err)
	res.Body.Close()
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Value != "" {
			cookie = c
		}
	}
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/endpoints/ep" || cookie == nil {
		t.Fatalf("login on replica a: %d, Location %q, cookies %v", res.StatusCode, res.Header.Get("Location"), res.Cookies())
	}
	if strings.Contains(cookie.Value, clientKey) {
		t.Fatalf("the cookie holds the key in the clear: %q", cookie.Value)
	}

	get := func(s *server, path string, withCookie bool) (int, []byte) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url+path, nil)
		testutil.NoErr(t, err)
		if withCookie {
			req.AddCookie(cookie)
		}
		r, err := http.DefaultClient.Do(req)
		testutil.NoErr(t, err)
		defer r.Body.Close()
		var body json.RawMessage
		testutil.NoErr(t, json.NewDecoder(r.Body).Decode(&body))
		return r.StatusCode, body
	}
	for _, s := range []*server{a, b} {
		code, body := get(s, "/console/session", true)
		var info struct {
			Authenticated bool   `json:"authenticated"`
			CSRF          string `json:"csrf"`
		}
		testutil.NoErr(t, json.Unmarshal(body, &info))
		if code != http.StatusOK || !info.Authenticated || info.CSRF == "" || info.CSRF == "open" {
			t.Errorf("session on %s: %d %s", s.url, code, body)
		}
		if code, body := get(s, "/console/api/v2/ep/health", true); code != http.StatusOK {
			t.Errorf("health through the console on %s: %d %s", s.url, code, body)
		}
	}
	// Without the cookie the console's API calls are refused.
	if code, body := get(b, "/console/api/v2/ep/health", false); code != http.StatusUnauthorized {
		t.Errorf("health through the console without a login: %d %s", code, body)
	}
}
