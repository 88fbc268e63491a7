package serverless_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/serverless"
	"github.com/sluicehq/sluice/serverless/serverlesstest"
)

var errNoSuchUser = errors.New("no such user")

// A job fails in three ways. A map with an "error" key fails it with that
// error, verbatim. A returned error or a panic fails it with runpod-python's
// error object (type, message, stack trace, host) as a JSON string; the
// worker goes on with the next job.
func ExampleHandlerFunc_errors() {
	cfg := serverless.Config{Handler: func(ctx context.Context, job *serverless.Job) (any, error) {
		var mode string
		if err := job.Decode(&mode); err != nil {
			return nil, err
		}
		switch mode {
		case "map":
			return map[string]any{"error": "name is required"}, nil
		case "error":
			return nil, fmt.Errorf("look up user 42: %w", errNoSuchUser)
		default:
			panic("unexpected mode " + mode)
		}
	}}
	for _, mode := range []string{"map", "error", "panic"} {
		res, err := serverlesstest.Exec(context.Background(), cfg, mode)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: failed=%v message=%q is-no-such-user=%v\n",
			mode, res.Failed, res.ErrorMessage, errors.Is(res.Err, errNoSuchUser))
	}
	// Output:
	// map: failed=true message="name is required" is-no-such-user=false
	// error: failed=true message="look up user 42: no such user" is-no-such-user=true
	// panic: failed=true message="unexpected mode panic" is-no-such-user=false
}
