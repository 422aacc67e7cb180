//go:build unix

package erlharness

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts erl in its own process group: erl is a script that
// execs erlexec, then beam.smp, which forks erl_child_setup, and killing the
// group is the only reliable way to leave none of them behind.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func killProcessGroup(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	// The group id is the leader's pid because of Setpgid.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
