package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// listingWidth is the width the default listing tables fit in.
const listingWidth = 100

// row is one object of a listing as the server sent it.
type row = map[string]json.RawMessage

// column is one column of a listing table: its heading, the most characters
// a cell may take (longer cells end in "…"; 0: no limit) and how a row
// fills it.
type column struct {
	head string
	max  int
	cell func(row) string
}

// workerColumns are `sluice workers`' default columns (98 characters at most).
var workerColumns = []column{
	{"ID", 20, field("id")},
	{"STATUS", 12, field("status")},
	{"JOB", 20, jobsCell},
	{"GPUS", 7, listCell("gpus")},
	{"UPTIME", 6, uptimeCell},
	{"LAST EXIT", 23, field("exit")},
}

// endpointColumns are `sluice endpoints`' default columns.
var endpointColumns = []column{
	{"ID", 40, field("id")},
	{"MANAGED", 7, boolCell("managed")},
	{"WORKERS", 7, field("workers")},
	{"MIN-MAX", 9, func(r row) string { return cellText(r["workersMin"]) + "-" + cellText(r["workersMax"]) }},
	{"IN QUEUE", 8, field("inQueue")},
	{"IN PROGRESS", 11, field("inProgress")},
}

// listFlags are the output flags of the listing commands.
type listFlags struct{ output string }

func (l *listFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&l.output, "output", "o", "", "wide: every field the server sends, one column each (--json: as sent)")
}

// printListing prints a Sluice listing (workers, endpoints): cols fitted to
// 100 columns, every field with -o wide, or as the server sent it with --json.
func (c *conn) printListing(s streams, b json.RawMessage, l listFlags, cols []column) error {
	switch {
	case c.json:
		return writeJSON(s.out, b, false)
	case l.output == "wide":
		return writeTable(s.out, b)
	case l.output != "":
		return fmt.Errorf("-o %q: want wide (or --json)", l.output)
	}
	return writeColumns(s.out, b, cols)
}

// writeColumns prints the rows of a listing in cols.
func writeColumns(w io.Writer, raw json.RawMessage, cols []column) error {
	rows, ok := tableRows(raw)
	if !ok {
		return writeJSON(w, raw, true)
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "(none)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	cells := make([]string, len(cols))
	for i, c := range cols {
		cells[i] = c.head
	}
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
	for _, r := range rows {
		for i, c := range cols {
			cells[i] = truncate(c.cell(r), c.max)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// field shows one field as cellText does.
func field(name string) func(row) string {
	return func(r row) string { return cellText(r[name]) }
}

// listCell shows a list of strings comma-separated.
func listCell(name string) func(row) string {
	return func(r row) string {
		var l []string
		if json.Unmarshal(r[name], &l) != nil || len(l) == 0 {
			return cellText(r[name])
		}
		return strings.Join(l, ",")
	}
}

// boolCell shows true as yes and false as no.
func boolCell(name string) func(row) string {
	return func(r row) string {
		var v bool
		if json.Unmarshal(r[name], &v) != nil {
			return cellText(r[name])
		}
		if v {
			return "yes"
		}
		return "no"
	}
}

// jobsCell shows a worker's first job, and how many more it runs.
func jobsCell(r row) string {
	var jobs []string
	if json.Unmarshal(r["jobs"], &jobs) != nil || len(jobs) == 0 {
		return "-"
	}
	if len(jobs) == 1 {
		return jobs[0]
	}
	return jobs[0] + " +" + strconv.Itoa(len(jobs)-1)
}

// uptimeCell shows how long a live worker has run; "-" for one that exited.
func uptimeCell(r row) string {
	var started, exited time.Time
	if json.Unmarshal(r["startedAt"], &started) != nil || started.IsZero() ||
		(json.Unmarshal(r["exitedAt"], &exited) == nil && !exited.IsZero()) {
		return "-"
	}
	return formatAge(time.Since(started))
}

// formatAge prints an age the way listings do: 45s, 12m, 3h05m, 2d4h.
func formatAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(0, int(d.Seconds())))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}
