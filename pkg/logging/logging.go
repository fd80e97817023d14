// Package logging builds the *zap.Logger every service passes down from main.
//
// There are two formats: "console", a readable line per event for people
// running services in a terminal, and "json", one object per line for log
// collectors. Both are chosen by configuration, so the same binary serves a
// developer and a cluster. The package keeps no global logger: main builds one
// and hands it to whatever needs it.
package logging

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The formats New accepts.
const (
	FormatConsole = "console"
	FormatJSON    = "json"
)

// levels lists the level names ParseLevel accepts, least severe first.
var levels = []string{"debug", "info", "warn", "error"}

// ParseLevel turns a configured level name (debug, info, warn or error, in any
// case) into a zap level. The error names the bad value and the allowed ones,
// ready for a config Validate method.
func ParseLevel(level string) (zapcore.Level, error) {
	switch normalize(level) {
	case "debug":
		return zapcore.DebugLevel, nil
	case "info":
		return zapcore.InfoLevel, nil
	case "warn":
		return zapcore.WarnLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	return 0, fmt.Errorf("unknown log level %q (want %s)", level, strings.Join(levels, ", "))
}

// ValidateFormat reports whether format is one New accepts (in any case), for
// config Validate methods that want to fail before any logger exists.
func ValidateFormat(format string) error {
	switch normalize(format) {
	case FormatConsole, FormatJSON:
		return nil
	}
	return fmt.Errorf("unknown log format %q (want %s or %s)", format, FormatConsole, FormatJSON)
}

// normalize forgives case and stray spaces, which env files and YAML make easy
// to get wrong and which never change the meaning.
func normalize(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// FlushInterval is the longest a line New's logger logs waits in its buffer.
const FlushInterval = 100 * time.Millisecond

// New returns a logger writing to standard error at the given level and in the
// given format ("console" or "json").
//
// Lines are buffered and written together at least every FlushInterval, or
// when 256 KiB have piled up: a write call per line cost a consumer logging
// each record a third of its CPU. Call the logger's Sync before the process
// exits, or the last lines may be lost.
func New(level, format string) (*zap.Logger, error) {
	return newLogger(level, format, &zapcore.BufferedWriteSyncer{
		WS:            zapcore.AddSync(os.Stderr),
		FlushInterval: FlushInterval,
	})
}

// NewWithWriter is New writing to w instead of standard error, for tests and
// for processes that collect several services' output. Writes are serialised,
// so w need not be safe for concurrent use.
func NewWithWriter(level, format string, w io.Writer) (*zap.Logger, error) {
	return newLogger(level, format, zapcore.Lock(zapcore.AddSync(w)))
}

func newLogger(level, format string, ws zapcore.WriteSyncer) (*zap.Logger, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("logging: %w", err)
	}
	if err := ValidateFormat(format); err != nil {
		return nil, fmt.Errorf("logging: %w", err)
	}

	var encoder zapcore.Encoder
	if normalize(format) == FormatJSON {
		enc := zap.NewProductionEncoderConfig()
		// RFC 3339 rather than zap's float seconds: collectors parse both,
		// and people reading raw JSON can read this one.
		enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		enc.EncodeDuration = zapcore.StringDurationEncoder
		encoder = zapcore.NewJSONEncoder(enc)
	} else {
		enc := zap.NewDevelopmentEncoderConfig()
		// No colour: output is often piped through a prefixer or a file,
		// where escape codes are noise.
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		enc.EncodeDuration = zapcore.StringDurationEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	}

	core := zapcore.NewCore(encoder, ws, lvl)
	if normalize(format) == FormatConsole {
		core = escapedMessages{core}
	}
	// No sampling, unlike zap's production preset: each event here is a
	// business fact (an order, a refill) that must not be dropped under load.
	// No automatic stack traces either: errors carry their context by
	// wrapping, and a trace of the logging call site rarely adds to it.
	return zap.New(core, zap.AddCaller(), zap.ErrorOutput(zapcore.Lock(os.Stderr))), nil
}

// escapedMessages escapes control characters in each entry's message before
// the console encoder writes it raw, as it does: a message may hold a value
// from outside (a customer id in a notification), and a newline in it would
// start a forged log line. Fields are JSON and escaped already.
type escapedMessages struct{ zapcore.Core }

func (c escapedMessages) With(fields []zapcore.Field) zapcore.Core {
	return escapedMessages{c.Core.With(fields)}
}

func (c escapedMessages) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c escapedMessages) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	ent.Message = escapeControls(ent.Message)
	return c.Core.Write(ent, fields)
}

// escapeControls writes the control characters of s (C0, DEL and C1) as Go
// escapes (\n, \t, \x1b, \u009b), leaving every other byte, invalid UTF-8
// included, as it is.
func escapeControls(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if isControl(r) { // an invalid byte reads as utf8.RuneError, not a control
			q := strconv.QuoteRune(r) // '\n', '\x1b', '\u009b'
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 || r >= 0x7f && r <= 0x9f }
