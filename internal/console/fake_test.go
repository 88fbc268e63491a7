package console

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI stands in for the /v2 API with its key rules: keyAll opens
// endpoints a and b, keyA opens a only. It records what it was sent.
type fakeAPI struct {
	mu    sync.Mutex
	calls []fakeCall
	mux   *http.ServeMux
}

type fakeCall struct {
	method, path, auth, cookie, csrf string
}

const (
	keyAll = "key-all-0123456789"
	keyA   = "key-a-0123456789"
)

func newFakeAPI() *fakeAPI {
	f := &fakeAPI{mux: http.NewServeMux()}
	allowed := func(ep, auth string) bool {
		key := strings.TrimPrefix(auth, "Bearer ")
		return key == keyAll || (key == keyA && ep == "a")
	}
	client := func(h func(w http.ResponseWriter, r *http.Request, ep string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			ep := r.PathValue("ep")
			if !allowed(ep, r.Header.Get("Authorization")) {
				writeJSON(w, http.StatusUnauthorized, errorBody{"invalid API key for endpoint " + ep})
				return
			}
			h(w, r, ep)
		}
	}
	f.mux.HandleFunc("GET /v2/endpoints", func(w http.ResponseWriter, r *http.Request) {
		var out []map[string]any
		for _, ep := range []string{"a", "b"} {
			if allowed(ep, r.Header.Get("Authorization")) {
				out = append(out, map[string]any{"id": ep, "managed": true, "workersMax": 3, "inQueue": 0, "inProgress": 0})
			}
		}
		if len(out) == 0 {
			writeJSON(w, http.StatusUnauthorized, errorBody{"missing API key"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"endpoints": out})
	})
	f.mux.HandleFunc("GET /v2/{ep}/health", client(func(w http.ResponseWriter, r *http.Request, ep string) {
		writeJSON(w, http.StatusOK, map[string]any{"jobs": map[string]int{"completed": 1}, "workers": map[string]int{"idle": 1}})
	}))
	f.mux.HandleFunc("GET /v2/{ep}/workers", client(func(w http.ResponseWriter, r *http.Request, ep string) {
		writeJSON(w, http.StatusOK, map[string]any{"workers": []map[string]any{{"id": "w1", "status": "IDLE", "pid": 42}}})
	}))
	f.mux.HandleFunc("GET /v2/{ep}/jobs/{id}", client(func(w http.ResponseWriter, r *http.Request, ep string) {
		if r.PathValue("id") != "j1" {
			writeJSON(w, http.StatusNotFound, errorBody{"job not found"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": "j1", "status": "COMPLETED"})
	}))
	f.mux.HandleFunc("POST /v2/{ep}/cancel/{id}", client(func(w http.ResponseWriter, r *http.Request, ep string) {
		writeJSON(w, http.StatusOK, map[string]any{"id": r.PathValue("id"), "status": "CANCELLED"})
	}))
	f.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{"no such route: " + r.URL.Path})
	})
	return f
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Cookie"), r.Header.Get(headerCSRF)})
	f.mu.Unlock()
	f.mux.ServeHTTP(w, r)
}

// called reports the calls made to path.
func (f *fakeAPI) called(path string) []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeCall
	for _, c := range f.calls {
		if c.path == path {
			out = append(out, c)
		}
	}
	return out
}

// testConsole is a console in front of a fakeAPI on a loopback server.
type testConsole struct {
	c   *Console
	api *fakeAPI
	srv *httptest.Server
}

func newTestConsole(t *testing.T, needsKey bool, mod ...func(*Config)) *testConsole {
	t.Helper()
	f := newFakeAPI()
	cfg := Config{API: f, NeedsKey: func() bool { return needsKey }, Series: NewSeries(nil),
		Settings: func(ep string) (any, bool) {
			return map[string]int{"workersMax": 3}, slices.Contains([]string{"a", "b"}, ep)
		}}
	for _, m := range mod {
		m(&cfg)
	}
	c := New(cfg)
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return &testConsole{c: c, api: f, srv: srv}
}

// client never follows redirects, so tests see them.
func (tc *testConsole) client() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// requestTimeout bounds every test request.
const requestTimeout = 20 * time.Second

// answer is a response, read whole.
type answer struct {
	code    int
	hdr     http.Header
	body    []byte
	cookies []*http.Cookie
}

// open sends a request and returns the response for the caller to read
// and close; hdr are header name, value pairs.
func (tc *testConsole) open(t *testing.T, method, path, body string, hdr ...string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), requestTimeout)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, tc.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := tc.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// do sends a request and reads the whole answer.
func (tc *testConsole) do(t *testing.T, method, path, body string, hdr ...string) answer {
	t.Helper()
	res := tc.open(t, method, path, body, hdr...)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return answer{code: res.StatusCode, hdr: res.Header, body: b, cookies: res.Cookies()}
}

// login posts key and returns the session cookie ("" when refused) and
// the redirect.
func (tc *testConsole) login(t *testing.T, key, next string) (*http.Cookie, string) {
	t.Helper()
	form := url.Values{"key": {key}, "next": {next}}.Encode()
	res := tc.do(t, "POST", "/console/login", form, "Content-Type", "application/x-www-form-urlencoded", "Origin", tc.srv.URL)
	if res.code != http.StatusSeeOther {
		t.Fatalf("login answered %d, want 303", res.code)
	}
	for _, c := range res.cookies {
		if c.Name == cookieName && c.Value != "" {
			return c, res.hdr.Get("Location")
		}
	}
	return nil, res.hdr.Get("Location")
}

func decode[T any](t *testing.T, res answer) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(res.body, &v); err != nil {
		t.Fatalf("decode %q: %v", res.body, err)
	}
	return v
}
