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

// These tests check the order service's own keys. How a key is read from a
// file, the environment or a flag is package config's, tested there once.

func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	if cfg.HTTPAddr != ":8000" || cfg.SimulatorInterval != 5*time.Second || cfg.PublishTimeout != 10*time.Second {
		t.Errorf("http_addr %q, simulator_interval %s, publish_timeout %s; want :8000, 5s and 10s",
			cfg.HTTPAddr, cfg.SimulatorInterval, cfg.PublishTimeout)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // every problem, in order; none: valid
	}{
		{name: "0 turns the simulator off", mutate: func(c *Config) { c.SimulatorInterval = 0 }},
		{name: "publish timeout just under the HTTP write timeout", mutate: func(c *Config) { c.PublishTimeout = 20*time.Second - 1 }},
		{
			name:   "negative interval",
			mutate: func(c *Config) { c.SimulatorInterval = -5 * time.Second },
			want:   []string{"simulator_interval (SIMULATOR_INTERVAL): must not be negative (0 turns the simulator off), got -5s"},
		},
		{
			name:   "zero publish timeout",
			mutate: func(c *Config) { c.PublishTimeout = 0 },
			want:   []string{"publish_timeout (PUBLISH_TIMEOUT): must be positive and less than the HTTP write timeout, 20s, got 0s"},
		},
		{
			name:   "publish timeout past the HTTP write timeout",
			mutate: func(c *Config) { c.PublishTimeout = 30 * time.Second },
			want:   []string{"publish_timeout (PUBLISH_TIMEOUT): must be positive and less than the HTTP write timeout, 20s, got 30s"},
		},
		{
			name:   "shared key, checked by service.Base",
			mutate: func(c *Config) { c.HTTPAddr = "8000" },
			want:   []string{`http_addr (HTTP_ADDR): must be host:port or :port, got "8000"`},
		},
		{
			name:   "every bad key is reported",
			mutate: func(c *Config) { c.HTTPAddr, c.SimulatorInterval, c.PublishTimeout = "8000", -time.Second, 0 },
			want: []string{
				`http_addr (HTTP_ADDR): must be host:port or :port, got "8000"`,
				"simulator_interval (SIMULATOR_INTERVAL): must not be negative (0 turns the simulator off), got -1s",
				"publish_timeout (PUBLISH_TIMEOUT): must be positive and less than the HTTP write timeout, 20s, got 0s",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := defaultConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if want := strings.Join(tt.want, "\n"); err == nil || err.Error() != want {
				t.Errorf("Validate() = %v\nwant %s", err, want)
			}
		})
	}
}

// TestRunRefusesInvalidConfiguration checks that run loads its settings and
// stops on a bad one, naming the key, before it needs Kafka.
func TestRunRefusesInvalidConfiguration(t *testing.T) {
	for _, key := range []string{"HTTP_ADDR", "SIMULATOR_INTERVAL", "PUBLISH_TIMEOUT", config.ConfigFileEnv} {
		t.Setenv(key, "") // empty counts as unset
	}
	t.Setenv("SIMULATOR_INTERVAL", "abc")
	err := run(context.Background(), []string{"--publish-timeout=30s"}, &bytes.Buffer{})
	fe, ok := errors.AsType[*config.FieldError](err)
	if !ok || fe.Key != "simulator_interval" || !strings.Contains(err.Error(), "SIMULATOR_INTERVAL") {
		t.Fatalf("run = %v, want an error for simulator_interval", err)
	}
}

func TestHelpListsTheServiceSettings(t *testing.T) {
	t.Parallel()
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
