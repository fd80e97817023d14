package logging_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/eventshop/eventshop/pkg/logging"
)

// logAll writes one message at each level, named after the level.
func logAll(log *zap.Logger) {
	log.Debug("debug-msg")
	log.Info("info-msg", zap.String("order_id", "o-1"))
	log.Warn("warn-msg")
	log.Error("error-msg")
}

func TestNewWithWriterFiltersByLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level string
		want  []string // messages expected, in order
	}{
		{level: "debug", want: []string{"debug-msg", "info-msg", "warn-msg", "error-msg"}},
		{level: "info", want: []string{"info-msg", "warn-msg", "error-msg"}},
		{level: "WARN", want: []string{"warn-msg", "error-msg"}},
		{level: "error", want: []string{"error-msg"}},
	}
	for _, format := range []string{logging.FormatConsole, logging.FormatJSON} {
		for _, tt := range tests {
			t.Run(format+"/"+tt.level, func(t *testing.T) {
				t.Parallel()
				var buf bytes.Buffer
				log, err := logging.NewWithWriter(tt.level, format, &buf)
				if err != nil {
					t.Fatalf("NewWithWriter: %v", err)
				}
				logAll(log)

				lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
				if len(lines) != len(tt.want) {
					t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(tt.want), buf.String())
				}
				for i, line := range lines {
					msg := tt.want[i]
					wantLevel := strings.TrimSuffix(msg, "-msg")
					if format == logging.FormatJSON {
						checkJSONLine(t, line, wantLevel, msg)
					} else {
						checkConsoleLine(t, line, wantLevel, msg)
					}
				}
			})
		}
	}
}

func checkJSONLine(t *testing.T, line, level, msg string) {
	t.Helper()
	var entry map[string]any
	if err := json.Unmarshal([]byte(line), &entry); err != nil {
		t.Fatalf("line is not JSON: %v\n%s", err, line)
	}
	if entry["level"] != level || entry["msg"] != msg {
		t.Errorf("level, msg = %v, %v; want %s, %s", entry["level"], entry["msg"], level, msg)
	}
	if _, ok := entry["ts"].(string); !ok {
		t.Errorf("ts = %v, want an RFC 3339 string", entry["ts"])
	}
	if msg == "info-msg" && entry["order_id"] != "o-1" {
		t.Errorf("order_id = %v, want o-1", entry["order_id"])
	}
}

func checkConsoleLine(t *testing.T, line, level, msg string) {
	t.Helper()
	if !strings.Contains(line, "\t"+strings.ToUpper(level)+"\t") || !strings.Contains(line, msg) {
		t.Errorf("console line %q lacks level %s or message %s", line, strings.ToUpper(level), msg)
	}
	if strings.Contains(line, "\x1b[") {
		t.Errorf("console line has colour codes: %q", line)
	}
	if msg == "info-msg" && !strings.Contains(line, `"order_id": "o-1"`) {
		t.Errorf("console line %q lacks the order_id field", line)
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, level, format string
		wantText            []string
	}{
		{name: "unknown level", level: "verbose", format: "json", wantText: []string{`"verbose"`, "debug, info, warn, error"}},
		{name: "empty level", level: "", format: "json", wantText: []string{`log level ""`}},
		{name: "unknown format", level: "info", format: "xml", wantText: []string{`"xml"`, "console or json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, err := logging.New(tt.level, tt.format)
			if err == nil {
				t.Fatalf("New(%q, %q) succeeded, want an error", tt.level, tt.format)
			}
			if log != nil {
				t.Errorf("New returned a logger alongside error %v", err)
			}
			for _, text := range tt.wantText {
				if !strings.Contains(err.Error(), text) {
					t.Errorf("error %q does not contain %q", err, text)
				}
			}
		})
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    zapcore.Level
		wantErr bool
	}{
		{in: "debug", want: zapcore.DebugLevel},
		{in: "Info", want: zapcore.InfoLevel},
		{in: " warn ", want: zapcore.WarnLevel},
		{in: "error", want: zapcore.ErrorLevel},
		{in: "warning", wantErr: true},
		{in: "fatal", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := logging.ParseLevel(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseLevel(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("ParseLevel(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestValidateFormat(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		format string
		ok     bool
	}{
		{"console", true},
		{"json", true},
		{"JSON", true},
		{"text", false},
		{"", false},
	} {
		err := logging.ValidateFormat(tt.format)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateFormat(%q) = %v, want ok=%v", tt.format, err, tt.ok)
		}
	}
}

// TestConsoleMessagesCannotForgeLines logs a message that holds a value
// from outside, as notification-service does with a customer id: a newline
// and a fake entry in it must stay on the one line, escaped.
func TestConsoleMessagesCannotForgeLines(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, err := logging.NewWithWriter("info", logging.FormatConsole, &buf)
	if err != nil {
		t.Fatal(err)
	}
	customer := "C-1\n2026-11-30T00:00:00.000Z\tERROR\tfake entry\r\x1b[2K"
	log.Info("Congrats "+customer+", your order O-1 has been approved!", zap.String("customer_id", customer))
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("one entry wrote %d lines:\n%s", len(lines), buf.String())
	}
	want := `Congrats C-1\n2026-11-30T00:00:00.000Z\tERROR\tfake entry\r\x1b[2K, your order O-1 has been approved!`
	if !strings.Contains(lines[0], want) || strings.ContainsAny(lines[0], "\r\x1b") {
		t.Errorf("line %q, want the message escaped as %q", lines[0], want)
	}
	// C1 controls are escaped too; invalid UTF-8 is left as it is.
	buf.Reset()
	log.Info("csi\u009b2J bad\xff\n")
	if !strings.Contains(buf.String(), `csi\u009b2J bad`+"\xff"+`\n`) {
		t.Errorf("line %q, want C1 escaped and the invalid byte kept", buf.String())
	}
	// Ordinary messages are written as they are.
	buf.Reset()
	log.Info("Congrats CUSTOMER-123, your order ORDER-1 has been approved! ünïcode")
	if !strings.Contains(buf.String(), "\tCongrats CUSTOMER-123, your order ORDER-1 has been approved! ünïcode") {
		t.Errorf("plain message changed: %q", buf.String())
	}
}
