//go:build unix

package erlharness

import (
	"errors"
	"syscall"
	"testing"
)

// After Close no process of erl's group may remain (beam.smp,
// erl_child_setup, or anything they started).
func TestCloseLeavesNoProcesses(t *testing.T) {
	ebin := CompileTestApp(t)
	p, err := StartPort(t.Context(), ebin, "etf_echo", "main")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Call(t.Context(), []byte{131, 106}); err != nil {
		t.Fatal(err)
	}
	pgid := p.cmd.Process.Pid
	if err := syscall.Kill(-pgid, 0); err != nil {
		t.Fatalf("process group %d not alive while running: %v", pgid, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process group %d after Close: kill(0) = %v, want ESRCH", pgid, err)
	}
}
