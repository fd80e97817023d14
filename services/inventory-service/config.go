package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/eventshop/eventshop/pkg/config"
	"github.com/eventshop/eventshop/pkg/service"
	"github.com/eventshop/eventshop/services/inventory-service/internal/inventory"
)

// Config is the inventory service's configuration.
type Config struct {
	service.Base
	service.ConsumerConfig
	InitialStock    []string      `config:"initial_stock" help:"stock at start as PRODUCT=ITEMS pairs; the list replaces the default as a whole"`
	RefillThreshold int           `config:"refill_threshold" help:"a product whose stock falls to this or below is reported empty and refilled"`
	RefillLevel     int           `config:"refill_level" help:"the stock an empty product is refilled to; must be greater than refill_threshold"`
	OrderIDWindow   time.Duration `config:"order_id_window" help:"how long an order id is remembered: the same order placed again within it is applied once"`
	OrderIDLimit    int           `config:"order_id_limit" help:"the most orders remembered per partition of the inventory, one per product of each order; past it the oldest are forgotten before order_id_window is over"`
	OrderIDBytes    int           `config:"order_id_bytes" help:"the most bytes the orders remembered per partition take, their ids and 128 bytes each; past it the oldest are forgotten before order_id_window is over"`

	stock map[string]int // InitialStock as Validate parsed it
}

// defaultConfig returns the tutorial's settings: two products with 109 items
// each, refilled to 109 when they fall to 100.
func defaultConfig() Config {
	return Config{
		Base:            service.DefaultBase(":8001"),
		ConsumerConfig:  service.ConsumerConfig{ConsumerGroup: "inventory-service-group"},
		InitialStock:    []string{"PRODUCT-123=109", "PRODUCT-321=109"},
		RefillThreshold: 100,
		RefillLevel:     109,
		OrderIDWindow:   time.Hour,
		OrderIDLimit:    100_000,
		OrderIDBytes:    16 << 20,
	}
}

// Validate reports every invalid setting, each naming its key, and keeps
// the stock it parsed for run. The refill rule is the policy's own.
func (c *Config) Validate() error {
	stock, err := c.stockLevels()
	c.stock = stock
	errs := []error{c.Base.Validate(), c.ConsumerConfig.Validate(), err}
	policyErr := c.policy().Validate()
	if errors.Is(policyErr, inventory.ErrThreshold) {
		errs = append(errs, config.Errorf("refill_threshold", "must not be negative, got %d", c.RefillThreshold))
	}
	if errors.Is(policyErr, inventory.ErrRefillLevel) {
		errs = append(errs, config.Errorf("refill_level", "must be greater than refill_threshold (%d), got %d",
			c.RefillThreshold, c.RefillLevel))
	}
	if c.OrderIDWindow <= 0 {
		errs = append(errs, config.Errorf("order_id_window", "must be positive, got %s", c.OrderIDWindow))
	}
	if c.OrderIDLimit < 1 {
		errs = append(errs, config.Errorf("order_id_limit", "must be at least 1, got %d", c.OrderIDLimit))
	}
	if c.OrderIDBytes < inventory.MinBoundBytes {
		errs = append(errs, config.Errorf("order_id_bytes", "must be at least %d, got %d", inventory.MinBoundBytes, c.OrderIDBytes))
	}
	return errors.Join(errs...)
}

// orderBounds returns the bounds of what each owner remembers of the
// orders applied.
func (c *Config) orderBounds() inventory.Bounds {
	return inventory.Bounds{Window: c.OrderIDWindow, Limit: c.OrderIDLimit, MaxBytes: c.OrderIDBytes}
}

// policy returns the refill rule the settings describe.
func (c *Config) policy() inventory.Policy {
	return inventory.Policy{Threshold: c.RefillThreshold, RefillLevel: c.RefillLevel}
}

// stockLevels parses InitialStock into product id -> items, reporting every
// bad entry.
func (c *Config) stockLevels() (map[string]int, error) {
	const key = "initial_stock"
	if len(c.InitialStock) == 0 {
		return nil, config.Errorf(key, "at least one PRODUCT=ITEMS pair is required")
	}
	levels := make(map[string]int, len(c.InitialStock))
	var errs []error
	for _, entry := range c.InitialStock {
		id, items, err := parseStockEntry(entry)
		if err != nil {
			errs = append(errs, config.Errorf(key, "%q: %w", entry, err))
			continue
		}
		if _, seen := levels[id]; seen {
			errs = append(errs, config.Errorf(key, "product %s is listed more than once", id))
			continue
		}
		levels[id] = items
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return levels, nil
}

// parseStockEntry reads "PRODUCT-123=109".
func parseStockEntry(entry string) (id string, items int, err error) {
	id, text, ok := strings.Cut(entry, "=")
	if !ok {
		return "", 0, errors.New("want PRODUCT=ITEMS")
	}
	if id = strings.TrimSpace(id); id == "" {
		return "", 0, errors.New("product id is empty")
	}
	text = strings.TrimSpace(text)
	if items, err = strconv.Atoi(text); err != nil {
		return "", 0, fmt.Errorf("stock %q is not a whole number", text)
	}
	if items < 0 {
		return "", 0, fmt.Errorf("stock must not be negative, got %d", items)
	}
	return id, items, nil
}
