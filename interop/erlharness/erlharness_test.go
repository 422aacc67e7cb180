package erlharness

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// These tests speak raw bytes so that the harness is checked independently
// of barrelgo's own term codec.

func TestModuleRoot(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("ModuleRoot() = %s without go.mod: %v", root, err)
	}
	src, err := TestAppSrc()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(src, "etf_echo.erl")); err != nil {
		t.Fatalf("TestAppSrc() = %s without etf_echo.erl: %v", src, err)
	}
}

type skipRecorder struct {
	testing.TB
	skipped string
}

func (r *skipRecorder) Helper()          {}
func (r *skipRecorder) Skip(args ...any) { r.skipped = fmt.Sprint(args...) }

func TestRequireErlSkipsWithoutErl(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if Available() {
		t.Fatal("Available() = true with an empty PATH")
	}
	r := &skipRecorder{TB: t}
	RequireErl(r)
	if r.skipped != SkipMessage {
		t.Fatalf("skip message = %q, want %q", r.skipped, SkipMessage)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEtfEchoRawBytes(t *testing.T) {
	ebin := CompileTestApp(t)
	rel, err := OTPRelease(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(rel)
	if err != nil {
		t.Fatalf("OTPRelease() = %q", rel)
	}
	// The envelope uses OTP's default encoder, whose atoms changed in OTP
	// 26: ATOM_EXT before, SMALL_ATOM_UTF8_EXT (minor_version 2) since.
	atom := func(name string) string {
		if n >= 26 {
			return fmt.Sprintf("77%02x%x", len(name), name)
		}
		return fmt.Sprintf("64%04x%x", len(name), name)
	}
	for _, tc := range []struct {
		name string
		args []string
		req  string
		want string
	}{
		// 5 -> {ok, 5, <<131,97,5>>}.
		{"plain", nil, "836105", "836803" + atom("ok") + "6105 6d00000003836105"},
		// Atom abc under minor_version 2 is SMALL_ATOM_UTF8_EXT.
		{"minor2", []string{"minor2"}, "837703616263", "836803" + atom("ok") + atom("abc") + "6d00000006837703616263"},
		// Truncated input -> {error, {error, badarg}}.
		{"bad", nil, "8361", "836802" + atom("error") + "6802" + atom("error") + atom("badarg")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := StartPortT(t, ebin, "etf_echo", "main", tc.args...)
			got, err := p.Call(t.Context(), mustHex(t, strings.ReplaceAll(tc.req, " ", "")))
			if err != nil {
				t.Fatal(err)
			}
			if want := mustHex(t, strings.ReplaceAll(tc.want, " ", "")); !bytes.Equal(got, want) {
				t.Fatalf("reply\n got %x\nwant %x", got, want)
			}
			// A second call on the same VM works too.
			if _, err := p.Call(t.Context(), mustHex(t, "836a")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCallContextCancelKills(t *testing.T) {
	ebin := CompileTestApp(t)
	p := StartPortT(t, ebin, "harness_probe", "main", "sink")
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := p.Call(ctx, []byte{131, 106})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Call on a VM that never replies = %v, want context.Canceled", err)
	}
	<-p.Exited()
	if _, err := p.Call(t.Context(), []byte{131, 106}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Call after a cancelled call = %v, want ErrClosed", err)
	}
}

func TestStartContextBoundsLife(t *testing.T) {
	ebin := CompileTestApp(t)
	ctx, cancel := context.WithCancel(t.Context())
	p, err := StartPort(ctx, ebin, "harness_probe", "main", "sink")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	<-p.Exited()
	if err := p.Close(); err != nil {
		t.Fatalf("Close after the start context ended = %v, want nil", err)
	}
	if _, err := StartPort(ctx, ebin, "harness_probe", "main", "sink"); !errors.Is(err, context.Canceled) {
		t.Fatalf("StartPort with a done context = %v, want context.Canceled", err)
	}
}

func TestExitStatusAndStderr(t *testing.T) {
	ebin := CompileTestApp(t)
	p, err := StartPort(t.Context(), ebin, "harness_probe", "main", "fail")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Call(t.Context(), []byte{131, 106}); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Call on a VM that halts = %v, want an error naming exit status 3", err)
	}
	if err := p.Close(); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Close = %v, want an error naming exit status 3", err)
	}
	if s := p.Stderr(); !strings.Contains(s, "failing on purpose") {
		t.Fatalf("stderr = %q, want the probe's message", s)
	}
}

func TestMaxFrame(t *testing.T) {
	ebin := CompileTestApp(t)
	p := StartPortT(t, ebin, "etf_echo", "main")
	p.SetMaxFrame(8)
	if _, err := p.Call(t.Context(), []byte{131, 97, 5}); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("Call with an oversized reply = %v, want a frame-limit error", err)
	}
	if _, err := p.Call(t.Context(), []byte{131, 97, 5}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Call after a frame-limit error = %v, want ErrClosed", err)
	}
}

func TestOTPRelease(t *testing.T) {
	RequireErl(t)
	rel, err := OTPRelease(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rel == "" || strings.Trim(rel, "0123456789") != "" {
		t.Fatalf("OTPRelease() = %q, want digits", rel)
	}
	// make interop-otp says which release its PATH must give, so a
	// wrong PATH fails instead of testing the system's OTP once more.
	if want := os.Getenv("INTEROP_EXPECT_OTP"); want != "" && rel != want {
		t.Fatalf("erl on PATH is OTP %s, INTEROP_EXPECT_OTP wants %s", rel, want)
	}
	t.Logf("OTP %s", rel)
}

func TestCompileWritesAppFile(t *testing.T) {
	ebin := CompileTestApp(t)
	b, err := os.ReadFile(filepath.Join(ebin, TestAppName+".app"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "etf_echo") || !strings.Contains(string(b), "harness_probe") {
		t.Fatalf(".app file does not list the compiled modules:\n%s", b)
	}
	// The application must load: the .app file is valid Erlang.
	erl, err := ErlPath()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), erl, "-boot", "no_dot_erlang", "-noinput", "-pa", ebin,
		"-eval", "ok = application:load(rebar_test_app), {ok, Ms} = application:get_key(rebar_test_app, modules), io:format(\"~p\", [lists:sort(Ms)]), halt().")
	cmd.Dir = ebin
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("application:load(rebar_test_app): %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "etf_echo") {
		t.Fatalf("modules of the loaded application = %s", out)
	}
}
