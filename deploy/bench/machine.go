package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// describeMachine names what the figures were measured on: cores, CPU model,
// Go release and broker.
func describeMachine(broker string) string {
	model := "unknown CPU"
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := cpuModel(info); m != "" {
			model = m
		}
	}
	return fmt.Sprintf("machine: %d cores, %s, %s %s/%s, broker: %s",
		runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH, broker)
}

// cpuModel returns the first "model name" of a /proc/cpuinfo file (x86), or
// its "Model" line (arm64), or "".
func cpuModel(cpuinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case "model name", "Model":
			if v := strings.TrimSpace(value); v != "" {
				return v
			}
		}
	}
	return ""
}
