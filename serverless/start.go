package serverless

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Start runs the worker and exits the process when it is done. It picks the
// mode the way runpod-python does:
//
//   - --rp_serve_api: a local API server that behaves like an endpoint;
//   - --test_input JSON given, or RUNPOD_WEBHOOK_GET_JOB unset: run one job
//     locally (from the flag or ./test_input.json), print the result, exit
//     0 on success and 1 on failure;
//   - otherwise the production worker loop, which talks Runpod's worker
//     protocol to the URLs in the RUNPOD_* environment, until SIGTERM or
//     SIGINT. It then stops taking jobs, lets the running jobs finish (their
//     ctx stays alive, as runpod-python lets them finish), posts their
//     results and exits 0. A second signal cancels the running jobs' ctx
//     (their results, usually errors, are still posted); a third exits at
//     once.
//
// Unknown command-line flags are ignored and left for the program.
func Start(cfg Config) {
	ctx, cancel := context.WithCancel(context.Background())
	hard, cancelHard := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	finished := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-finished:
			return
		}
		cancel() // graceful: no new job, running ones finish
		select {
		case <-sigs:
		case <-finished:
			return
		}
		// Restore the default action first, so a third signal ends the
		// process at once.
		signal.Stop(sigs)
		fmt.Fprintln(os.Stderr, "serverless: second signal: cancelling the running jobs")
		cancelHard()
	}()
	code := run(ctx, hard, cfg)
	close(finished)
	os.Exit(code)
}

// Run is Start without the process exit: it returns the exit code Start
// would use. Cancelling ctx asks for a graceful shutdown, as SIGTERM does
// for Start: no new job is taken, running jobs finish with their ctx alive
// and their results are posted before Run returns.
func Run(ctx context.Context, cfg Config) int {
	return run(ctx, context.WithoutCancel(ctx), cfg)
}

// run runs cfg's mode until ctx ends. In the production worker, ctx ending
// stops the take loop and hard ending cancels the running jobs.
func run(ctx, hard context.Context, cfg Config) int {
	if cfg.Args == nil {
		cfg.Args = os.Args[1:]
	}
	opts, err := parseFlags(cfg.Args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "serverless: %v\n", err)
		return 2
	}
	if err := validateConfig(&cfg); err != nil {
		fmt.Fprintf(os.Stderr, "serverless: %v\n", err)
		return 2
	}
	env := workerEnvFromOS()
	// In test_input mode stdout is the job's result alone (for jq); the
	// banner and the log go to stderr.
	testInput := !opts.serveAPI && (opts.testInput != "" || env.getJobURL == "")
	logOut := stdout
	if testInput {
		logOut = stderr
	}
	log := newLogger(cfg.Logger, opts.logLevel, env, logOut)
	printBanner(logOut)
	switch {
	case opts.serveAPI:
		if err := serveLocalAPI(ctx, &cfg, log, opts); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("local API server: " + err.Error())
			return 1
		}
		return 0
	case testInput:
		return runTestInputTo(ctx, &cfg, log, opts, stdout, stderr)
	default:
		if err := runFitnessChecks(ctx, cfg.FitnessChecks, log); err != nil {
			log.Error(err.Error())
			fmt.Fprintf(stderr, "serverless: %v\n", err)
			return 1
		}
		if err := runWorker(ctx, hard, &cfg, log, env); err != nil {
			log.Error("worker: " + err.Error())
			return 1
		}
		return 0
	}
}

func validateConfig(cfg *Config) error {
	switch {
	case cfg.Handler == nil && cfg.StreamHandler == nil:
		return errors.New("config: set Handler or StreamHandler")
	case cfg.Handler != nil && cfg.StreamHandler != nil:
		return errors.New("config: set only one of Handler and StreamHandler")
	}
	for i, c := range cfg.FitnessChecks {
		if c.Name == "" || c.Func == nil {
			return fmt.Errorf("config: FitnessChecks[%d] needs a Name and a Func", i)
		}
	}
	return nil
}
