package serverless

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseJob checks that job decoding and the job-take and job-stop
// response parsers never panic on outside input, and that what they accept
// is a usable job.
func FuzzParseJob(f *testing.F) {
	for _, seed := range []string{
		`{"id":"a","input":{"n":1}}`, `{"id":"a","input":null,"webhook":"http://x"}`,
		`[{"id":"a","input":1},{"id":"b","input":[]}]`, `{"id":1,"input":1}`, `{"id":"","input":1}`,
		`null`, `[]`, `"x"`, `{"id":"a"}`, `{"jobsToStop":["a",1]}`, "{\"id\":\"\xff\",\"input\":1}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if job, err := parseJob(data); err == nil {
			checkJob(t, job)
			if !bytes.Equal(job.Raw, data) {
				t.Errorf("Raw %q differs from the input %q", job.Raw, data)
			}
		}
		jobs, _, err := parseTakeResponse(200, "application/json", data)
		if err == nil {
			for _, job := range jobs {
				checkJob(t, job)
			}
		} else if len(jobs) > 0 {
			t.Errorf("jobs returned with an error: %v", err)
		}
		if ids, err := parseStopResponse(200, "application/json", data); err != nil && len(ids) > 0 && !strings.Contains(err.Error(), "dropped") {
			t.Errorf("ids %q returned with error %v", ids, err)
		}
	})
}

func checkJob(t *testing.T, job *Job) {
	t.Helper()
	if job.ID == "" {
		t.Errorf("accepted a job without an id")
	}
	if _, ok := job.Field("input"); !ok {
		t.Errorf("accepted a job without input")
	}
	var id string
	raw, ok := job.Field("id")
	if !ok || json.Unmarshal(raw, &id) != nil || id != job.ID {
		t.Errorf("Field(id) = %s, ID = %q", raw, job.ID)
	}
	if !json.Valid(job.Input) {
		t.Errorf("Input %q is not JSON", job.Input)
	}
}
