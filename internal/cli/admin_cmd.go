package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/client"
)

func healthCmd(s streams) *cobra.Command {
	var c conn
	cmd := &cobra.Command{
		Use:   "health ENDPOINT",
		Short: "Show an endpoint's job and worker counters",
		Long:  "Show ENDPOINT's job counters (in queue, in progress, completed, failed, retried)\nand worker counters (GET /v2/ENDPOINT/health).",
		Example: `  sluice health echo
  sluice health echo --json | jq .jobs.inQueue`,
		Args: args(1, 1, "ENDPOINT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			h, err := c.client().Endpoint(a[0]).Health(cmd.Context())
			if err != nil {
				return c.explain(err)
			}
			if c.json {
				return writeJSON(s.out, h.Raw, false)
			}
			return writeHealth(s.out, h)
		},
	}
	addConnFlags(cmd, &c)
	return cmd
}

func purgeCmd(s streams) *cobra.Command {
	var c conn
	cmd := &cobra.Command{
		Use:     "purge ENDPOINT",
		Short:   "Remove every queued job of an endpoint",
		Long:    "Remove every job waiting in ENDPOINT's queue (POST /v2/ENDPOINT/purge-queue).\nRunning jobs go on. Prints how many jobs were removed.",
		Example: `  sluice purge echo`,
		Args:    args(1, 1, "ENDPOINT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			p, err := c.client().Endpoint(a[0]).PurgeQueue(cmd.Context())
			if err != nil {
				return c.explain(err)
			}
			if c.json {
				return writeJSON(s.out, p.Raw, false)
			}
			_, err = fmt.Fprintf(s.out, "removed %d queued job(s)\n", p.Removed)
			return err
		},
	}
	addConnFlags(cmd, &c)
	return cmd
}

func workersCmd(s streams) *cobra.Command {
	var (
		c conn
		l listFlags
	)
	cmd := &cobra.Command{
		Use:   "workers ENDPOINT",
		Short: "List an endpoint's workers (Sluice)",
		Long:  "List ENDPOINT's workers as a table (GET /v2/ENDPOINT/workers, a Sluice extension\nof the API; Runpod's hosted API does not serve it): id, status, job, GPUs,\nuptime and last exit, in 100 columns; -o wide shows every field.",
		Example: `  sluice workers echo
  sluice workers echo -o wide
  sluice workers echo --json`,
		Args: args(1, 1, "ENDPOINT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			ws, err := c.client().Endpoint(a[0]).Workers(cmd.Context())
			if err != nil {
				return c.explain(err)
			}
			return c.printListing(s, ws.Raw, l, workerColumns)
		},
	}
	addConnFlags(cmd, &c)
	l.register(cmd)
	return cmd
}

func endpointsCmd(s streams) *cobra.Command {
	var (
		c conn
		l listFlags
	)
	cmd := &cobra.Command{
		Use:     "endpoints",
		Short:   "List the server's endpoints (Sluice)",
		Long:    "List the server's endpoints as a table (GET /v2/endpoints, a Sluice extension of\nthe API; Runpod's hosted API does not serve it); -o wide shows every field.",
		Example: `  sluice endpoints --url http://gpu-box:8080`,
		Args:    args(0, 0, "none"),
		RunE: func(cmd *cobra.Command, a []string) error {
			eps, err := c.client().Endpoints(cmd.Context())
			if err != nil {
				return c.explain(err)
			}
			return c.printListing(s, eps.Raw, l, endpointColumns)
		},
	}
	addConnFlags(cmd, &c)
	l.register(cmd)
	return cmd
}

