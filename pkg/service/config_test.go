package service_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/config"
	"github.com/eventshop/eventshop/pkg/dedupe"
	"github.com/eventshop/eventshop/pkg/service"
)

func TestDedupeConfigValidate(t *testing.T) {
	t.Parallel()
	const window, limit = "dedupe_window (DEDUPE_WINDOW)", "dedupe_limit (DEDUPE_LIMIT)"
	tests := []struct {
		name     string
		mutate   func(*service.DedupeConfig)
		wantKeys []string // what the error names; none: no error
	}{
		{"defaults are valid", func(*service.DedupeConfig) {}, nil},
		{"smallest valid", func(c *service.DedupeConfig) { c.DedupeWindow, c.DedupeLimit = time.Nanosecond, 1 }, nil},
		{"zero window", func(c *service.DedupeConfig) { c.DedupeWindow = 0 }, []string{window}},
		{"negative window", func(c *service.DedupeConfig) { c.DedupeWindow = -time.Minute }, []string{window}},
		{"zero limit", func(c *service.DedupeConfig) { c.DedupeLimit = 0 }, []string{limit}},
		{"negative limit", func(c *service.DedupeConfig) { c.DedupeLimit = -1 }, []string{limit}},
		{"both wrong", func(c *service.DedupeConfig) { c.DedupeWindow, c.DedupeLimit = 0, 0 }, []string{window, limit}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := service.DefaultDedupeConfig()
			tc.mutate(&c)
			err := c.Validate()
			if len(tc.wantKeys) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error naming %v", tc.wantKeys)
			}
			for _, key := range tc.wantKeys {
				if !strings.Contains(err.Error(), key) {
					t.Errorf("Validate() = %q, does not name %s", err, key)
				}
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != len(tc.wantKeys) {
				t.Errorf("Validate() = %q, %d problems, want %d", err, n, len(tc.wantKeys))
			}
		})
	}
}

// TestBaseValidateReportsEveryProblem checks that Base names every bad key at
// once, judging brokers and versions by package kafka's own rules: a broker
// without a host is refused here as the client would refuse it.
func TestBaseValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	b := service.DefaultBase(":8000")
	b.KafkaBrokers = []string{":9092", "kafka:9092"}
	b.KafkaVersion = "2.0.0"
	b.LogLevel = "loud"
	want := strings.Join([]string{
		`kafka_brokers (KAFKA_BROKERS): ":9092" is not host:port`,
		`kafka_version (KAFKA_VERSION): "2.0.0" is not a supported Kafka version (use 2.1.0 or newer, e.g. 4.0.0)`,
		`log_level (LOG_LEVEL): unknown log level "loud" (want debug, info, warn, error)`,
	}, "\n")
	if err := b.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want\n%s", err, want)
	}
}

// dedupeOnly is a service's configuration with nothing but DedupeConfig.
type dedupeOnly struct {
	service.DedupeConfig
}

// loadDedupe loads a configuration of nothing but DedupeConfig from env and
// args, with the variables a developer's shell could set unset.
func loadDedupe(t *testing.T, env map[string]string, args []string) (dedupeOnly, error) {
	t.Helper()
	for _, v := range []string{"DEDUPE_WINDOW", "DEDUPE_LIMIT", config.ConfigFileEnv} {
		t.Setenv(v, "") // empty counts as unset
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg := dedupeOnly{service.DefaultDedupeConfig()}
	return cfg, config.Load("test-service", args, &cfg)
}

func TestDedupeConfigLoad(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want dedupe.Bounds
	}{
		{"defaults", nil, nil, dedupe.Bounds{Window: time.Hour, Limit: 100_000}},
		{"environment", map[string]string{"DEDUPE_WINDOW": "10m", "DEDUPE_LIMIT": "500"}, nil,
			dedupe.Bounds{Window: 10 * time.Minute, Limit: 500}},
		{"flags", nil, []string{"--dedupe-window", "90s", "--dedupe-limit", "1"},
			dedupe.Bounds{Window: 90 * time.Second, Limit: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadDedupe(t, tt.env, tt.args)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := cfg.DedupeBounds(); got != tt.want {
				t.Errorf("dedupe bounds %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDedupeConfigLoadRejectsInvalidNamingTheKey(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantKey string
	}{
		{"zero dedupe window", nil, []string{"--dedupe-window", "0s"}, "dedupe_window (DEDUPE_WINDOW)"},
		{"negative dedupe window", map[string]string{"DEDUPE_WINDOW": "-1m"}, nil, "dedupe_window (DEDUPE_WINDOW)"},
		{"dedupe window without unit", map[string]string{"DEDUPE_WINDOW": "60"}, nil, "dedupe_window (DEDUPE_WINDOW)"},
		{"zero dedupe limit", map[string]string{"DEDUPE_LIMIT": "0"}, nil, "dedupe_limit (DEDUPE_LIMIT)"},
		{"dedupe limit not a number", map[string]string{"DEDUPE_LIMIT": "lots"}, nil, "dedupe_limit (DEDUPE_LIMIT)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadDedupe(t, tt.env, tt.args)
			if err == nil {
				t.Fatal("Load succeeded, want a configuration error")
			}
			if !strings.Contains(err.Error(), tt.wantKey) {
				t.Errorf("error %q does not name %s", err, tt.wantKey)
			}
		})
	}
}

func TestDedupeConfigHelpListsTheKeys(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	cfg := dedupeOnly{service.DefaultDedupeConfig()}
	err := config.Load("test-service", []string{"--help"}, &cfg, config.WithUsageOutput(&out))
	if !errors.Is(err, config.ErrHelp) {
		t.Fatalf("Load(--help) = %v, want config.ErrHelp", err)
	}
	for _, want := range []string{
		"--dedupe-window duration", "key dedupe_window, env DEDUPE_WINDOW, default 1h0m0s",
		"--dedupe-limit int", "key dedupe_limit, env DEDUPE_LIMIT, default 100000",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}
