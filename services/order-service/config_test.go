package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/config"
)

// clearEnv unsets, for the test, every variable the tests here set, so that
// a developer's environment cannot change the outcome. An empty variable
// counts as unset.
func clearEnv(t *testing.T) {
	for _, key := range []string{"HTTP_ADDR", "SIMULATOR_INTERVAL", "PUBLISH_TIMEOUT", config.ConfigFileEnv} {
		t.Setenv(key, "")
	}
}

// ownSettings are the settings the order service adds to the shared ones,
// and the one whose default differs between services.
type ownSettings struct {
	HTTPAddr          string
	SimulatorInterval time.Duration
	PublishTimeout    time.Duration
}

// The tests that set environment variables cannot run in parallel.
func TestConfigDefaultsAndOverrides(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want ownSettings
	}{
		{
			name: "defaults",
			want: ownSettings{HTTPAddr: ":8000", SimulatorInterval: 5 * time.Second, PublishTimeout: 10 * time.Second},
		},
		{
			name: "environment",
			env:  map[string]string{"HTTP_ADDR": ":9000", "SIMULATOR_INTERVAL": "1s", "PUBLISH_TIMEOUT": "3s"},
			want: ownSettings{HTTPAddr: ":9000", SimulatorInterval: time.Second, PublishTimeout: 3 * time.Second},
		},
		{
			name: "flags",
			args: []string{"--http-addr", "127.0.0.1:9001", "--simulator-interval", "250ms", "--publish-timeout=4s"},
			want: ownSettings{HTTPAddr: "127.0.0.1:9001", SimulatorInterval: 250 * time.Millisecond, PublishTimeout: 4 * time.Second},
		},
		{
			name: "flag beats environment, and 0 turns the simulator off",
			env:  map[string]string{"SIMULATOR_INTERVAL": "1s"},
			args: []string{"--simulator-interval=0"},
			want: ownSettings{HTTPAddr: ":8000", SimulatorInterval: 0, PublishTimeout: 10 * time.Second},
		},
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
			got := ownSettings{HTTPAddr: cfg.HTTPAddr, SimulatorInterval: cfg.SimulatorInterval, PublishTimeout: cfg.PublishTimeout}
			if got != tt.want {
				t.Errorf("loaded %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRunRefusesInvalidConfigurationNamingTheKey(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantKey string
		want    string // a substring of the error
	}{
		{name: "interval not a duration", env: map[string]string{"SIMULATOR_INTERVAL": "abc"}, wantKey: "simulator_interval", want: "SIMULATOR_INTERVAL"},
		{name: "negative interval", args: []string{"--simulator-interval=-5s"}, wantKey: "simulator_interval", want: "must not be negative"},
		{name: "zero publish timeout", args: []string{"--publish-timeout=0"}, wantKey: "publish_timeout", want: "must be positive"},
		{name: "publish timeout past the HTTP write timeout", args: []string{"--publish-timeout=30s"}, wantKey: "publish_timeout", want: "less than the HTTP write timeout, 20s"},
		{name: "publish timeout not a duration", env: map[string]string{"PUBLISH_TIMEOUT": "soon"}, wantKey: "publish_timeout", want: "PUBLISH_TIMEOUT"},
		{name: "shared key", args: []string{"--http-addr=8000"}, wantKey: "http_addr", want: "host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			// run fails while loading its configuration, before it needs Kafka.
			err := run(context.Background(), tt.args, &bytes.Buffer{})
			fe, ok := errors.AsType[*config.FieldError](err)
			if !ok || fe.Key != tt.wantKey {
				t.Fatalf("run = %v, want an error for key %s", err, tt.wantKey)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestHelpListsTheServiceSettings(t *testing.T) {
	clearEnv(t)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, &out); !errors.Is(err, config.ErrHelp) {
		t.Fatalf("run(--help) = %v, want config.ErrHelp", err)
	}
	for _, want := range []string{
		"--simulator-interval", "key simulator_interval, env SIMULATOR_INTERVAL, default 5s",
		"--publish-timeout", "key publish_timeout, env PUBLISH_TIMEOUT, default 10s",
		`key http_addr, env HTTP_ADDR, default ":8000"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage does not contain %q:\n%s", want, out.String())
		}
	}
}
