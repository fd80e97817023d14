package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"strings"
	"testing"

	"github.com/eventshop/eventshop/pkg/config"
	"github.com/eventshop/eventshop/services/inventory-service/internal/inventory"
)

// These tests check the inventory service's own keys. How a key is read from
// a file, the environment or a flag is package config's, tested there once.

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tutorial := map[string]int{"PRODUCT-123": 109, "PRODUCT-321": 109}
	tests := []struct {
		name       string
		mutate     func(*Config)
		wantStock  map[string]int
		wantPolicy inventory.Policy
		want       []string // every problem, in order; none: valid
	}{
		{
			name:       "defaults are the tutorial's",
			mutate:     func(*Config) {},
			wantStock:  tutorial,
			wantPolicy: inventory.Policy{Threshold: 100, RefillLevel: 109},
		},
		{
			name:       "spaces around products and items",
			mutate:     func(c *Config) { c.InitialStock = []string{"A=1", " B = 2 "} },
			wantStock:  map[string]int{"A": 1, "B": 2},
			wantPolicy: inventory.Policy{Threshold: 100, RefillLevel: 109},
		},
		{
			name:       "zero stock and threshold",
			mutate:     func(c *Config) { c.InitialStock, c.RefillThreshold, c.RefillLevel = []string{"X=0"}, 0, 1 },
			wantStock:  map[string]int{"X": 0},
			wantPolicy: inventory.Policy{Threshold: 0, RefillLevel: 1},
		},
		{
			name:   "stock not a number",
			mutate: func(c *Config) { c.InitialStock = []string{"PRODUCT-123=many"} },
			want:   []string{`initial_stock (INITIAL_STOCK): "PRODUCT-123=many": stock "many" is not a whole number`},
		},
		{
			name:   "negative stock",
			mutate: func(c *Config) { c.InitialStock = []string{"PRODUCT-123=-1"} },
			want:   []string{`initial_stock (INITIAL_STOCK): "PRODUCT-123=-1": stock must not be negative, got -1`},
		},
		{
			name:   "entry without =",
			mutate: func(c *Config) { c.InitialStock = []string{"PRODUCT-123"} },
			want:   []string{`initial_stock (INITIAL_STOCK): "PRODUCT-123": want PRODUCT=ITEMS`},
		},
		{
			name:   "entry without product id",
			mutate: func(c *Config) { c.InitialStock = []string{"=5"} },
			want:   []string{`initial_stock (INITIAL_STOCK): "=5": product id is empty`},
		},
		{
			name:   "product listed twice",
			mutate: func(c *Config) { c.InitialStock = []string{"P=1", "Q=2", "P=3"} },
			want:   []string{"initial_stock (INITIAL_STOCK): product P is listed more than once"},
		},
		{
			name:   "empty list",
			mutate: func(c *Config) { c.InitialStock = nil },
			want:   []string{"initial_stock (INITIAL_STOCK): at least one PRODUCT=ITEMS pair is required"},
		},
		{
			name:   "every bad entry is reported",
			mutate: func(c *Config) { c.InitialStock = []string{"A=x", "B=-2", "C=3"} },
			want: []string{
				`initial_stock (INITIAL_STOCK): "A=x": stock "x" is not a whole number`,
				`initial_stock (INITIAL_STOCK): "B=-2": stock must not be negative, got -2`,
			},
		},
		{
			name:   "refill level at the threshold",
			mutate: func(c *Config) { c.RefillLevel = 100 },
			want:   []string{"refill_level (REFILL_LEVEL): must be greater than refill_threshold (100), got 100"},
		},
		{
			name:   "negative threshold",
			mutate: func(c *Config) { c.RefillThreshold, c.RefillLevel = -1, 5 },
			want:   []string{"refill_threshold (REFILL_THRESHOLD): must not be negative, got -1"},
		},
		{
			name:   "zero order id window",
			mutate: func(c *Config) { c.OrderIDWindow = 0 },
			want:   []string{"order_id_window (ORDER_ID_WINDOW): must be positive, got 0s"},
		},
		{
			name:   "order id bounds too small",
			mutate: func(c *Config) { c.OrderIDLimit, c.OrderIDBytes = 0, 100 },
			want: []string{
				"order_id_limit (ORDER_ID_LIMIT): must be at least 1, got 0",
				"order_id_bytes (ORDER_ID_BYTES): must be at least 1024, got 100",
			},
		},
		{
			name:   "shared keys, checked by service.Base and ConsumerConfig",
			mutate: func(c *Config) { c.HTTPAddr, c.ConsumerGroup = "8001", " " },
			want: []string{
				`http_addr (HTTP_ADDR): must be host:port or :port, got "8001"`,
				"consumer_group (CONSUMER_GROUP): must not be empty",
			},
		},
		{
			name: "every bad key is reported",
			mutate: func(c *Config) {
				c.InitialStock, c.RefillThreshold, c.RefillLevel, c.OrderIDWindow = []string{"A=x"}, -1, -1, 0
			},
			want: []string{
				`initial_stock (INITIAL_STOCK): "A=x": stock "x" is not a whole number`,
				"refill_threshold (REFILL_THRESHOLD): must not be negative, got -1",
				"refill_level (REFILL_LEVEL): must be greater than refill_threshold (-1), got -1",
				"order_id_window (ORDER_ID_WINDOW): must be positive, got 0s",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := defaultConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if len(tt.want) > 0 {
				if want := strings.Join(tt.want, "\n"); err == nil || err.Error() != want {
					t.Errorf("Validate() = %v\nwant %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if !maps.Equal(cfg.stock, tt.wantStock) {
				t.Errorf("initial stock = %v, want %v", cfg.stock, tt.wantStock)
			}
			if got := cfg.policy(); got != tt.wantPolicy {
				t.Errorf("policy = %+v, want %+v", got, tt.wantPolicy)
			}
		})
	}
}

// TestRunRejectsInvalidConfig checks that run loads its settings and stops on
// a bad one, naming the key, before it connects to anything. Flags win over
// the environment, so this test need not clear it.
func TestRunRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"--initial-stock", "PRODUCT-123=many"}, io.Discard)
	want := `initial_stock (INITIAL_STOCK): "PRODUCT-123=many": stock "many" is not a whole number`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("run = %v, want an error containing %q", err, want)
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
		"key order_id_window, env ORDER_ID_WINDOW, default 1h0m0s",
		`key http_addr, env HTTP_ADDR, default ":8001"`,
		"key kafka_brokers, env KAFKA_BROKERS",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage does not contain %q:\n%s", want, out.String())
		}
	}
}
