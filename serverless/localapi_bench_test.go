package serverless

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkLocalAPIRunsync measures one /runsync round trip on loopback
// through the local API server: decode, queue, Exec, answer.
func BenchmarkLocalAPIRunsync(b *testing.B) {
	cfg := Config{Handler: func(ctx context.Context, job *Job) (any, error) { return job.Input, nil }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	a := newLocalAPI(&cfg, discardLog(), 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	url := "http://" + ln.Addr().String() + "/runsync"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(url, "application/json", strings.NewReader(`{"input":{"n":1}}`))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
