package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestScreen: "." and ".." segments get a JSON 404 (not ServeMux's
// redirect), and a huge number is not echoed in full.
func TestScreen(t *testing.T) {
	h := New(Config{Engine: newFakeEngine("ep")})
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, path := range []string{"/v2/ep/status/.", "/v2/ep/status/..", "/v2/ep/status/%2e%2e", "/v2/../v2/ep/health", "/v2/ep/cancel/./x"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.URL.Opaque = "//" + req.URL.Host + path // keep the dots as sent
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		var body errorBody
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || err != nil || body.Error == "" {
			t.Errorf("GET %s: %d %v %+v, want a JSON 404", path, resp.StatusCode, err, body)
		}
	}

	big := `{"input": {}, "policy": {"executionTimeout": 1` + strings.Repeat("0", 300) + `}}`
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v2/ep/run", strings.NewReader(big)))
	if rec.Code != http.StatusBadRequest || strings.Contains(rec.Body.String(), strings.Repeat("0", 30)) {
		t.Errorf("a 301-digit executionTimeout: %d %s", rec.Code, rec.Body)
	}
	if s := shortNumber(1e300); len(s) > 20 {
		t.Errorf("shortNumber(1e300) = %q", s)
	}
	if s := shortNumber(600000); s != "600000" {
		t.Errorf("shortNumber(600000) = %q", s)
	}
}
