package serverless

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// errorPayload is the object runpod-python sends, JSON-encoded into a
// string, as the "error" of a job whose handler failed (docs/spec/runpod-worker-protocol.md 2.3). The keys
// keep runpod-python's order.
type errorPayload struct {
	ErrorType      string `json:"error_type"`
	ErrorMessage   string `json:"error_message"`
	ErrorTraceback string `json:"error_traceback"`
	Hostname       string `json:"hostname"`
	WorkerID       string `json:"worker_id"`
	RunpodVersion  string `json:"runpod_version"`
}

// panicError is a recovered panic, with the stack of the panicking goroutine.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// newErrorPayload describes a handler failure. stack is the Go stack to
// report (the panicking goroutine's for a panic). The hostname and worker
// id come from RUNPOD_POD_HOSTNAME and RUNPOD_POD_ID, "unknown" when unset.
func newErrorPayload(err error, stack []byte) errorPayload {
	p := errorPayload{
		ErrorType:      errorType(err),
		ErrorMessage:   err.Error(),
		ErrorTraceback: string(stack),
		Hostname:       envOr("RUNPOD_POD_HOSTNAME", "unknown"),
		WorkerID:       envOr("RUNPOD_POD_ID", "unknown"),
		RunpodVersion:  Version,
	}
	var pe *panicError
	if errors.As(err, &pe) {
		p.ErrorType = "panic"
		p.ErrorMessage = fmt.Sprint(pe.value)
		p.ErrorTraceback = string(pe.stack)
	}
	return p
}

// String returns the payload as the JSON string runpod-python puts in "error".
func (p errorPayload) String() string {
	raw, err := marshal(p)
	if err != nil { // only strings inside: cannot happen
		return p.ErrorMessage
	}
	return string(raw)
}

// indented is the payload pretty-printed with 4-space indents, as logged
// after "Captured Handler Exception".
func (p errorPayload) indented() string {
	raw, err := json.MarshalIndent(p, "", "    ")
	if err != nil {
		return p.ErrorMessage
	}
	return string(raw)
}

// errorType names err's dynamic Go type, looking through fmt.Errorf's
// wrappers so that a wrapped *fs.PathError reports "*fs.PathError".
func errorType(err error) string {
	for {
		t := fmt.Sprintf("%T", err)
		if t != "*fmt.wrapError" {
			return t
		}
		next := errors.Unwrap(err)
		if next == nil {
			return t
		}
		err = next
	}
}

func envOr(name, fallback string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return fallback
}
