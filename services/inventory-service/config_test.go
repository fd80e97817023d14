package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventshop/eventshop/pkg/config"
	"github.com/eventshop/eventshop/services/inventory-service/internal/inventory"
)

// clearEnv unsets the variables the config tests look at, so a developer's
// shell cannot change their outcome. An empty variable counts as unset.
func clearEnv(t *testing.T) {
	for _, env := range []string{"INITIAL_STOCK", "REFILL_THRESHOLD", "REFILL_LEVEL", "HTTP_ADDR", config.ConfigFileEnv} {
		t.Setenv(env, "")
	}
}

func TestConfigDefaults(t *testing.T) {
	clearEnv(t)
	cfg := defaultConfig()
	if err := config.Load(name, nil, &cfg); err != nil {
		t.Fatalf("Load: %v", err)
	}
	checkStock(t, &cfg, map[string]int{"PRODUCT-123": 109, "PRODUCT-321": 109}, inventory.Policy{Threshold: 100, RefillLevel: 109})
	if cfg.HTTPAddr != ":8001" {
		t.Errorf("http_addr = %q, want :8001", cfg.HTTPAddr)
	}
}

func TestConfigOverrides(t *testing.T) {
	file := filepath.Join(t.TempDir(), "inventory.yaml")
	yaml := "initial_stock: [\"FILE-1=5\", \"FILE-2=6\"]\nrefill_threshold: 2\nrefill_level: 8\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantLevels map[string]int
		wantPolicy inventory.Policy
	}{
		{
			name:       "flags",
			args:       []string{"--initial-stock", "A=1, B = 2", "--refill-threshold", "5", "--refill-level", "10"},
			wantLevels: map[string]int{"A": 1, "B": 2},
			wantPolicy: inventory.Policy{Threshold: 5, RefillLevel: 10},
		},
		{
			name:       "repeated list flag adds to the list",
			args:       []string{"--initial-stock", "A=1", "--initial-stock", "B=2"},
			wantLevels: map[string]int{"A": 1, "B": 2},
			wantPolicy: inventory.Policy{Threshold: 100, RefillLevel: 109},
		},
		{
			name:       "environment",
			env:        map[string]string{"INITIAL_STOCK": "X=0", "REFILL_THRESHOLD": "0", "REFILL_LEVEL": "1"},
			wantLevels: map[string]int{"X": 0},
			wantPolicy: inventory.Policy{Threshold: 0, RefillLevel: 1},
		},
		{
			name:       "config file",
			env:        map[string]string{config.ConfigFileEnv: file},
			wantLevels: map[string]int{"FILE-1": 5, "FILE-2": 6},
			wantPolicy: inventory.Policy{Threshold: 2, RefillLevel: 8},
		},
		{
			name:       "flag beats environment beats file",
			env:        map[string]string{config.ConfigFileEnv: file, "INITIAL_STOCK": "ENV=7", "REFILL_LEVEL": "9"},
			args:       []string{"--refill-level", "11"},
			wantLevels: map[string]int{"ENV": 7},
			wantPolicy: inventory.Policy{Threshold: 2, RefillLevel: 11},
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
			checkStock(t, &cfg, tt.wantLevels, tt.wantPolicy)
		})
	}
}

func checkStock(t *testing.T, cfg *Config, wantLevels map[string]int, wantPolicy inventory.Policy) {
	t.Helper()
	if !maps.Equal(cfg.stock, wantLevels) {
		t.Errorf("initial stock = %v, want %v", cfg.stock, wantLevels)
	}
	if got := cfg.policy(); got != wantPolicy {
		t.Errorf("policy = %+v, want %+v", got, wantPolicy)
	}
}

// TestRunRejectsInvalidConfig runs the service with bad settings: it must
// stop before connecting to anything, with an error naming the key. Flags
// win over the environment, so these tests need not clear it.
func TestRunRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{
			name: "stock not a number",
			args: []string{"--initial-stock", "PRODUCT-123=many"},
			want: []string{`initial_stock (INITIAL_STOCK): "PRODUCT-123=many": stock "many" is not a whole number`},
		},
		{
			name: "negative stock",
			args: []string{"--initial-stock", "PRODUCT-123=-1"},
			want: []string{`initial_stock (INITIAL_STOCK): "PRODUCT-123=-1": stock must not be negative, got -1`},
		},
		{
			name: "entry without =",
			args: []string{"--initial-stock", "PRODUCT-123"},
			want: []string{`initial_stock (INITIAL_STOCK): "PRODUCT-123": want PRODUCT=ITEMS`},
		},
		{
			name: "entry without product id",
			args: []string{"--initial-stock", "=5"},
			want: []string{`initial_stock (INITIAL_STOCK): "=5": product id is empty`},
		},
		{
			name: "product listed twice",
			args: []string{"--initial-stock", "P=1,Q=2,P=3"},
			want: []string{"initial_stock (INITIAL_STOCK): product P is listed more than once"},
		},
		{
			name: "empty list",
			args: []string{"--initial-stock", ""},
			want: []string{"initial_stock (INITIAL_STOCK): at least one PRODUCT=ITEMS pair is required"},
		},
		{
			name: "every bad entry is reported",
			args: []string{"--initial-stock", "A=x,B=-2,C=3"},
			want: []string{`"A=x": stock "x" is not a whole number`, `"B=-2": stock must not be negative`},
		},
		{
			name: "refill level at the threshold",
			args: []string{"--refill-level", "100"},
			want: []string{"refill_level (REFILL_LEVEL): must be greater than refill_threshold (100), got 100"},
		},
		{
			name: "negative threshold",
			args: []string{"--refill-threshold", "-1", "--refill-level", "5"},
			want: []string{"refill_threshold (REFILL_THRESHOLD): must not be negative, got -1"},
		},
		{
			name: "threshold not a number",
			args: []string{"--refill-threshold", "ten"},
			want: []string{"refill-threshold", `invalid integer "ten"`},
		},
		{
			name: "every bad key is reported",
			args: []string{"--initial-stock", "A=x", "--refill-threshold", "-1", "--refill-level", "-1", "--order-id-window", "0s"},
			want: []string{
				`initial_stock (INITIAL_STOCK): "A=x": stock "x" is not a whole number`,
				"refill_threshold (REFILL_THRESHOLD): must not be negative, got -1",
				"refill_level (REFILL_LEVEL): must be greater than refill_threshold (-1), got -1",
				"order_id_window (ORDER_ID_WINDOW): must be positive, got 0s",
			},
		},
		{
			name: "shared setting",
			args: []string{"--http-addr", "8001"},
			want: []string{"http_addr (HTTP_ADDR)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := run(context.Background(), tt.args, io.Discard)
			if err == nil {
				t.Fatal("run succeeded")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("run error %q\ndoes not contain %q", err, want)
				}
			}
		})
	}
}

func TestRunHelpListsSettings(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(context.Background(), []string{"--help"}, &out)
	if !errors.Is(err, config.ErrHelp) {
		t.Fatalf("run --help = %v, want config.ErrHelp", err)
	}
	for _, want := range []string{
		`key initial_stock, env INITIAL_STOCK, default "PRODUCT-123=109,PRODUCT-321=109"`,
		"key refill_threshold, env REFILL_THRESHOLD, default 100",
		"key refill_level, env REFILL_LEVEL, default 109",
		`key http_addr, env HTTP_ADDR, default ":8001"`,
		"key kafka_brokers, env KAFKA_BROKERS",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage does not contain %q:\n%s", want, out.String())
		}
	}
}
