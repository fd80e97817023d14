package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/eventshop/eventshop/pkg/config"
)

// The logging service has no keys of its own: these tests check its defaults
// and that Validate checks every shared section it embeds. How a key is read
// from a file, the environment or a flag is package config's, tested there
// once.

func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	if cfg.HTTPAddr != ":8003" || cfg.ConsumerGroup != "logging-service-group" {
		t.Errorf("http_addr %q, consumer_group %q; want :8003 and logging-service-group", cfg.HTTPAddr, cfg.ConsumerGroup)
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig()
	cfg.HTTPAddr, cfg.ConsumerGroup, cfg.DedupeWindow = "8003", "", 0
	want := strings.Join([]string{
		`http_addr (HTTP_ADDR): must be host:port or :port, got "8003"`,
		"consumer_group (CONSUMER_GROUP): must not be empty",
		"dedupe_window (DEDUPE_WINDOW): must be positive, got 0s",
	}, "\n")
	if err := cfg.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate() = %v\nwant %s", err, want)
	}
}

// TestRunRejectsInvalidConfig checks that run loads its settings and stops on
// a bad one, naming the key, before it dials Kafka.
func TestRunRejectsInvalidConfig(t *testing.T) {
	for _, v := range []string{"LOG_LEVEL", config.ConfigFileEnv} {
		t.Setenv(v, "") // empty counts as unset
	}
	t.Setenv("LOG_LEVEL", "loud")
	err := run(t.Context(), nil, &bytes.Buffer{})
	if want := "log_level (LOG_LEVEL)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("run = %v, want an error naming %s", err, want)
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
