package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/interop/erlharness"
	"github.com/barrelgo/barrelgo/node"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCallErlang(t *testing.T) {
	e := erlharness.StartNodeT(t, erlharness.NodeOptions{Cookie: "calls"})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, node.Options{Name: "caller@127.0.0.1", Cookie: "calls", EPMDAddr: e.EPMDAddr(),
		NoEmbeddedEPMD: true, Hidden: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	var out bytes.Buffer
	if err := CallErlang(ctx, n, e.Name(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`OTP release: "` + e.OTPRelease() + `"`,
		"lists:sum([1, 2, 39]) = 42",
		"erlang:binary_to_atom(42) fails: node: badrpc: {'EXIT',{badarg,",
		"running application: kernel ",
		"running application: stdlib ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
