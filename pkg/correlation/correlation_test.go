package correlation_test

import (
	"context"
	"testing"

	"github.com/eventshop/eventshop/pkg/correlation"
)

func TestWithAndID(t *testing.T) {
	t.Parallel()
	if got := correlation.ID(context.Background()); got != "" {
		t.Errorf("ID of a bare context = %q, want empty", got)
	}
	ctx := correlation.With(context.Background(), "c-1")
	if got := correlation.ID(ctx); got != "c-1" {
		t.Errorf("ID = %q, want c-1", got)
	}
	if got := correlation.ID(correlation.With(ctx, "c-2")); got != "c-2" {
		t.Errorf("inner ID = %q, want c-2", got)
	}
}

func TestWithEventIDAndEventID(t *testing.T) {
	t.Parallel()
	if got := correlation.EventID(context.Background()); got != "" {
		t.Errorf("EventID of a bare context = %q, want empty", got)
	}
	ctx := correlation.WithEventID(correlation.With(context.Background(), "c-1"), "e-1")
	if got := correlation.EventID(ctx); got != "e-1" {
		t.Errorf("EventID = %q, want e-1", got)
	}
	// The two ids are apart: setting one leaves the other as it was.
	if got := correlation.ID(ctx); got != "c-1" {
		t.Errorf("ID = %q, want c-1", got)
	}
	if got := correlation.EventID(correlation.With(ctx, "c-2")); got != "e-1" {
		t.Errorf("EventID after With = %q, want e-1", got)
	}
}
