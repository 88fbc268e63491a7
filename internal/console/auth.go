package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxKeyLength bounds a key typed into the login form.
const maxKeyLength = 1024

// session is one login: the key it was opened with (kept server-side only)
// and the CSRF token its mutations carry.
type session struct {
	key     string
	csrf    string
	expires time.Time
}

// sessions are the logins in force, by opaque cookie token.
type sessions struct {
	ttl time.Duration
	max int
	mu  sync.Mutex
	m   map[string]session
}

func newSessions(ttl time.Duration, limit int) *sessions {
	return &sessions{ttl: ttl, max: limit, m: map[string]session{}}
}

// token is 32 random bytes, base64url.
func token() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// open starts a session for key and returns its cookie token.
func (s *sessions) open(key string, now time.Time) (string, session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		var oldest string
		var at time.Time
		for t, ss := range s.m {
			if ss.expires.Before(now) {
				delete(s.m, t)
				continue
			}
			if oldest == "" || ss.expires.Before(at) {
				oldest, at = t, ss.expires
			}
		}
		if len(s.m) >= s.max {
			delete(s.m, oldest)
		}
	}
	t := token()
	ss := session{key: key, csrf: token(), expires: now.Add(s.ttl)}
	s.m[t] = ss
	return t, ss
}

// get is the live session of token t.
func (s *sessions) get(t string, now time.Time) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[t]
	if ok && !ss.expires.After(now) {
		delete(s.m, t)
		return session{}, false
	}
	return ss, ok
}

func (s *sessions) close(t string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, t)
}

// current is r's session, if its cookie names a live one.
func (c *Console) current(r *http.Request) (session, bool) {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return session{}, false
	}
	return c.sessions.get(ck.Value, time.Now())
}

// authError is why a console request is refused.
type authError struct {
	code int
	msg  string
}

// authorize returns the key to present to the API for r ("" without a
// session: the API's open endpoints only). A mutation (any method but GET
// and HEAD) must come from this origin and carry the session's CSRF token
// (without a session, any non-empty token: the header alone keeps other
// sites' forms and simple requests out).
func (c *Console) authorize(r *http.Request) (string, *authError) {
	ss, ok := c.current(r)
	if !ok && c.cfg.NeedsKey() {
		return "", &authError{http.StatusUnauthorized, "log in to the console with an API key first"}
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return ss.key, nil
	}
	if err := c.cop.Check(r); err != nil {
		return "", &authError{http.StatusForbidden, "cross-origin request refused: " + err.Error()}
	}
	got := r.Header.Get(headerCSRF)
	if got == "" || (ok && subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) != 1) {
		return "", &authError{http.StatusForbidden, "missing or wrong " + headerCSRF + " header: reload the console page"}
	}
	return ss.key, nil
}

// sessionInfo is the body of GET /console/session.
type sessionInfo struct {
	NeedsKey      bool   `json:"needsKey"`
	Authenticated bool   `json:"authenticated"`
	CSRF          string `json:"csrf"`
}

// session tells the page whether it must log in, and the CSRF token for
// its mutations.
func (c *Console) session(w http.ResponseWriter, r *http.Request) {
	ss, ok := c.current(r)
	info := sessionInfo{NeedsKey: c.cfg.NeedsKey(), Authenticated: ok, CSRF: ss.csrf}
	if !ok {
		info.CSRF = "open" // no session: any non-empty token (see authorize)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, info)
}

// safeNext is next when it is a path on this site, else "/".
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

// login checks the posted key against the API (it must open at least one
// endpoint) and opens a session: 303 to next, or back to the login page
// with an error. The key never appears in a URL.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if err := c.cop.Check(r); err != nil {
		writeJSON(w, http.StatusForbidden, errorBody{"cross-origin login refused: " + err.Error()})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{"the login form could not be read: " + err.Error()})
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	key := strings.TrimSpace(r.PostForm.Get("key"))
	fail := func(reason string) {
		c.log.Info("console login refused", attrRemote, r.RemoteAddr, attrReason, reason)
		http.Redirect(w, r, "/login?"+url.Values{"error": {reason}, "next": {next}}.Encode(), http.StatusSeeOther)
	}
	if key == "" || len(key) > maxKeyLength {
		fail("empty")
		return
	}
	code, body := c.call(r.Context(), key, http.MethodGet, "/v2/endpoints")
	var list struct {
		Endpoints []json.RawMessage `json:"endpoints"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list.Endpoints) == 0 {
		if code == http.StatusTooManyRequests {
			fail("limited")
			return
		}
		fail("invalid")
		return
	}
	t, _ := c.sessions.open(key, time.Now())
	c.log.Info("console login", attrRemote, r.RemoteAddr)
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: t, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: int(c.cfg.SessionTTL.Seconds()),
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session and clears its cookie.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if _, aerr := c.authorize(r); aerr != nil && aerr.code == http.StatusForbidden {
		writeJSON(w, aerr.code, errorBody{aerr.msg})
		return
	}
	if ck, err := r.Cookie(cookieName); err == nil {
		c.sessions.close(ck.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	writeJSON(w, http.StatusOK, map[string]bool{"loggedOut": true})
}
