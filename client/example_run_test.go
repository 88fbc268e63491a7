package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/sluicehq/sluice/client"
)

// Submit a job with Run, then Wait for its result and Decode it.
func ExampleEndpoint_Run() {
	srv := exampleServer()
	defer srv.Close()
	ctx := context.Background()

	ep := client.New(srv.URL, "my-key").Endpoint("echo")
	job, err := ep.Run(ctx, map[string]string{"name": "world"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("submitted", job.ID, job.Status)

	st, err := ep.Wait(ctx, job.ID)
	if err != nil {
		log.Fatal(err)
	}
	var out struct{ Greeting string }
	if err := st.Decode(&out); err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Status, out.Greeting)
	// Output:
	// submitted job-1 IN_QUEUE
	// COMPLETED hello
}

// RunSync submits a job and returns when it is finished. Err tells whether
// the job completed.
func ExampleEndpoint_RunSync() {
	srv := exampleServer()
	defer srv.Close()

	ep := client.New(srv.URL, "my-key").Endpoint("echo")
	st, err := ep.RunSync(context.Background(), []int{1, 2, 3})
	if err != nil {
		log.Fatal(err)
	}
	if err := st.Err(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s after %v queued, %v running: %s\n", st.Status, st.Delay(), st.Execution(), st.Output)
	// Output:
	// COMPLETED after 3ms queued, 12ms running: [1,2,3]
}

// Per-request options set Runpod's webhook and policy fields.
func ExampleWithExecutionTimeout() {
	srv := exampleServer()
	defer srv.Close()

	ep := client.New(srv.URL, "my-key").Endpoint("echo")
	job, err := ep.Run(context.Background(), map[string]any{"prompt": "a long render"},
		client.WithWebhook("https://example.com/hook"),
		client.WithExecutionTimeout(2*time.Hour),
		client.WithLowPriority(),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(job.Status)
	// Output:
	// IN_QUEUE
}

// Wait can report each status it sees, for example to show progress.
func ExampleOnUpdate() {
	srv := exampleServer()
	defer srv.Close()

	ep := client.New(srv.URL, "my-key").Endpoint("echo")
	_, err := ep.Wait(context.Background(), "job-7", client.OnUpdate(func(st *client.JobStatus) {
		fmt.Println(st.Status, string(st.Output))
	}))
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// IN_PROGRESS {"progress":0.5}
	// COMPLETED {"greeting":"hello"}
}
