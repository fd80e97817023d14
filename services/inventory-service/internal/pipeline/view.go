package pipeline

import (
	"context"
	"maps"
	"sync"

	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/services/inventory-service/internal/inventory"
)

// View is every product's state as the stock changelog tells it, whichever
// instance owns the product: the read model behind GET /stock. It reads
// committed records only, so it trails the owners by the time a
// transaction takes to commit and its records to be read, milliseconds
// while the cluster is healthy, and never shows a state that was aborted.
type View struct {
	initial map[string]int

	mu       sync.RWMutex
	products map[string]inventory.Product
}

// NewView returns a view in which each product of initial has its initial
// stock until its changelog says otherwise.
func NewView(initial map[string]int) *View {
	v := &View{initial: initial, products: make(map[string]inventory.Product, len(initial))}
	for id, n := range initial {
		v.products[id] = inventory.Product{Stock: n}
	}
	return v
}

// Follow keeps the view up to date from the stock changelog until ctx ends.
func (v *View) Follow(ctx context.Context, reader *kafka.Reader, topic string, log *zap.Logger) error {
	return reader.Follow(ctx, topic, func(m *kafka.Message) {
		id, p, err := decodeStock(m)
		if err != nil {
			log.Warn("stock changelog record skipped", zap.Error(err))
			return
		}
		if _, held := v.initial[id]; !held {
			return
		}
		v.mu.Lock()
		v.products[id] = p
		v.mu.Unlock()
	})
}

// Levels returns the stock of every product: product id -> items.
func (v *View) Levels() map[string]int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	levels := make(map[string]int, len(v.products))
	for id, p := range v.products {
		levels[id] = p.Stock
	}
	return levels
}

// Products returns the state of every product.
func (v *View) Products() map[string]inventory.Product {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return maps.Clone(v.products)
}
