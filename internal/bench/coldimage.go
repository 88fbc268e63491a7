package bench

import (
	"fmt"
	"io"
)

// ImageWorker is a cold-start endpoint whose workers are containers. The
// image's entrypoint must run a worker that imports this package, e.g. a
// static sluice binary running `sluice bench-worker`:
//
//	FROM scratch
//	COPY sluice /sluice
//	ENTRYPOINT ["/sluice", "bench-worker"]
//
// The parts of a cold start then read: spawn is Sluice building the run
// command and the OS starting the runtime's CLI; runtime init is the
// runtime creating and starting the container up to the worker's Go
// runtime being initialised; the rest as for processes.
type ImageWorker struct {
	// Image is the worker image. Empty: process workers. With
	// ColdOptions.WorkerCommand set too, process workers of that command
	// are measured in turn with the image's, as a baseline.
	Image string
	// Runtime is the endpoint's runtime (docker or podman). Default: the
	// first that answers.
	Runtime string
	// RuntimeArgs are the endpoint's runtimeArgs (global flags).
	RuntimeArgs []string
}

// endpoint sets the image fields of a cold-start endpoint's config.
func (iw ImageWorker) endpoint(ep map[string]any) {
	if iw.Image == "" {
		return
	}
	delete(ep, "command")
	ep["image"] = iw.Image
	ep["pull"] = "never" // a cold start measures the start, not a download
	if iw.Runtime != "" {
		ep["runtime"] = iw.Runtime
	}
	if len(iw.RuntimeArgs) > 0 {
		ep["runtimeArgs"] = iw.RuntimeArgs
	}
}

// printImage writes the report of image cold starts.
func (r *ColdReport) printImage(w io.Writer) error {
	ms := func(s Span) string {
		return fmt.Sprintf("p50 %7.2f ms   p90 %7.2f ms", float64(s.P50.Microseconds())/1000, float64(s.P90.Microseconds())/1000)
	}
	_, err := fmt.Fprintf(w, `sluice bench: %d cold starts of image %s (/run on a managed endpoint with no worker -> handler start)
  total                                          %s
  Sluice: /run + supervisor reaction             %s
  Sluice + OS: run command built, CLI exec'd     %s
  runtime: container created and started,
           up to the worker's Go runtime init    %s
  worker: program + SDK start-up to take         %s
  Sluice: job-take served -> handler             %s
  Sluice's own part (reaction + hand-off)        %s
  runtime's part (CLI exec'd to worker init)     %s
`, r.Samples, r.Image, ms(r.Total), ms(r.Reaction), ms(r.Spawn), ms(r.RuntimeInit), ms(r.SDKStart), ms(r.HandOff), ms(r.Sluice), ms(r.RuntimeInit))
	if err != nil || r.Baseline == nil {
		return err
	}
	if _, err := fmt.Fprint(w, "baseline, sampled in turn with the above: process workers\n"); err != nil {
		return err
	}
	return r.Baseline.Print(w)
}