func logsCmd(s streams) *cobra.Command {
	var c conn
	var q client.LogsQuery
	cmd := &cobra.Command{
		Use:   "logs ENDPOINT",
		Short: "Print an endpoint's worker logs (Sluice)",
		Long: "Print the logs of ENDPOINT's workers (GET /v2/ENDPOINT/logs, a Sluice extension of\n" +
			"the API), optionally only one worker's or one job's lines. With --follow, keep\n" +
			"printing new lines until interrupted. Structured lines are shown as\n" +
			"\"TIME WORKER [JOB] TEXT\"; --json prints each line as the server sent it.",
		Example: `  sluice logs echo
  sluice logs echo --job 6c2f0e1a-4b1e-4a57-9d0c-0d1b6f3f6a2e
  sluice logs echo --worker w-3 --follow`,
		Args: args(1, 1, "ENDPOINT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			logs, err := c.client().Endpoint(a[0]).Logs(cmd.Context(), q)
			if err != nil {
				return c.explain(err)
			}
			defer logs.Close()
			err = copyLogs(s.out, logs, logs.ContentType, c.json)
			if err != nil && cmd.Context().Err() != nil {
				return nil // interrupted while following: a normal way to stop
			}
			if err != nil {
				return fmt.Errorf("logs of %s: %w", a[0], err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Worker, "worker", "", "only this worker's lines")
	f.StringVar(&q.Job, "job", "", "only the lines logged while this job ran")
	f.BoolVarP(&q.Follow, "follow", "f", false, "keep printing new lines as they are logged")
	f.IntVar(&q.Tail, "tail", 0, "how many past lines to print first (default: the server's, 100 on Sluice; -1: none, with --follow)")
	addConnFlags(cmd, &c)
	return cmd
}

// copyLogs prints a logs response: Server-Sent Events (data lines), JSON
// lines, a JSON array of lines, or plain text, each line formatted by
// formatLogLine unless raw.
func copyLogs(w io.Writer, body io.Reader, contentType string, raw bool) error {
	mt, _, _ := mime.ParseMediaType(contentType)
	br := bufio.NewReaderSize(body, 64<<10)
	emit := func(line string) error {
		if !raw {
			line = formatLogLine(line)
		}
		_, err := fmt.Fprintln(w, line)
		return err
	}
	if mt == "application/json" {
		b, err := io.ReadAll(br)
		if err != nil {
			return err
		}
		lines, ok := jsonLogLines(b)
		if !ok {
			br = bufio.NewReader(bytes.NewReader(b)) // not a list: treat as lines
		} else {
			for _, l := range lines {
				var s string
				if json.Unmarshal(l, &s) != nil {
					s = string(compact(l))
				}
				if err := emit(s); err != nil {
					return err
				}
			}
			return nil
		}
	}
	sse := mt == "text/event-stream"
	event := "" // the current SSE event's name
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			line = strings.TrimRight(line, "\r\n")
			var werr error
			switch {
			case !sse:
				werr = emit(line)
			case line == "":
				event = "" // a blank line ends an event
			case strings.HasPrefix(line, "event:"):
				event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:") && (event == "" || event == "message"):
				// Only unnamed events carry log lines; e.g. "event: end"
				// closes the stream.
				werr = emit(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
			}
			if werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// formatLogText shortens a worker's own structured line, such as
// runpod-python's {"requestId": ..., "message": ..., "level": ...}, to
// "LEVEL message"; other text is returned unchanged.
func formatLogText(text string) string {
	if !strings.HasPrefix(text, "{") {
		return text
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(text), &obj) != nil {
		return text
	}
	msg := ""
	for _, k := range []string{"message", "msg"} {
		if s := cellText(obj[k]); s != "-" {
			msg = s
			break
		}
	}
	if msg == "" {
		return text
	}
	if level := cellText(obj["level"]); level != "-" {
		return level + " " + msg
	}
	return msg
}

// jsonLogLines finds the lines in a JSON logs answer: a list, or an
// object with a "lines" list (Sluice: {"endpoint": ..., "lines": [...]}).
func jsonLogLines(b []byte) ([]json.RawMessage, bool) {
	var lines []json.RawMessage
	if json.Unmarshal(b, &lines) == nil {
		return lines, true
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(b, &obj) == nil && json.Unmarshal(obj["lines"], &lines) == nil && lines != nil {
		return lines, true
	}
	return nil, false
}

// formatLogLine shows a structured (JSON object) log line as
// "TIME WORKER [JOB] TEXT"; other lines are returned unchanged.
func formatLogLine(line string) string {
	var obj map[string]json.RawMessage
	if !strings.HasPrefix(strings.TrimSpace(line), "{") || json.Unmarshal([]byte(line), &obj) != nil {
		return line
	}
	pick := func(keys ...string) string {
		for _, k := range keys {
			if v, ok := obj[k]; ok {
				if s := cellText(v); s != "-" {
					return s
				}
			}
		}
		return ""
	}
	text := pick("line", "msg", "message", "text")
	if text == "" {
		return string(compact(json.RawMessage(line)))
	}
	text = formatLogText(text)
	var parts []string
	ts := pick("ts", "time", "timestamp")
	if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
		ts = t.Format("2006-01-02 15:04:05.000")
	}
	for _, p := range []string{ts, pick("worker", "workerId", "worker_id")} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if job := pick("job", "jobId", "job_id"); job != "" {
		parts = append(parts, "["+job+"]")
	}
	if stream := pick("stream", "source"); stream == "stderr" {
		parts = append(parts, "stderr:")
	}
	return strings.Join(append(parts, text), " ")
}
