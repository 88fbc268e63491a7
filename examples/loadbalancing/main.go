// Command loadbalancing is a worker of a load-balancing endpoint (type LB):
// a plain net/http server, no handler SDK. Sluice (or Runpod) starts it
// with PORT and PORT_HEALTH set (HOST, default 0.0.0.0, is the address it
// listens on) and sends it requests once GET /ping
// answers 200:
//
//	GET  /ping              200 {"status": "healthy"}
//	POST /generate          {"prompt": "hi"} -> {"text": "...", "worker": "..."}
//	GET  /stream?text=a+b   text/event-stream, one event per word
//
// Through `sluice serve --config examples/sluice.yaml`:
//
//	curl -s -X POST http://127.0.0.1:8080/lb/web/generate -d '{"prompt": "hello"}'
//	curl -sN 'http://127.0.0.1:8080/lb/web/stream?text=one+two+three'
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Log attribute keys.
const (
	attrMethod = "method"
	attrPath   = "path"
	attrErr    = "err"
	attrAddr   = "addr"
)

func main() {
	if err := run(); err != nil {
		slog.Error("loadbalancing worker", attrErr, err)
		os.Exit(1)
	}
}

func run() error {
	host := envOr("HOST", "0.0.0.0") // examples/sluice.yaml sets 127.0.0.1
	port := envOr("PORT", "8000")
	health := envOr("PORT_HEALTH", port)
	worker := os.Getenv("RUNPOD_POD_ID")

	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", ping)
	mux.HandleFunc("POST /generate", func(w http.ResponseWriter, r *http.Request) { generate(w, r, worker) })
	mux.HandleFunc("GET /stream", stream)

	servers := []*http.Server{{Addr: host + ":" + port, Handler: logged(mux), ReadHeaderTimeout: 10 * time.Second}}
	if health != port {
		hm := http.NewServeMux()
		hm.HandleFunc("GET /ping", ping)
		servers = append(servers, &http.Server{Addr: host + ":" + health, Handler: hm, ReadHeaderTimeout: 10 * time.Second})
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errs := make(chan error, len(servers))
	for _, s := range servers {
		slog.Info("listening", attrAddr, s.Addr)
		go func() {
			if err := s.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("serve %s: %w", s.Addr, err)
			}
		}()
	}
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
	}
	// SIGTERM: finish the requests in flight, then exit.
	shutdown, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(shutdown); err != nil {
			return fmt.Errorf("shut down %s: %w", s.Addr, err)
		}
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// ping answers 200 once the worker is ready (here: at once; a model
// server would answer 204 while it loads).
func ping(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "healthy"})
}

func generate(w http.ResponseWriter, r *http.Request, worker string) {
	var req struct {
		Prompt string `json:"prompt"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || req.Prompt == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `send {"prompt": "..."}`})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"text": "you said: " + req.Prompt, "worker": worker})
}

// stream sends each word of ?text= as its own server-sent event, flushed
// as it is written, then "data: [DONE]".
func stream(w http.ResponseWriter, r *http.Request) {
	words := strings.Fields(r.URL.Query().Get("text"))
	if len(words) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "give ?text=some+words"})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for i, word := range words {
		if i > 0 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond): // a token's worth of work
			}
		}
		b, _ := json.Marshal(map[string]string{"token": word}) // a string map always marshals
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
	_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
}

func logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slog.Info("request", attrMethod, r.Method, attrPath, r.URL.Path)
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do then
}
