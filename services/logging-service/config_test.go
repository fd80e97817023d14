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
	for _, v := range []string{"HTTP_ADDR", "LOG_LEVEL", "DEDUPE_WINDOW", "DEDUPE_LIMIT", "KAFKA_BROKERS", config.ConfigFileEnv} {
		t.Setenv(v, "") // empty counts as unset
	}
}

func TestConfigDefaults(t *testing.T) {
	clearEnv(t)
	cfg := defaultConfig()
	if err := config.Load(name, nil, &cfg); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.HTTPAddr != ":8003" {
		t.Errorf("http_addr = %q, want :8003", cfg.HTTPAddr)
	}
	if cfg.LogLevel != "info" {
		t.Errorf("log_level = %q, want info", cfg.LogLevel)
	}
	if got := strings.Join(cfg.KafkaBrokers, ","); got != "localhost:29092" {
		t.Errorf("kafka_brokers = %q, want localhost:29092", got)
	}
}

func TestConfigOverrides(t *testing.T) {
	file := filepath.Join(t.TempDir(), "logging.yaml")
	if err := os.WriteFile(file, []byte("http_addr: \":7103\"\nlog_level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantAddr string
		wantLvl  string
	}{
		{"config file", nil, []string{"--config", file}, ":7103", "debug"},
		{"environment beats config file", map[string]string{"HTTP_ADDR": ":7203"}, []string{"--config", file}, ":7203", "debug"},
		{"flag beats environment", map[string]string{"HTTP_ADDR": ":7203", "LOG_LEVEL": "warn"},
			[]string{"--http-addr", ":7303"}, ":7303", "warn"},
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
			if cfg.HTTPAddr != tt.wantAddr {
				t.Errorf("http_addr = %q, want %q", cfg.HTTPAddr, tt.wantAddr)
			}
			if cfg.LogLevel != tt.wantLvl {
				t.Errorf("log_level = %q, want %q", cfg.LogLevel, tt.wantLvl)
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
		{"bad http address flag", nil, []string{"--http-addr", "8003"}, "http_addr (HTTP_ADDR)"},
		{"bad log level env", map[string]string{"LOG_LEVEL": "loud"}, nil, "log_level (LOG_LEVEL)"},
		{"broker without port", nil, []string{"--kafka-brokers", "localhost"}, "kafka_brokers (KAFKA_BROKERS)"},
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
		"--http-addr string", `key http_addr, env HTTP_ADDR, default ":8003"`, "--dead-letter-topic",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}
