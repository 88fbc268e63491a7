// Command lbworker is a load-balancing worker on net/http for the tests:
// it listens on $PORT (and serves /ping on $PORT_HEALTH, the same server
// when both are equal), as a worker of a Runpod load-balancing endpoint.
//
//	GET  /ping          204 until LB_READY_AFTER_MS have passed (never with LB_NEVER_READY=1), then 200
//	ANY  /echo/...      {"worker", "method", "path", "query", "body", "authorization", "forwardedFor"}
//	GET  /stream        chunked: "first\n", then "second\n" once /release is called
//	GET  /sse           text/event-stream: "data: first", then "data: second" once /release is called
//	POST /release       lets the streams above finish
//	GET  /hang          answers once the client goes away
//	GET  /upgrade       Upgrade: echo; echoes the lines it reads back
//	POST /sick          /ping answers 500 from now on
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	port, health := os.Getenv("PORT"), os.Getenv("PORT_HEALTH")
	if port == "" {
		fmt.Fprintln(os.Stderr, "lbworker: PORT is not set")
		os.Exit(2)
	}
	start := time.Now()
	readyAfter, _ := strconv.Atoi(os.Getenv("LB_READY_AFTER_MS"))
	never := os.Getenv("LB_NEVER_READY") == "1"
	id := os.Getenv("RUNPOD_POD_ID")
	var mu sync.Mutex
	release := make(chan struct{})
	var sick atomic.Bool

	ping := func(w http.ResponseWriter, _ *http.Request) {
		if sick.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if never || time.Since(start) < time.Duration(readyAfter)*time.Millisecond {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		_, _ = io.WriteString(w, `{"status": "healthy"}`)
	}
	waitRelease := func(r *http.Request) bool {
		mu.Lock()
		ch := release
		mu.Unlock()
		select {
		case <-ch:
			return true
		case <-r.Context().Done():
			return false
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/echo/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"worker": id, "method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "body": string(body),
			"authorization": r.Header.Get("Authorization"), "forwardedFor": r.Header.Get("X-Forwarded-For"),
		})
	})
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "first\n")
		http.NewResponseController(w).Flush()
		if waitRelease(r) {
			_, _ = io.WriteString(w, "second\n")
		}
	})
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		if waitRelease(r) {
			_, _ = io.WriteString(w, "data: second\n\n")
		}
	})
	mux.HandleFunc("POST /release", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		close(release)
		release = make(chan struct{})
		mu.Unlock()
		_, _ = io.WriteString(w, `{"released": true}`)
	})
	mux.HandleFunc("POST /sick", func(w http.ResponseWriter, _ *http.Request) {
		sick.Store(true)
		_, _ = io.WriteString(w, `{"sick": true}`)
	})
	mux.HandleFunc("GET /hang", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	mux.HandleFunc("GET /upgrade", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want Upgrade: echo", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_ = brw.Flush()
		sc := bufio.NewScanner(brw)
		for sc.Scan() {
			_, _ = io.WriteString(brw, "echo: "+sc.Text()+"\n")
			_ = brw.Flush()
		}
	})
	if health == "" || health == port {
		mux.HandleFunc("GET /ping", ping)
	} else {
		hm := http.NewServeMux()
		hm.HandleFunc("GET /ping", ping)
		go func() {
			fmt.Fprintln(os.Stderr, http.ListenAndServe("127.0.0.1:"+health, hm))
			os.Exit(1)
		}()
	}
	fmt.Println("lbworker", id, "listening on", port, "health", health)
	fmt.Fprintln(os.Stderr, http.ListenAndServe("127.0.0.1:"+port, mux))
	os.Exit(1)
}
