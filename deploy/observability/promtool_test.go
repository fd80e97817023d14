package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// promtool runs promtool with args in dir and returns its output, failing
// the test if the exit status is not what ok says.
func promtool(t *testing.T, dir string, ok bool, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), tools.promtool, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if (err == nil) != ok {
		t.Fatalf("promtool %s: %v, want success %v\n%s", strings.Join(args, " "), err, ok, out)
	}
	return string(out)
}

// TestPromtool checks the Prometheus configurations and the alert rules
// with promtool, and runs the rules' unit tests (alerts_test.yml).
func TestPromtool(t *testing.T) {
	t.Parallel()
	t.Run("check config, docker compose", func(t *testing.T) {
		t.Parallel()
		promtool(t, "prometheus", true, "check", "config", "prometheus.yml")
	})
	t.Run("check config, local runner with its targets", func(t *testing.T) {
		t.Parallel()
		// As make run-observed lays it out: the targets files exist, and
		// promtool checks them too.
		obs := observers{configDir: ".", runDir: t.TempDir(), targets: localTargets(3)}
		config, err := obs.writePrometheusConfig()
		if err != nil {
			t.Fatal(err)
		}
		out := promtool(t, obs.runDir, true, "check", "config", config)
		if strings.Contains(out, "WARNING") {
			t.Errorf("promtool check config warns:\n%s", out)
		}
	})
	t.Run("check rules", func(t *testing.T) {
		t.Parallel()
		promtool(t, "prometheus", true, "check", "rules", "alerts.yml")
	})
	t.Run("test rules", func(t *testing.T) {
		t.Parallel()
		promtool(t, "prometheus", true, "test", "rules", "alerts_test.yml")
	})
	// The unit tests can fail: with the lag threshold raised tenfold,
	// ConsumerLagGrowing no longer fires where alerts_test.yml expects it.
	t.Run("test rules fails on a broken rule", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		rules, err := os.ReadFile(filepath.Join("prometheus", "alerts.yml"))
		if err != nil {
			t.Fatal(err)
		}
		broken := strings.Replace(string(rules), "(eventshop_consumer_lag_records) > 100", "(eventshop_consumer_lag_records) > 1000", 1)
		if broken == string(rules) {
			t.Fatal("alerts.yml has no ConsumerLagGrowing threshold of 100 to break")
		}
		unitTests, err := os.ReadFile(filepath.Join("prometheus", "alerts_test.yml"))
		if err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string]string{"alerts.yml": broken, "alerts_test.yml": string(unitTests)} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		out := promtool(t, dir, false, "test", "rules", "alerts_test.yml")
		if !strings.Contains(out, "ConsumerLagGrowing") {
			t.Errorf("promtool test rules failed without naming ConsumerLagGrowing:\n%s", out)
		}
	})
}
