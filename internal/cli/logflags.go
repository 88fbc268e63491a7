package cli

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// logFlags choose the server log's format and level.
type logFlags struct {
	format, level string
	debug         bool
}

func (f *logFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.format, "log-format", "text", "log format: text (key=value) or json (one object per line)")
	fl.StringVar(&f.level, "log-level", "info", "lowest level logged: debug, info, warn or error")
	fl.BoolVar(&f.debug, "debug", false, "log at debug level (same as --log-level debug)")
}

// logger builds the logger the flags describe, writing to w.
func (f *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.level)
	}
	if f.debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(f.format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", f.format)
}
