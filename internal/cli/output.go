package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/sluicehq/sluice/client"
)

// writeJSON prints a JSON value on one line, or indented when pretty.
func writeJSON(w io.Writer, v json.RawMessage, pretty bool) error {
	var b bytes.Buffer
	var err error
	if pretty {
		err = json.Indent(&b, v, "", "  ")
	} else {
		err = json.Compact(&b, v)
	}
	if err != nil { // not JSON: print as received
		b.Reset()
		b.Write(bytes.TrimSpace(v))
	}
	b.WriteByte('\n')
	_, err = w.Write(b.Bytes())
	return err
}

// writeStatus prints a job status as aligned "key  value" lines.
func writeStatus(w io.Writer, st *client.JobStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "job\t%s\n", st.ID)
	fmt.Fprintf(tw, "status\t%s\n", st.Status)
	if st.DelayTime > 0 {
		fmt.Fprintf(tw, "queued\t%s\n", formatDuration(st.Delay()))
	}
	if st.ExecutionTime > 0 {
		fmt.Fprintf(tw, "running\t%s\n", formatDuration(st.Execution()))
	}
	if st.WorkerID != "" {
		fmt.Fprintf(tw, "worker\t%s\n", st.WorkerID)
	}
	if st.Retries > 0 {
		fmt.Fprintf(tw, "retries\t%d\n", st.Retries)
	}
	if len(st.Output) > 0 && string(st.Output) != "null" {
		label := "output"
		if !st.Status.Terminal() {
			label = "progress"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, compact(st.Output))
	}
	if st.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", oneLine(st.Error))
	}
	return tw.Flush()
}

// writeHealth prints /health counters on two lines.
func writeHealth(w io.Writer, h *client.Health) error {
	j, k := h.Jobs, h.Workers
	_, err := fmt.Fprintf(w, "jobs     in queue %d  in progress %d  completed %d  failed %d  retried %d\n"+
		"workers  idle %d  running %d  initializing %d  ready %d  throttled %d  unhealthy %d\n",
		j.InQueue, j.InProgress, j.Completed, j.Failed, j.Retried,
		k.Idle, k.Running, k.Initializing, k.Ready, k.Throttled, k.Unhealthy)
	return err
}

// writeTable prints a JSON list of objects (or an object holding one such
// list, e.g. {"workers": [...]}) as a table: "id" and "status" first,
// then the other keys in sorted order. Anything else is printed as indented JSON.
func writeTable(w io.Writer, raw json.RawMessage) error {
	rows, _ := tableRows(raw)
	keySet := map[string]bool{}
	for _, r := range rows {
		for k := range r {
			keySet[k] = true
		}
	}
	// "id" and "status" lead; the other keys follow in sorted order.
	var lead, keys []string
	for _, k := range []string{"id", "status"} {
		if keySet[k] {
			lead = append(lead, k)
			delete(keySet, k)
		}
	}
	for k := range keySet {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	cols := make([]column, 0, len(keySet)+len(lead))
	for _, k := range append(lead, keys...) {
		cols = append(cols, column{head: strings.ToUpper(k), cell: field(k)})
	}
	return writeColumns(w, raw, cols)
}

func tableRows(raw json.RawMessage) ([]map[string]json.RawMessage, bool) {
	var rows []map[string]json.RawMessage
	if json.Unmarshal(raw, &rows) == nil {
		return rows, true
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || len(obj) == 0 {
		return nil, false
	}
	var found []map[string]json.RawMessage
	lists := 0
	for _, v := range obj {
		var r []map[string]json.RawMessage
		if json.Unmarshal(v, &r) == nil {
			found = r
			lists++
		}
	}
	return found, lists == 1
}

// cellText shows a JSON value in a table cell: strings unquoted, others as
// compact JSON, absent as "-".
func cellText(v json.RawMessage) string {
	if len(v) == 0 || string(v) == "null" {
		return "-"
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		if s == "" {
			return "-"
		}
		return oneLine(s)
	}
	return truncate(string(compact(v)), 60)
}

// printAccepted prints the answer to a request that queued a job (run,
// retry): the job id, or the whole answer with --json.
func (c *conn) printAccepted(s streams, st *client.JobStatus, err error) error {
	if err != nil {
		return c.explain(err)
	}
	if c.json {
		return writeJSON(s.out, st.Raw, false)
	}
	_, err = fmt.Fprintln(s.out, st.ID)
	return err
}
