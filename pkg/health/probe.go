package health

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Probe GETs url and returns nil if it answers 2xx, or an error with the
// status and the start of the body otherwise. It exists for container health
// checks in images with no shell or curl: the service binary probes itself
// (`order-service healthcheck`) and exits non-zero on error.
//
// ctx bounds the whole request; give it a deadline shorter than the
// orchestrator's probe timeout.
func Probe(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health probe: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health probe: %w", err)
	}
	defer resp.Body.Close()

	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	// The body of a failed /readyz names the failing check, which is what
	// whoever reads the container's health log needs.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return fmt.Errorf("health probe %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
}
