package client_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/client"
)

// Error responses match the package's sentinels with errors.Is, and carry
// the status code and the server's message in an *APIError.
func ExampleAPIError() {
	srv := exampleServer()
	defer srv.Close()
	ctx := context.Background()

	_, err := client.New(srv.URL, "wrong-key").Endpoint("echo").Health(ctx)
	fmt.Println(errors.Is(err, client.ErrUnauthorized))

	_, err = client.New(srv.URL, "my-key").Endpoint("nope").Status(ctx, "job-1")
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Message)
	}
	fmt.Println(err)
	// Output:
	// true
	// 404 endpoint nope not found
	// status job job-1: not found (404): endpoint nope not found
}

// Health reports an endpoint's job and worker counters.
func ExampleEndpoint_Health() {
	srv := exampleServer()
	defer srv.Close()

	h, err := client.New(srv.URL, "my-key").Endpoint("echo").Health(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("queued %d, running %d, idle workers %d\n", h.Jobs.InQueue, h.Jobs.InProgress, h.Workers.Idle)
	// Output:
	// queued 2, running 1, idle workers 1
}
