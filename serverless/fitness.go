package serverless

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// FitnessCheck is a check a production worker runs before its first
// job-take (like runpod-python's register_fitness_check): that the GPU is
// there, a model file loads, a disk has room. A failing check makes Start
// exit 1 with the check's name and error on stderr, before any job is taken,
// so the platform replaces the worker instead of sending it jobs it cannot do.
type FitnessCheck struct {
	// Name identifies the check in the log and the failure line.
	Name string
	// Func returns nil when the worker is fit. ctx ends when the worker is
	// asked to stop. A panic counts as a failure.
	Func func(ctx context.Context) error
}

// errFitness marks a failed fitness check.
var errFitness = errors.New("fitness check failed")

// runFitnessChecks runs checks in order and returns the first failure.
func runFitnessChecks(ctx context.Context, checks []FitnessCheck, log *slog.Logger) error {
	for _, c := range checks {
		if err := callCheck(ctx, c); err != nil {
			return fmt.Errorf("%w: %s: %w", errFitness, c.Name, err)
		}
		log.Debug("Fitness check passed: " + c.Name)
	}
	return nil
}

// callCheck runs one check, turning a panic into an error.
func callCheck(ctx context.Context, c FitnessCheck) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return c.Func(ctx)
}
