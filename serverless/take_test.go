package serverless

import (
	"errors"
	"strings"
	"testing"
)

func TestParseTakeResponse(t *testing.T) {
	const js = "application/json"
	for _, tc := range []struct {
		name    string
		status  int
		ctype   string
		body    string
		wantIDs string
		wantErr string
		wantBad bool
		want429 bool
	}{
		{name: "204", status: 204},
		{name: "400 flashboot", status: 400, ctype: js, body: `{"id":"x","input":1}`},
		{name: "429", status: 429, want429: true},
		{name: "500", status: 500, body: "down", wantErr: "HTTP 500: down"},
		{name: "404", status: 404, wantErr: "HTTP 404"},
		{name: "text/plain", status: 200, ctype: "text/plain", body: `{"id":"x","input":1}`},
		{name: "no content type", status: 200, body: `{"id":"x","input":1}`},
		{name: "charset ignored", status: 200, ctype: "application/json; charset=utf-8", body: `{"id":"x","input":1}`, wantIDs: "x"},
		{name: "empty body", status: 200, ctype: js},
		{name: "invalid JSON", status: 200, ctype: js, body: `{"id":`},
		{name: "null", status: 200, ctype: js, body: `null`},
		{name: "string", status: 200, ctype: js, body: `"x"`},
		{name: "number", status: 200, ctype: js, body: `1`},
		{name: "object", status: 200, ctype: js, body: ` {"id":"a","input":null} `, wantIDs: "a"},
		{name: "object without input", status: 200, ctype: js, body: `{"id":"a"}`, wantErr: "missing field"},
		{name: "object without id", status: 200, ctype: js, body: `{"input":1}`, wantErr: "missing field"},
		{name: "object numeric id", status: 200, ctype: js, body: `{"id":1,"input":1}`, wantErr: "non-empty string"},
		{name: "empty array", status: 200, ctype: js, body: `[]`},
		{name: "array", status: 200, ctype: js, body: `[{"id":"a","input":1},{"id":"b","input":[]}]`, wantIDs: "a,b"},
		{name: "array with bad items", status: 200, ctype: js, body: `[{"id":"a","input":1},null,{"id":"c"},7]`, wantIDs: "a", wantBad: true},
		{name: "201", status: 201, ctype: js, body: `{"id":"a","input":1}`, wantIDs: "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jobs, bad, err := parseTakeResponse(tc.status, tc.ctype, []byte(tc.body))
			var ids []string
			for _, j := range jobs {
				ids = append(ids, j.ID)
			}
			if got := strings.Join(ids, ","); got != tc.wantIDs {
				t.Errorf("jobs %q, want %q", got, tc.wantIDs)
			}
			if (bad != nil) != tc.wantBad {
				t.Errorf("bad = %v, want reported: %v", bad, tc.wantBad)
			}
			switch {
			case tc.want429:
				if !errors.Is(err, errTooManyRequests) {
					t.Errorf("err = %v, want errTooManyRequests", err)
				}
			case tc.wantErr == "":
				if err != nil {
					t.Errorf("err = %v", err)
				}
			case err == nil || !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseStopResponse(t *testing.T) {
	const js = "application/json"
	for _, tc := range []struct {
		name    string
		status  int
		ctype   string
		body    string
		wantIDs string
		wantErr error
		errText string
	}{
		{name: "204", status: 204},
		{name: "429", status: 429, wantErr: errTooManyRequests},
		{name: "503", status: 503, errText: "HTTP 503"},
		{name: "text", status: 200, ctype: "text/plain", body: `{"jobsToStop":["a"]}`, wantErr: errBadStopPayload},
		{name: "not object", status: 200, ctype: js, body: `["a"]`, wantErr: errBadStopPayload},
		{name: "not list", status: 200, ctype: js, body: `{"jobsToStop":"a"}`, wantErr: errBadStopPayload},
		{name: "missing", status: 200, ctype: js, body: `{}`, wantErr: errBadStopPayload},
		{name: "key is case-sensitive", status: 200, ctype: js, body: `{"JobsToStop":["a"]}`, wantErr: errBadStopPayload},
		{name: "ids", status: 200, ctype: js, body: `{"jobsToStop":["a","b"]}`, wantIDs: "a,b"},
		{name: "empty", status: 200, ctype: js, body: `{"jobsToStop":[]}`},
		{name: "non-strings dropped", status: 200, ctype: js, body: `{"jobsToStop":["a",1,null,"b"]}`, wantIDs: "a,b", errText: "dropped 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, err := parseStopResponse(tc.status, tc.ctype, []byte(tc.body))
			if got := strings.Join(ids, ","); got != tc.wantIDs {
				t.Errorf("ids %q, want %q", got, tc.wantIDs)
			}
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("err = %v, want %v", err, tc.wantErr)
				}
			case tc.errText != "":
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Errorf("err = %v, want %q", err, tc.errText)
				}
			case err != nil:
				t.Errorf("err = %v", err)
			}
		})
	}
}
