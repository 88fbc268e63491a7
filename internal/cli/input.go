package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxInputBytes bounds input read from a file or stdin: Runpod's largest
// request (/runsync) is 20 MB; the server has the last word.
const maxInputBytes = 32 << 20

// jobInput is a parsed job argument: the handler's input and the other
// top-level request fields (webhook, policy, s3Config, ...).
type jobInput struct {
	Input  json.RawMessage
	Fields map[string]json.RawMessage
}

// readInput resolves a job argument: "" means {}, "-" reads stdin, "@path"
// reads a file, anything else is JSON text. See parseInput for the rest.
func readInput(arg string, stdin io.Reader) (*jobInput, error) {
	var data []byte
	switch {
	case arg == "":
		data = []byte(`{}`)
	case arg == "-":
		b, err := readLimited(stdin)
		if err != nil {
			return nil, fmt.Errorf("read input from stdin: %w", err)
		}
		data = b
	case strings.HasPrefix(arg, "@"):
		f, err := os.Open(arg[1:])
		if err != nil {
			return nil, fmt.Errorf("read input: %w", err)
		}
		defer f.Close()
		b, err := readLimited(f)
		if err != nil {
			return nil, fmt.Errorf("read input from %s: %w", arg[1:], err)
		}
		data = b
	default:
		data = []byte(arg)
	}
	in, err := parseInput(data)
	if err != nil {
		src := "argument"
		switch {
		case arg == "-":
			src = "stdin"
		case strings.HasPrefix(arg, "@"):
			src = arg[1:]
		}
		return nil, fmt.Errorf("input from %s: %w", src, err)
	}
	return in, nil
}

func readLimited(r io.Reader) ([]byte, error) {
	if r == nil {
		return nil, errors.New("no stdin")
	}
	b, err := io.ReadAll(io.LimitReader(r, maxInputBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxInputBytes {
		return nil, fmt.Errorf("more than %d MiB", maxInputBytes>>20)
	}
	return b, nil
}

// parseInput reads one JSON value. A JSON object with an "input" key is a
// whole request body: "input" is the handler's input and the other keys
// (webhook, policy, s3Config, ...) are sent as they are. Any other value
// is the handler's input, wrapped as {"input": value} the way
// runpod-python's Endpoint.run wraps a dict. (runpod-python looks at
// whether "input" is truthy; Sluice looks at whether the key is present, so
// {"input": {}} is sent as is rather than wrapped twice.)
func parseInput(data []byte) (*jobInput, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty input: give a JSON value, e.g. '{\"prompt\": \"hi\"}'")
		}
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not valid JSON: more than one value")
	}
	var obj map[string]json.RawMessage
	if bytes.HasPrefix(bytes.TrimLeft(v, " \t\r\n"), []byte("{")) && json.Unmarshal(v, &obj) == nil {
		if in, ok := obj["input"]; ok {
			delete(obj, "input")
			if len(obj) == 0 {
				obj = nil
			}
			return &jobInput{Input: compact(in), Fields: obj}, nil
		}
	}
	return &jobInput{Input: compact(v)}, nil
}

// compact strips insignificant space from valid JSON.
func compact(v json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return v
	}
	return b.Bytes()
}
