package client_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// exampleServer is a tiny stand-in for a Sluice server with one endpoint,
// "echo", whose jobs complete on their second status read and stream three
// chunks.
func exampleServer() *httptest.Server {
	var mu sync.Mutex
	reads := map[string]int{}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer my-key" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid API key"}`)
			return
		}
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v2/"), "/")
		if parts[0] != "echo" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":"endpoint %s not found"}`, parts[0])
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch op := parts[1]; op {
		case "run":
			fmt.Fprint(w, `{"id":"job-1","status":"IN_QUEUE"}`)
		case "runsync":
			var req struct{ Input json.RawMessage }
			_ = json.NewDecoder(r.Body).Decode(&req)
			fmt.Fprintf(w, `{"id":"sync-1","status":"COMPLETED","delayTime":3,"executionTime":12,"output":%s}`, req.Input)
		case "status", "status-sync":
			reads[parts[2]]++
			if reads[parts[2]] < 2 {
				fmt.Fprintf(w, `{"id":%q,"status":"IN_PROGRESS","output":{"progress":0.5}}`, parts[2])
				return
			}
			fmt.Fprintf(w, `{"id":%q,"status":"COMPLETED","output":{"greeting":"hello"}}`, parts[2])
		case "stream":
			reads["stream"]++
			switch reads["stream"] {
			case 1:
				fmt.Fprint(w, `{"status":"IN_PROGRESS","stream":[{"output":"one"},{"output":"two"}]}`)
			case 2:
				fmt.Fprint(w, `{"status":"COMPLETED","stream":[{"output":"three"}]}`)
			default:
				fmt.Fprint(w, `{"status":"COMPLETED","stream":[]}`)
			}
		case "health":
			fmt.Fprint(w, `{"jobs":{"completed":7,"failed":1,"inProgress":1,"inQueue":2,"retried":0},"workers":{"idle":1,"running":1}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":"no such route"}`)
		}
	}))
}
