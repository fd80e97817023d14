package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/eventshop/eventshop/pkg/config"
)

// These tests check the notification service's own keys. How a key is read
// from a file, the environment or a flag is package config's, tested there
// once.

func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	if cfg.HTTPAddr != ":8002" || cfg.Notifier != "log" || cfg.ConsumerGroup != "notification-service-group" {
		t.Errorf("http_addr %q, notifier %q, consumer_group %q; want :8002, log and notification-service-group",
			cfg.HTTPAddr, cfg.Notifier, cfg.ConsumerGroup)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // every problem, in order
	}{
		{
			name:   "unknown notifier",
			mutate: func(c *Config) { c.Notifier = "email" },
			want:   []string{`notifier (NOTIFIER): unknown notifier "email" (want log)`},
		},
		{
			name:   "notifier in another case",
			mutate: func(c *Config) { c.Notifier = "LOG" },
			want:   []string{`notifier (NOTIFIER): unknown notifier "LOG" (want log)`},
		},
		{
			name:   "shared key, checked by service.Base",
			mutate: func(c *Config) { c.HTTPAddr = "8002" },
			want:   []string{`http_addr (HTTP_ADDR): must be host:port or :port, got "8002"`},
		},
		{
			name: "every bad key is reported, DedupeConfig's too",
			mutate: func(c *Config) {
				c.ConsumerGroup, c.Notifier, c.DedupeWindow = "", "sms", 0
			},
			want: []string{
				"consumer_group (CONSUMER_GROUP): must not be empty",
				`notifier (NOTIFIER): unknown notifier "sms" (want log)`,
				"dedupe_window (DEDUPE_WINDOW): must be positive, got 0s",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := defaultConfig()
			tt.mutate(&cfg)
			if want, err := strings.Join(tt.want, "\n"), cfg.Validate(); err == nil || err.Error() != want {
				t.Errorf("Validate() = %v\nwant %s", err, want)
			}
		})
	}
}

// TestRunRejectsInvalidConfig checks that run loads its settings and stops on
// a bad one, naming the key, before it dials Kafka.
func TestRunRejectsInvalidConfig(t *testing.T) {
	for _, v := range []string{"NOTIFIER", config.ConfigFileEnv} {
		t.Setenv(v, "") // empty counts as unset
	}
	t.Setenv("NOTIFIER", "sms")
	err := run(t.Context(), nil, &bytes.Buffer{})
	if want := `notifier (NOTIFIER): unknown notifier "sms" (want log)`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("run = %v, want an error containing %q", err, want)
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
