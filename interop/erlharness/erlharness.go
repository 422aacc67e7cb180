// Package erlharness runs real Erlang/OTP programs next to Go tests: it finds
// erl and erlc, compiles the Erlang sources in rebar_test_app, and drives an
// erl VM over a {packet,4} stdin/stdout port.
// Interop suites use it to check barrelgo against the BEAM itself rather than
// against recorded bytes alone.
package erlharness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// SkipMessage is the one line a test skips with when Erlang is not installed.
const SkipMessage = "erl not on PATH: install erlang-nox (Debian) to run the interop suite"

// TestAppName is the directory, relative to the module root, that holds the
// Erlang test application.
const TestAppName = "rebar_test_app"

// ErlPath returns the path of erl.
func ErlPath() (string, error) {
	p, err := exec.LookPath("erl")
	if err != nil {
		return "", fmt.Errorf("erlharness: %w", err)
	}
	return p, nil
}

// ErlcPath returns the path of erlc.
func ErlcPath() (string, error) {
	p, err := exec.LookPath("erlc")
	if err != nil {
		return "", fmt.Errorf("erlharness: %w", err)
	}
	return p, nil
}

// Available reports whether both erl and erlc are on PATH.
func Available() bool {
	_, err1 := ErlPath()
	_, err2 := ErlcPath()
	return err1 == nil && err2 == nil
}

// RequireErl skips the test when erl or erlc is missing, so the suite stays
// green on machines without Erlang while CI (which installs it) runs it.
func RequireErl(t testing.TB) {
	t.Helper()
	if !Available() {
		t.Skip(SkipMessage)
	}
}

// ModuleRoot walks up from the working directory to the directory holding
// go.mod. Tests run in their package directory, so this finds the
// repository root whatever the package depth.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("erlharness: module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("erlharness: module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// TestAppSrc returns the src directory of rebar_test_app.
func TestAppSrc() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	src := filepath.Join(root, TestAppName, "src")
	if _, err := os.Stat(src); err != nil {
		return "", fmt.Errorf("erlharness: test app sources: %w", err)
	}
	return src, nil
}

// Compile compiles every .erl file of srcDir into outDir with erlc and
// writes the .app file from the .app.src, giving a loadable ebin directory
// without rebar3 or hex.
func Compile(ctx context.Context, srcDir, outDir string) error {
	erlc, err := ErlcPath()
	if err != nil {
		return err
	}
	srcs, err := filepath.Glob(filepath.Join(srcDir, "*.erl"))
	if err != nil {
		return fmt.Errorf("erlharness: compile: %w", err)
	}
	if len(srcs) == 0 {
		return fmt.Errorf("erlharness: compile: no .erl files in %s", srcDir)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("erlharness: compile: %w", err)
	}
	args := append([]string{"-Werror", "-o", outDir}, srcs...)
	cmd := exec.CommandContext(ctx, erlc, args...)
	cmd.Env = erlEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("erlharness: erlc %s: %w\n%s", srcDir, err, out)
	}
	apps, err := filepath.Glob(filepath.Join(srcDir, "*.app.src"))
	if err != nil {
		return fmt.Errorf("erlharness: compile: %w", err)
	}
	mods := make([]string, len(srcs))
	for i, src := range srcs {
		mods[i] = strings.TrimSuffix(filepath.Base(src), ".erl")
	}
	for _, a := range apps {
		b, err := os.ReadFile(a)
		if err != nil {
			return fmt.Errorf("erlharness: compile: %w", err)
		}
		// Like rebar3, list the compiled modules in the .app file so the
		// .app.src never goes stale as modules are added.
		b = modulesRE.ReplaceAll(b, []byte("{modules, ["+strings.Join(mods, ", ")+"]}"))
		name := strings.TrimSuffix(filepath.Base(a), ".src")
		if err := os.WriteFile(filepath.Join(outDir, name), b, 0o644); err != nil {
			return fmt.Errorf("erlharness: compile: %w", err)
		}
	}
	return nil
}

var modulesRE = regexp.MustCompile(`\{modules,\s*\[[^\]]*\]\}`)

// CompileTestApp compiles rebar_test_app into a fresh temporary directory
// and returns that ebin directory. It skips the test when Erlang is missing.
func CompileTestApp(t testing.TB) string {
	t.Helper()
	RequireErl(t)
	src, err := TestAppSrc()
	if err != nil {
		t.Fatal(err)
	}
	ebin := t.TempDir()
	if err := Compile(t.Context(), src, ebin); err != nil {
		t.Fatal(err)
	}
	return ebin
}

// OTPRelease returns erlang:system_info(otp_release) of the local erl, e.g. "25".
func OTPRelease(ctx context.Context) (string, error) {
	erl, err := ErlPath()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, erl, "-boot", "no_dot_erlang", "-noinput",
		"-eval", "io:put_chars(erlang:system_info(otp_release)), halt().")
	cmd.Env = erlEnv()
	cmd.Dir = os.TempDir()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("erlharness: otp release: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// erlEnv is the environment for every Erlang process we start: no crash
// dump files left in the working tree when a VM dies.
func erlEnv() []string {
	return append(os.Environ(), "ERL_CRASH_DUMP_SECONDS=0")
}
