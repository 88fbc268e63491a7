package serverless

import (
	"context"
	"fmt"
	"testing"
)

func BenchmarkRunJobMapResult(b *testing.B) {
	cfg := &Config{Handler: func(context.Context, *Job) (any, error) {
		return map[string]any{"text": "hello", "tokens": []int{1, 2, 3}, "error": "", "refresh_worker": false}, nil
	}}
	job := &Job{ID: "b"}
	for b.Loop() {
		if o := runJob(context.Background(), cfg, job, nil); o.failed {
			b.Fatalf("failed: %s", o.body)
		}
	}
}

// BenchmarkWorkerRoundTrip measures one job from job-take to job-done
// through the production worker and a loopback fake platform.
func BenchmarkWorkerRoundTrip(b *testing.B) {
	fp := newFakePlatform(b)
	startWorker(b, fp, Config{Handler: func(ctx context.Context, job *Job) (any, error) { return job.ID, nil }})
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("j%d", i)
		i++
		fp.jobs <- fmt.Sprintf(`{"id":%q,"input":null}`, id)
		fp.waitPosts(b, id, 1)
	}
}
