package httpapi_test

import (
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/eventshop/eventshop/api/apicheck"
	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/dedupe"
	"github.com/eventshop/eventshop/services/logging-service/internal/actionlog"
	"github.com/eventshop/eventshop/services/logging-service/internal/httpapi"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestActionsHandlerServesTheCounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		actions []contracts.LoggingAction
		golden  string
	}{
		{name: "nothing recorded yet", golden: "actions-empty.golden"},
		{
			name: "one order",
			actions: []contracts.LoggingAction{
				{ServiceName: contracts.ServiceOrder, Action: contracts.ActionNewOrder},
				{ServiceName: contracts.ServiceInventory, Action: contracts.ActionInventoryUpdated},
				{ServiceName: contracts.ServiceInventory, Action: contracts.ActionInventoryUpdated},
			},
			golden: "actions-one-order.golden",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := actionlog.NewRecorder(zap.NewNop(), dedupe.Bounds{Window: time.Hour, Limit: 1000})
			for _, a := range tt.actions {
				if err := r.Record(t.Context(), a); err != nil {
					t.Fatalf("Record: %v", err)
				}
			}

			mux := http.NewServeMux()
			httpapi.Register(mux, r)
			docs, err := apicheck.Load()
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			// Checked against api/openapi.yaml.
			docs.Handler(t, mux).ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/actions", nil))

			if rec.Code != http.StatusOK {
				t.Errorf("status %d, want 200", rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, rec.Body.Bytes(), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (go test -update writes it): %v", err)
			}
			if got := rec.Body.String(); got != string(want) {
				t.Errorf("body:\n%s\nwant (%s):\n%s", got, path, want)
			}
		})
	}
}
