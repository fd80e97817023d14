package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventshop/eventshop/pkg/config"
)

// clearEnv unsets, for the test, every variable that could override the
// settings a test checks, so a developer's shell cannot change the outcome.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, v := range []string{"HTTP_ADDR", "NOTIFIER", "DEDUPE_WINDOW", "DEDUPE_LIMIT", "KAFKA_BROKERS", config.ConfigFileEnv} {
		t.Setenv(v, "") // empty counts as unset
	}
}

func TestConfigDefaults(t *testing.T) {
	clearEnv(t)
	cfg := defaultConfig()
	if err := config.Load(name, nil, &cfg); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.HTTPAddr != ":8002" {
		t.Errorf("http_addr = %q, want :8002", cfg.HTTPAddr)
	}
	if cfg.Notifier != "log" {
		t.Errorf("notifier = %q, want log", cfg.Notifier)
	}
	if got := strings.Join(cfg.KafkaBrokers, ","); got != "localhost:29092" {
		t.Errorf("kafka_brokers = %q, want localhost:29092", got)
	}
}

func TestConfigOverrides(t *testing.T) {
	file := filepath.Join(t.TempDir(), "notification.yaml")
	if err := os.WriteFile(file, []byte("http_addr: \":7102\"\nnotifier: log\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"config file", nil, []string{"--config", file}, ":7102"},
		{"environment beats config file", map[string]string{"HTTP_ADDR": ":7202"}, []string{"--config", file}, ":7202"},
		{"flag beats environment", map[string]string{"HTTP_ADDR": ":7202"}, []string{"--http-addr", ":7302"}, ":7302"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg := defaultConfig()
			if err := config.Load(name, tt.args, &cfg); err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.HTTPAddr != tt.want {
				t.Errorf("http_addr = %q, want %q", cfg.HTTPAddr, tt.want)
			}
			if cfg.Notifier != "log" {
				t.Errorf("notifier = %q, want log", cfg.Notifier)
			}
		})
	}
}

func TestRunRejectsInvalidConfigNamingTheKey(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantKey string
	}{
		{"unknown notifier flag", nil, []string{"--notifier", "email"}, "notifier (NOTIFIER)"},
		{"unknown notifier env", map[string]string{"NOTIFIER": "sms"}, nil, "notifier (NOTIFIER)"},
		{"notifier in another case", nil, []string{"--notifier", "LOG"}, "notifier (NOTIFIER)"},
		{"bad http address", nil, []string{"--http-addr", "8002"}, "http_addr (HTTP_ADDR)"},
		// One case of DedupeConfig's, to show that Validate calls it.
		{"zero dedupe window", nil, []string{"--dedupe-window", "0s"}, "dedupe_window (DEDUPE_WINDOW)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			// A config error must stop run before it dials Kafka, so the
			// broker address here is never used.
			err := run(t.Context(), tt.args, &bytes.Buffer{})
			if err == nil {
				t.Fatal("run succeeded, want a configuration error")
			}
			if !strings.Contains(err.Error(), tt.wantKey) {
				t.Errorf("error %q does not name %s", err, tt.wantKey)
			}
		})
	}
}

func TestRunHelpListsTheKeys(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(t.Context(), []string{"--help"}, &out)
	if !errors.Is(err, config.ErrHelp) {
		t.Fatalf("run --help returned %v, want config.ErrHelp", err)
	}
	for _, want := range []string{
		"--notifier string", `key notifier, env NOTIFIER, default "log"`, `default ":8002"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}
