package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/client"
)

// jobColumns are `sluice jobs`' default columns (100 characters at most).
var jobColumns = []column{
	{"ID", 41, field("id")},
	{"STATUS", 11, field("status")},
	{"AGE", 6, ageCell("submittedAt")},
	{"EXEC", 7, msCell("executionTime")},
	{"WORKER", 10, field("workerId")},
	{"ERROR", 13, field("error")},
}

// ageCell shows how long ago a time field was.
func ageCell(name string) func(row) string {
	return func(r row) string {
		var t time.Time
		if json.Unmarshal(r[name], &t) != nil || t.IsZero() {
			return "-"
		}
		return formatAge(time.Since(t))
	}
}

// msCell shows a duration in milliseconds.
func msCell(name string) func(row) string {
	return func(r row) string {
		var ms int64
		if json.Unmarshal(r[name], &ms) != nil {
			return "-"
		}
		return formatDuration(time.Duration(ms) * time.Millisecond)
	}
}

func jobsCmd(s streams) *cobra.Command {
	var (
		c        conn
		l        listFlags
		statuses []string
		q        client.ListJobsQuery
	)
	cmd := &cobra.Command{
		Use:   "jobs ENDPOINT",
		Short: "List an endpoint's jobs, newest first (Sluice)",
		Long: "List ENDPOINT's retained jobs, newest first (GET /v2/ENDPOINT/jobs, a Sluice\n" +
			"extension of the API): id, status, age, execution time, worker and error, in 100\n" +
			"columns; -o wide shows every field. --status keeps one or more states\n" +
			"(IN_QUEUE, IN_PROGRESS, COMPLETED, FAILED, CANCELLED, TIMED_OUT; repeat the flag\n" +
			"or separate them with commas). When more jobs follow, the command to get the\n" +
			"next page is printed on stderr.",
		Example: `  sluice jobs echo
  sluice jobs echo --status FAILED --limit 20
  sluice jobs echo --status FAILED,TIMED_OUT --json | jq -r '.jobs[].id'`,
		Args: args(1, 1, "ENDPOINT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			for _, v := range statuses {
				for st := range strings.SplitSeq(v, ",") {
					q.Statuses = append(q.Statuses, client.Status(strings.ToUpper(strings.TrimSpace(st))))
				}
			}
			p, err := c.client().Endpoint(a[0]).ListJobs(cmd.Context(), q)
			if err != nil {
				return c.explain(err)
			}
			if err := c.printListing(s, p.Raw, l, jobColumns); err != nil {
				return err
			}
			if p.NextCursor != "" && !c.json {
				_, err = fmt.Fprintf(s.err, "more: sluice jobs %s%s --cursor %s\n", a[0], repeatFlags(statuses, q.Limit), p.NextCursor)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&statuses, "status", nil, "keep jobs in these states (comma-separated or repeated)")
	f.IntVar(&q.Limit, "limit", 0, "jobs per page, 1-500 (default: the server's, 50)")
	f.StringVar(&q.Cursor, "cursor", "", "start after this position: the cursor a previous page printed")
	addConnFlags(cmd, &c)
	l.register(cmd)
	return cmd
}

// repeatFlags are the --status and --limit flags of a jobs command, for the
// next page's command line.
func repeatFlags(statuses []string, limit int) string {
	var b strings.Builder
	if len(statuses) > 0 {
		b.WriteString(" --status " + strings.Join(statuses, ","))
	}
	if limit > 0 {
		fmt.Fprintf(&b, " --limit %d", limit)
	}
	return b.String()
}

func jobCmd(s streams) *cobra.Command {
	var (
		c     conn
		input bool
	)
	cmd := &cobra.Command{
		Use:   "job ENDPOINT JOB_ID",
		Short: "Show a job in full: input, output, error, attempts, webhook (Sluice)",
		Long: "Show job JOB_ID of ENDPOINT in full (GET /v2/ENDPOINT/jobs/JOB_ID, a Sluice\n" +
			"extension of the API): times, worker, input, output or latest progress, error\n" +
			"with traceback, stream chunk count, webhook delivery and every attempt (a\n" +
			"worker-lost requeue and a /retry each start one). --input prints the whole\n" +
			"input alone, e.g. to replay it locally with a worker's --test_input.",
		Example: `  sluice job echo 6c2f0e1a-4b1e-4a57-9d0c-0d1b6f3f6a2e
  sluice job echo "$JOB" --json | jq '.attempts'
  sluice job echo "$JOB" --input > test_input.json`,
		Args: args(2, 2, "ENDPOINT JOB_ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			ep := c.client().Endpoint(a[0])
			if input {
				in, err := ep.JobInput(cmd.Context(), a[1])
				if err != nil {
					return c.explain(err)
				}
				return writeJSON(s.out, in, !c.json)
			}
			d, err := ep.Job(cmd.Context(), a[1])
			if err != nil {
				return c.explain(err)
			}
			if c.json {
				return writeJSON(s.out, d.Raw, false)
			}
			return writeJobDetail(s.out, a[0], d)
		},
	}
	cmd.Flags().BoolVar(&input, "input", false, "print only the job's whole input (JSON)")
	addConnFlags(cmd, &c)
	return cmd
}

// writeJobDetail prints a job for a person.
func writeJobDetail(w io.Writer, ep string, d *client.JobDetail) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05.000Z") + " (" + formatAge(time.Since(t)) + " ago)"
	}
	ms := func(p *int64) string {
		if p == nil {
			return ""
		}
		return formatDuration(time.Duration(*p) * time.Millisecond)
	}
	line("id", d.ID)
	line("status", string(d.Status))
	line("submitted", when(d.SubmittedAt))
	line("started", when(d.StartedAt))
	line("finished", when(d.FinishedAt))
	line("delay", ms(d.DelayTime))
	line("execution", ms(d.ExecutionTime))
	line("worker", d.WorkerID)
	line("retries", fmt.Sprint(d.Retries))
	if d.InputTruncated {
		line("input", fmt.Sprintf("%d bytes (whole: sluice job %s %s --input)", d.InputBytes, ep, d.ID))
	} else {
		line("input", string(compact(d.Input)))
	}
	line("output", string(compact(d.Output)))
	line("progress", string(compact(d.Progress)))
	line("error", strings.ReplaceAll(d.Error, "\n", "\n\t"))
	if d.StreamChunks > 0 {
		line("stream chunks", fmt.Sprint(d.StreamChunks))
	}
	if h := d.Webhook; h != nil {
		v := h.URL + ": " + h.State
		if h.Attempts > 0 {
			v += fmt.Sprintf(" after %d attempt(s)", h.Attempts)
		}
		if !h.DeliveredAt.IsZero() {
			v += " at " + h.DeliveredAt.UTC().Format(time.RFC3339)
		}
		if h.LastError != "" {
			v += "; last error: " + h.LastError
		}
		line("webhook", v)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if d.Traceback != "" {
		fmt.Fprintf(w, "traceback:\n  %s\n", strings.ReplaceAll(strings.TrimRight(d.Traceback, "\n"), "\n", "\n  "))
	}
	fmt.Fprintln(w, "attempts:")
	if len(d.Attempts) == 0 {
		_, err := fmt.Fprintln(w, "  (none yet)")
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tWORKER\tSTARTED\tTOOK\tOUTCOME\tERROR")
	for _, at := range d.Attempts {
		took := "-"
		if !at.FinishedAt.IsZero() {
			took = formatDuration(at.FinishedAt.Sub(at.StartedAt))
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", at.Attempt, orDash(at.WorkerID),
			at.StartedAt.UTC().Format("15:04:05.000"), took, at.Outcome, orDash(truncate(at.Error, 60)))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
