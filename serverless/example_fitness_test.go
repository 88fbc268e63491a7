package serverless_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice/serverless"
)

// Fitness checks run before the worker takes its first job; a failing one
// makes Start exit 1 with "serverless: fitness check failed: NAME: ERROR" on
// stderr, so the platform replaces the worker. Here the check wants a model
// file that is missing.
func ExampleFitnessCheck() {
	modelPath := filepath.Join(os.TempDir(), "sluice-example-missing-model.bin")
	cfg := serverless.Config{
		Handler: func(ctx context.Context, job *serverless.Job) (any, error) {
			return map[string]any{"model": modelPath}, nil
		},
		FitnessChecks: []serverless.FitnessCheck{{
			Name: "model file",
			Func: func(ctx context.Context) error {
				_, err := os.Stat(modelPath)
				return err
			},
		}},
	}
	// In main: serverless.Start(cfg). Checking it here by hand:
	for _, c := range cfg.FitnessChecks {
		err := c.Func(context.Background())
		fmt.Printf("%s: missing=%v\n", c.Name, errors.Is(err, fs.ErrNotExist))
	}
	// Output: model file: missing=true
}
