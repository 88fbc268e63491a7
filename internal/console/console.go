// Package console serves Sluice's web console on `sluice serve`: pages for
// the overview, each endpoint, each job and a request form, at their own
// URLs (/, /endpoints/{ep}, /endpoints/{ep}/jobs/{id}, /endpoints/{ep}/send,
// /login), built from plain HTML, CSS and JavaScript embedded in the binary.
//
// The pages read and change everything through the /v2 API: a request to
// /console/api/v2/... is handed to the API handler with the key of the
// browser's session, so the console applies exactly the API's key rules (a
// key that opens one endpoint sees that endpoint only). With client keys
// configured the console asks for one once (POST /console/login) and keeps
// it server-side behind an opaque HttpOnly, SameSite=Strict session cookie;
// mutations need the session's CSRF token in a header and a same-origin
// request. GET /console/events is a server-sent event stream of live
// figures (endpoints, workers, one job, the per-minute charts).
//
// Every other path goes to the API handler unchanged.
package console

import (
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

//go:embed static
var staticFS embed.FS

// Defaults of Config.
const (
	DefaultSessionTTL  = 12 * time.Hour
	DefaultHeartbeat   = 15 * time.Second
	DefaultTick        = time.Second
	DefaultMaxSessions = 10000
	cookieName         = "sluice_session"
	headerCSRF         = "X-Sluice-Csrf"
	apiPrefix          = "/console/api"
	attrRemote         = "remote"
	attrReason         = "reason"
)

// Config configures New. API is required.
type Config struct {
	// API serves the /v2 API (and every path that is not the console's).
	API http.Handler
	// Internal serves the calls the console makes by itself (login checks,
	// the event stream's figures). Default: API. (The server passes the API
	// without request metrics, so that open consoles do not count.)
	Internal http.Handler
	// NeedsKey reports whether client API keys are configured: the console
	// then asks for one. Default: never.
	NeedsKey func() bool
	// Series feeds the charts. Default: none (empty charts).
	Series *Series
	// Settings describes an endpoint's scaler settings for its page; false
	// for an unknown endpoint. Default: none shown.
	Settings func(endpoint string) (any, bool)
	// Secret seals the login cookies: replicas that return the same bytes
	// read each other's logins, and a change of secret ends every login.
	// It must hold something clients do not know (the server derives it
	// from all its keys). Default: random bytes of this process.
	Secret func() []byte
	// SessionTTL is how long a login lasts. Default DefaultSessionTTL.
	SessionTTL time.Duration
	// MaxSessions bounds the logged-out cookies this replica refuses until
	// they expire; past it those expiring first are dropped. Default
	// DefaultMaxSessions.
	MaxSessions int
	// Heartbeat is the interval of the event stream's keep-alive comments.
	// Default DefaultHeartbeat.
	Heartbeat time.Duration
	// Tick is how often the event stream looks for changes. Default
	// DefaultTick.
	Tick time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Console is the console's http.Handler. Create it with New.
type Console struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	sessions *sessions
	static   http.Handler
	cop      *http.CrossOriginProtection
}

// New returns the console in front of cfg.API.
func New(cfg Config) *Console {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Tick <= 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.Internal == nil {
		cfg.Internal = cfg.API
	}
	if cfg.NeedsKey == nil {
		cfg.NeedsKey = func() bool { return false }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Secret == nil {
		secret := []byte(token())
		cfg.Secret = func() []byte { return secret }
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic("console: embedded static files: " + err.Error()) // cannot happen: the directory is embedded
	}
	c := &Console{
		cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(),
		sessions: newSessions(cfg.SessionTTL, cfg.MaxSessions, cfg.Secret),
		static:   http.StripPrefix("/console/static/", http.FileServerFS(sub)),
		cop:      http.NewCrossOriginProtection(),
	}
	page := http.HandlerFunc(c.page)
	for _, p := range []string{"GET /{$}", "GET /login", "GET /endpoints/{ep}", "GET /endpoints/{ep}/send", "GET /endpoints/{ep}/jobs/{id}"} {
		c.mux.Handle(p, page)
	}
	c.mux.HandleFunc("GET /console/static/", c.serveStatic)
	c.mux.HandleFunc("POST /console/login", c.login)
	c.mux.HandleFunc("POST /console/logout", c.logout)
	c.mux.HandleFunc("GET /console/session", c.session)
	c.mux.HandleFunc("GET /console/events", c.events)
	c.mux.HandleFunc("GET /console/settings/{ep}", c.settings)
	c.mux.HandleFunc(apiPrefix+"/v2/", c.proxy)
	c.mux.Handle("/", cfg.API)
	return c
}

// isConsolePath reports whether the console serves path; every other path
// goes to the API untouched (its own 404s and path checks included).
func isConsolePath(path string) bool {
	return path == "/" || path == "/login" || strings.HasPrefix(path, "/endpoints/") || strings.HasPrefix(path, "/console/")
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !isConsolePath(r.URL.Path) {
		c.cfg.API.ServeHTTP(w, r)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// securityHeaders are sent with every page and static file: no framing,
// scripts and styles from this origin only, no referrer.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// page serves the console's one HTML page: its script renders the view
// the URL names, so every view loads directly.
func (c *Console) page(w http.ResponseWriter, r *http.Request) {
	b, err := staticFS.ReadFile("static/index.html")
	if err != nil {
		http.Error(w, "console page missing", http.StatusInternalServerError)
		return
	}
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

func (c *Console) serveStatic(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	w.Header().Set("Cache-Control", "no-cache")
	c.static.ServeHTTP(w, r)
}
