// Package barrelenv says where the real barrel_p2p Erlang node lives for
// the tests that run one. The environment names it (an OTP >= 27 erl and
// an ERL_LIBS holding barrel_p2p and its deps); when it does not, those
// tests skip with one line that says what is missing.
package barrelenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Environment variables read by FromEnv.
const (
	// EnvErl is an erl of OTP 27 or later. A wrapper is fine if it execs
	// the VM (killing the started process must kill the VM) and if the OS
	// temp dir is visible to it at the same path: tests hand it files
	// and working directories only from there.
	EnvErl = "BARREL_P2P_ERL"
	// EnvLibs is the ERL_LIBS that holds barrel_p2p, quic, hlc and
	// instrument.
	EnvLibs = "BARREL_P2P_ERL_LIBS"
)

// SkipMessage is the one line tests skip with when the environment does
// not name a barrel_p2p node.
const SkipMessage = "barrel_p2p interop skipped: set BARREL_P2P_ERL (an OTP>=27 erl) and BARREL_P2P_ERL_LIBS (ERL_LIBS with barrel_p2p, quic, hlc, instrument); see interop/README.md"

// Env is where the barrel_p2p Erlang lives.
type Env struct {
	Erl  string
	Libs string
}

// FromEnv reads BARREL_P2P_ERL and BARREL_P2P_ERL_LIBS; ok is false unless
// both are set.
func FromEnv() (Env, bool) {
	e := Env{Erl: os.Getenv(EnvErl), Libs: os.Getenv(EnvLibs)}
	return e, e.Erl != "" && e.Libs != ""
}

// Require returns the environment or skips the test with SkipMessage.
// An environment that is named but lacks barrel_p2p fails the test: a
// typo must not pass as a skip.
func Require(t testing.TB) Env {
	t.Helper()
	e, ok := FromEnv()
	if !ok {
		t.Skip(SkipMessage)
	}
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
	return e
}

// Check reports whether Libs holds barrel_p2p's beams.
func (e Env) Check() error {
	m, _ := filepath.Glob(filepath.Join(e.Libs, "barrel_p2p*", "ebin", "barrel_p2p_dist.beam"))
	if len(m) == 0 {
		return fmt.Errorf("barrelenv: %s=%q holds no barrel_p2p*/ebin/barrel_p2p_dist.beam", EnvLibs, e.Libs)
	}
	return nil
}

// Command is erl with args, ERL_LIBS set, run in dir (which must be
// visible to the VM; a test's TempDir is).
func (e Env) Command(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, e.Erl, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ERL_LIBS="+e.Libs, "ERL_CRASH_DUMP_SECONDS=0")
	return cmd
}
