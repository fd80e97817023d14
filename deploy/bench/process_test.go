package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseVmHWM(t *testing.T) {
	t.Parallel()
	status := "Name:\tinventory-servi\nVmPeak:\t 1857700 kB\nVmHWM:\t   46304 kB\nVmRSS:\t   40000 kB\n"
	got, err := parseVMHWM([]byte(status))
	if err != nil || got != 46304*1024 {
		t.Errorf("parseVMHWM = %d, %v; want %d", got, err, 46304*1024)
	}
	for name, bad := range map[string]string{
		"no VmHWM line": "Name:\tx\nVmRSS:\t 1 kB\n",
		"not kB":        "VmHWM:\t 1 MB\n",
		"not a number":  "VmHWM:\t lots kB\n",
		"no unit":       "VmHWM:\t 12\n",
		"empty status":  "",
	} {
		if n, err := parseVMHWM([]byte(bad)); err == nil {
			t.Errorf("%s: parseVMHWM = %d, want an error", name, n)
		}
	}
}

func TestCPUModel(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ cpuinfo, want string }{
		"x86":      {"processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel\t\t: 1\nmodel name\t: AMD EPYC 7B13\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n", "AMD EPYC 7B13"},
		"arm64":    {"processor\t: 0\nBogoMIPS\t: 50.00\n\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n", "Raspberry Pi 4 Model B Rev 1.4"},
		"no model": {"processor\t: 0\n", ""},
	}
	for name, tt := range tests {
		if got := cpuModel([]byte(tt.cpuinfo)); got != tt.want {
			t.Errorf("%s: cpuModel = %q, want %q", name, got, tt.want)
		}
	}
}

func TestParseOptions(t *testing.T) {
	t.Parallel()
	opts, err := parseOptions([]string{"-brokers", "127.0.0.1:39092, ", "-rate", "5000,1000", "-rate", "200", "-only", "drain,latency"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(opts.brokers, ";"); got != "127.0.0.1:39092" || !opts.external() {
		t.Errorf("brokers = %q", got)
	}
	if got := (&rateList{opts.rates}).String(); got != "5000,1000,200" {
		t.Errorf("rates = %s, want 5000,1000,200", got)
	}
	if !opts.runs(benchDrain) || !opts.runs(benchLatency) || opts.runs(benchIngest) {
		t.Errorf("only = %v, want drain and latency", opts.only)
	}

	defaults, err := parseOptions([]string{"-brokers", ""}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if defaults.external() || defaults.orders != 20000 || defaults.clients != 32 || len(defaults.rates) != 2 ||
		defaults.duration.Seconds() != 10 || len(defaults.only) != len(benchmarks) {
		t.Errorf("defaults = %+v", defaults)
	}

	for _, args := range [][]string{
		{"-orders", "0"}, {"-clients", "-1"}, {"-duration", "0s"}, {"-rate", "0"}, {"-rate", "fast"},
		{"-only", "speed"}, {"-only", ","}, {"extra"},
	} {
		if _, err := parseOptions(args, &strings.Builder{}); err == nil {
			t.Errorf("parseOptions(%q) accepted it, want an error", args)
		}
	}
}

func TestParseCPUTime(t *testing.T) {
	t.Parallel()
	// Field 2, the command, may hold spaces and parentheses.
	stat := []byte("4242 (inv (x) y) S 1 4242 4242 0 -1 4194560 1302 0 0 0 250 37 0 0 20 0 9 0 3550 1 2 3\n")
	got, err := parseCPUTime(stat)
	if err != nil || got != 2870*time.Millisecond {
		t.Errorf("parseCPUTime = %v, %v; want 2.87s (250+37 ticks)", got, err)
	}
	if _, err := parseCPUTime([]byte("4242 (inv) S 1 2")); err == nil {
		t.Error("parseCPUTime of a short line: no error")
	}
}
