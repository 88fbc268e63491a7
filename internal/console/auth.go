package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
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

// session is one login: the key it was opened with and the CSRF token its
// mutations carry, sealed in the session cookie.
type session struct {
	key     string
	csrf    string
	expires time.Time
}

// sessions seal sessions into cookie values (AES-256-GCM under a key
// derived from Config.Secret), so that every replica sharing the secret
// reads a login opened on another, and keep the cookies logged out on this
// replica until they expire.
type sessions struct {
	ttl    time.Duration
	max    int
	secret func() []byte

	mu      sync.Mutex
	revoked map[[sha256.Size]byte]time.Time // logged-out cookies, by digest, until they expire
}

func newSessions(ttl time.Duration, limit int, secret func() []byte) *sessions {
	return &sessions{ttl: ttl, max: limit, secret: secret, revoked: map[[sha256.Size]byte]time.Time{}}
}

// sealedSession is a session as sealed in its cookie.
type sealedSession struct {
	Key     string `json:"k"`
	CSRF    string `json:"c"`
	Expires int64  `json:"e"` // unix seconds
}

// aead is the cipher of the current secret.
func (s *sessions) aead() cipher.AEAD {
	k := sha256.Sum256(append([]byte("sluice console session v1\x00"), s.secret()...))
	b, err := aes.NewCipher(k[:])
	if err != nil {
		panic("console: session cipher: " + err.Error()) // cannot happen: a 32-byte key
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		panic("console: session cipher: " + err.Error()) // cannot happen: AES has a 16-byte block
	}
	return a
}

// token is 32 random bytes, base64url.
func token() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// open starts a session for key and returns its cookie value.
func (s *sessions) open(key string, now time.Time) (string, session) {
	ss := session{key: key, csrf: token(), expires: now.Add(s.ttl).Truncate(time.Second)}
	plain, err := json.Marshal(sealedSession{Key: key, CSRF: ss.csrf, Expires: ss.expires.Unix()})
	if err != nil {
		panic("console: seal a session: " + err.Error()) // cannot happen: strings and a number
	}
	a := s.aead()
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(a.Seal(nonce, nonce, plain, nil)), ss
}

// get is the live session sealed in cookie value t: not forged or altered,
// sealed under the current secret, not expired and not logged out here.
func (s *sessions) get(t string, now time.Time) (session, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(t)
	a := s.aead()
	if err != nil || len(raw) < a.NonceSize()+a.Overhead() {
		return session{}, false
	}
	plain, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], nil)
	if err != nil {
		return session{}, false
	}
	var sv sealedSession
	if json.Unmarshal(plain, &sv) != nil {
		return session{}, false
	}
	ss := session{key: sv.Key, csrf: sv.CSRF, expires: time.Unix(sv.Expires, 0)}
	if !ss.expires.After(now) {
		return session{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, out := s.revoked[sha256.Sum256([]byte(t))]; out {
		return session{}, false
	}
	return ss, true
}

// close logs cookie value t out on this replica until it expires. At most
// max are kept; past that the ones expiring first are dropped.
func (s *sessions) close(t string, now time.Time) {
	ss, ok := s.get(t, now)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for d, exp := range s.revoked {
		if !exp.After(now) {
			delete(s.revoked, d)
		}
	}
	for len(s.revoked) >= s.max {
		var first [sha256.Size]byte
		var at time.Time
		for d, exp := range s.revoked {
			if at.IsZero() || exp.Before(at) {
				first, at = d, exp
			}
		}
		delete(s.revoked, first)
	}
	s.revoked[sha256.Sum256([]byte(t))] = ss.expires
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
		c.sessions.close(ck.Value, time.Now())
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	writeJSON(w, http.StatusOK, map[string]bool{"loggedOut": true})
}
