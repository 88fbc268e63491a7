package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/sluicehq/sluice/client"
)

// Stream iterates over the chunks a streaming handler yields, until the
// job is finished and every chunk has been read.
func ExampleEndpoint_Stream() {
	srv := exampleServer()
	defer srv.Close()
	ctx := context.Background()

	ep := client.New(srv.URL, "my-key").Endpoint("echo")
	for chunk, err := range ep.Stream(ctx, "job-1") {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(chunk))
	}
	// Output:
	// "one"
	// "two"
	// "three"
}
