package main

import (
	"io"
	"testing"
)

// TestExitStatusNamesEveryExit checks the reason runShop gives for a child
// that exits on its own: its exit status, 0 included.
func TestExitStatusNamesEveryExit(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"/bin/true":  "child: exit status 0",
		"/bin/false": "child: exit status 1",
	} {
		p, err := start(0, "child", path, nil, nil, &lineWriter{out: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		<-p.done
		if err := p.exitStatus(); err == nil || err.Error() != want {
			t.Errorf("%s: exitStatus() = %v, want %q", path, err, want)
		}
	}
}
