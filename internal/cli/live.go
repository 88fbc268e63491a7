package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/client"
)

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// terminalWidth is the width of the terminal w, else $COLUMNS, else 80.
func terminalWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if n := windowWidth(f); n > 20 {
			return n
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 20 {
		return n
	}
	return 80
}

// liveState is what the live line knows about a job: the last status seen
// and when (local clock). It is a pure function of its inputs, so tests
// drive it with a fixed clock.
type liveState struct {
	jobID        string
	start        time.Time // when the command began watching
	last         *client.JobStatus
	lastAt       time.Time // when last was fetched
	runningSince time.Time // local time IN_PROGRESS was first seen
}

// observe records a fetched status.
func (l *liveState) observe(st *client.JobStatus, now time.Time) {
	if st.ID != "" {
		l.jobID = st.ID
	}
	if st.Status == client.StatusInProgress && l.runningSince.IsZero() {
		l.runningSince = now
	}
	l.last, l.lastAt = st, now
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// render returns the live line for time now, at most width columns:
// spinner, status, time in queue, time running, latest progress, job id,
// and why a queued job waits (Sluice's waiting reason).
func (l *liveState) render(now time.Time, width int) string {
	status := client.Status("SUBMITTING")
	if l.jobID != "" {
		status = client.StatusInQueue // accepted: the server answered with its id
	}
	var delay, exec time.Duration
	var progress string
	if l.last != nil {
		status = l.last.Status
		delay = l.last.Delay()
		exec = l.last.Execution()
	}
	switch {
	case l.last == nil || status == client.StatusInQueue:
		delay = now.Sub(l.start)
	case delay == 0 && exec == 0 && !l.runningSince.IsZero():
		// The server reports no times (a delayTime of 0 with an
		// executionTime is a real 0): use the local clock.
		delay = l.runningSince.Sub(l.start)
	}
	if status == client.StatusInProgress {
		if exec > 0 {
			exec += now.Sub(l.lastAt)
		} else {
			exec = now.Sub(l.runningSince)
		}
		if len(l.last.Output) > 0 && string(l.last.Output) != "null" {
			progress = string(compact(l.last.Output))
		}
	}
	frame := spinner[int(now.Sub(l.start)/(100*time.Millisecond))%len(spinner)]
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-11s  queued %s", frame, status, formatDuration(delay))
	if status != client.StatusInQueue && l.last != nil {
		fmt.Fprintf(&b, "  running %s", formatDuration(exec))
	}
	if progress != "" {
		fmt.Fprintf(&b, "  progress %s", progress)
	}
	if l.jobID != "" {
		fmt.Fprintf(&b, "  job %s", l.jobID)
	}
	if status == client.StatusInQueue && l.last != nil && l.last.Waiting != nil {
		fmt.Fprintf(&b, "  %s: %s", l.last.Waiting.Reason, l.last.Waiting.Message)
	}
	return truncate(b.String(), width-1)
}

// truncate cuts s to at most n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// formatDuration prints a duration the way a person reads it: 850ms, 3.4s,
// 2m05s, 1h02m.
func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// liveLine redraws a liveState on a terminal about five times a second
// until stopped.
type liveLine struct {
	w     io.Writer
	width int
	mu    sync.Mutex
	state liveState
	stop  chan struct{}
	done  sync.WaitGroup
}

// startLive starts drawing on w. Call update with each status, and stop
// (once) when done; stop erases the line.
func startLive(w io.Writer, jobID string) *liveLine {
	l := &liveLine{w: w, width: terminalWidth(w), stop: make(chan struct{})}
	l.state = liveState{jobID: jobID, start: time.Now()}
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			l.draw()
			select {
			case <-l.stop:
				return
			case <-t.C:
			}
		}
	}()
	return l
}

func (l *liveLine) draw() {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "\r%s\x1b[K", l.state.render(time.Now(), l.width))
}

// update records a status; it is safe to call from any goroutine.
func (l *liveLine) update(st *client.JobStatus) {
	l.mu.Lock()
	l.state.observe(st, time.Now())
	l.mu.Unlock()
}

// accepted records the id the server gave the job (before any status).
func (l *liveLine) accepted(id string) {
	l.mu.Lock()
	l.state.jobID = id
	l.mu.Unlock()
}

// finish stops the redraws and erases the line.
func (l *liveLine) finish() {
	close(l.stop)
	l.done.Wait()
	fmt.Fprint(l.w, "\r\x1b[K")
}
