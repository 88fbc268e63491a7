package serverless

import (
	"fmt"
	"strconv"
	"strings"
)

// options are the runpod-python command-line flags.
type options struct {
	serveAPI       bool   // --rp_serve_api
	apiHost        string // --rp_api_host, default localhost
	apiPort        int    // --rp_api_port, default 8000
	apiConcurrency int    // --rp_api_concurrency, default 1
	testInput      string // --test_input JSON
	logLevel       string // --rp_log_level, "" when unset
	debugger       bool   // --rp_debugger
}

// parseFlags reads the flags runpod-python knows from args and ignores the
// rest. Both "--flag value" and "--flag=value" are accepted.
func parseFlags(args []string) (options, error) {
	o := options{apiHost: "localhost", apiPort: 8000, apiConcurrency: 1}
	for i := 0; i < len(args); i++ {
		name, value, hasValue := strings.Cut(args[i], "=")
		if !strings.HasPrefix(name, "--") {
			continue
		}
		next := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("flag %s needs a value", name)
			}
			i++
			return args[i], nil
		}
		var err error
		switch name {
		case "--rp_serve_api":
			o.serveAPI = true
		case "--rp_debugger":
			o.debugger = true
		case "--rp_api_host":
			o.apiHost, err = next()
		case "--rp_api_port":
			o.apiPort, err = intFlag(name, next)
		case "--rp_api_concurrency":
			o.apiConcurrency, err = intFlag(name, next)
		case "--test_input":
			o.testInput, err = next()
		case "--rp_log_level":
			o.logLevel, err = next()
		}
		if err != nil {
			return o, err
		}
	}
	if o.apiConcurrency < 1 {
		return o, fmt.Errorf("flag --rp_api_concurrency must be at least 1, got %d", o.apiConcurrency)
	}
	return o, nil
}

func intFlag(name string, next func() (string, error)) (int, error) {
	s, err := next()
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("flag %s: %q is not an integer", name, s)
	}
	return n, nil
}
