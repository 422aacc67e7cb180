//go:build unix

package barrelharness

import (
	"os/exec"
	"syscall"
)

// setProcessGroup gives the VM its own process group so killGroup also
// reaches erl_child_setup and anything else the VM forked.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
