package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The tools, and the module under tools/ that pins each. Prometheus and
// Jaeger have a module each: their dependencies, at the versions each was
// released with, do not build together.
const (
	toolPrometheus = "prometheus"
	toolPromtool   = "promtool"
	toolJaeger     = "jaeger"
)

var toolModule = map[string]string{toolPrometheus: "prometheus", toolPromtool: "prometheus", toolJaeger: "jaeger"}

// toolBinary returns the path of a tool pinned by a module under toolsDir,
// building it first when the Go build cache does not hold it: `go tool -n`
// builds the tool and prints where its executable is. The tools modules
// are outside the workspace, so their dependencies never mix with the
// shop's.
func toolBinary(ctx context.Context, toolsDir, name string) (string, error) {
	dir := filepath.Join(toolsDir, toolModule[name])
	cmd := exec.CommandContext(ctx, "go", "tool", "-n", name)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go tool -n %s in %s: %w\n%s", name, dir, err, stderr.String())
	}
	path := strings.TrimSpace(string(out))
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("go tool -n %s printed %q, not an executable: %w", name, path, err)
	}
	return path, nil
}
