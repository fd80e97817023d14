package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

var (
	// binDir holds devkafka and the services, built by TestMain.
	binDir string
	// tools are the executables `go tool` built from the modules in tools/.
	tools struct{ prometheus, promtool, jaeger string }
)

// TestMain builds the tools and the shop once for every test. Cold, the
// tools take minutes to build (Prometheus and Jaeger are large programs);
// after that the Go build cache holds them and this takes seconds (`make
// test` builds them first, with `make observed-tools`, outside the timeout).
func TestMain(m *testing.M) {
	os.Exit(func() int {
		ctx := context.Background()
		started := time.Now()
		for _, tool := range []struct {
			name string
			path *string
		}{{toolPromtool, &tools.promtool}, {toolPrometheus, &tools.prometheus}, {toolJaeger, &tools.jaeger}} {
			path, err := toolBinary(ctx, "tools", tool.name)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			*tool.path = path
		}
		fmt.Printf("prometheus, promtool and jaeger ready in %s\n", time.Since(started).Round(time.Second))

		dir, err := os.MkdirTemp("", "eventshop-observed-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() {
			if err := os.RemoveAll(dir); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}()
		binDir = dir
		for name, src := range map[string]string{
			"devkafka":             "../devkafka",
			"order-service":        "../../services/order-service",
			"inventory-service":    "../../services/inventory-service",
			"notification-service": "../../services/notification-service",
			"logging-service":      "../../services/logging-service",
		} {
			cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, name), ".")
			cmd.Dir = src
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
				return 1
			}
		}
		return m.Run()
	}())
}
