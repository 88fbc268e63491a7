package serverless

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Job is one unit of work handed to a handler.
//
// The platform sends a JSON object with at least "id" and "input"; every other
// field it sent is kept in Raw and readable with Field.
type Job struct {
	// ID is the job id assigned by the platform ("local_test" in test_input mode).
	ID string
	// Input is the job's "input" value, exactly as sent.
	Input json.RawMessage
	// Raw is the whole job object as the platform sent it.
	Raw json.RawMessage

	fields map[string]json.RawMessage
	// progress delivers a progress update for this job; set by whoever runs
	// the job (production worker, local API server, test_input mode, test kit).
	progress func(ctx context.Context, progress any) error
}

// errMissingField is returned by parseJob when "id" or "input" is absent.
var errMissingField = errors.New("job has missing field(s): id or input")

// parseJob decodes one job object as sent by job-take. It requires a string
// "id" and an "input" key (which may be null), like runpod-python.
func parseJob(data []byte) (*Job, error) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil {
		return nil, fmt.Errorf("decode job: %w", err)
	}
	if fields == nil {
		return nil, fmt.Errorf("decode job: %w", errMissingField)
	}
	rawID, okID := fields["id"]
	input, okInput := fields["input"]
	if !okID || !okInput {
		return nil, fmt.Errorf("decode job: %w", errMissingField)
	}
	var id string
	if err := json.Unmarshal(rawID, &id); err != nil || id == "" {
		return nil, fmt.Errorf("decode job: \"id\" must be a non-empty string, got %s", rawID)
	}
	raw := make(json.RawMessage, len(data))
	copy(raw, data)
	return &Job{ID: id, Input: input, Raw: raw, fields: fields}, nil
}

// Field returns the raw JSON of a top-level field of the job object the
// platform sent (for example "webhook" or "batchId"), and whether it was present.
func (j *Job) Field(name string) (json.RawMessage, bool) {
	if j.fields == nil && len(j.Raw) > 0 {
		_ = json.Unmarshal(j.Raw, &j.fields)
	}
	v, ok := j.fields[name]
	return v, ok
}

// Decode decodes the job's input into v, which must be a pointer. Unknown
// fields are allowed; a type mismatch names the offending field.
func (j *Job) Decode(v any) error {
	if len(j.Input) == 0 || bytes.Equal(bytes.TrimSpace(j.Input), []byte("null")) {
		return errors.New("job has no input")
	}
	if err := json.Unmarshal(j.Input, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("input field %q: expected %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return fmt.Errorf("decode input: %w", err)
	}
	return nil
}
