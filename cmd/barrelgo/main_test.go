package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/node"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// In-process nodes generate certificates, which logs through the
	// default logger.
	slog.SetDefault(discardLogger())
	// BARRELGO_* variables are configuration, read strictly: one set in
	// the developer's shell would change or fail the tests' nodes.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "BARRELGO_") {
			os.Unsetenv(k)
		}
	}
	goleak.VerifyTestMain(m)
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"ping"},
		{"call", "a@127.0.0.1", "srv"},
		{"call", "-cookie", "c", "a@127.0.0.1", "srv", "{unterminated"},
		{"rpc", "-cookie", "c", "nonode", "m", "f", "[]"},
		{"node", "-log-level", "loud", "-cookie", "c"},
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), args, &out, &errb)
		if !isUsage(err) {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, &out, &out); err != nil || !strings.Contains(out.String(), "barrelgo rpc") {
		t.Fatalf("help: %v\n%s", err, out.String())
	}
}

func TestClientCommandsAgainstGoNode(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	epmd := "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := node.Start(ctx, node.Options{Name: "clisrv@127.0.0.1", Cookie: "c", EPMDAddr: epmd, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	got := make(chan etf.Term, 1)
	_, err = srv.StartServer("svc", node.ServerFuncs{
		Call: func(_ context.Context, _ node.From, req etf.Term) (etf.Term, error) {
			return etf.Tuple{etf.AtomOK, req}, nil
		},
		Info: func(_ context.Context, m etf.Term) error { got <- m; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.RegisterFunc("m", "twice", func(_ context.Context, a []etf.Term) (etf.Term, error) { return a[0].(int64) * 2, nil })
	common := []string{"-cookie", "c", "-epmd", epmd}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append([]string{"ping"}, append(common, "clisrv@127.0.0.1")...), "pong"},
		{append([]string{"call"}, append(common, "clisrv@127.0.0.1", "svc", `{hi, <<"x">>}`)...), `{ok,{hi,<<"x">>}}`},
		{append([]string{"rpc"}, append(common, "clisrv@127.0.0.1", "m", "twice", "[21]")...), "42"},
	} {
		var out, errb bytes.Buffer
		if err := run(ctx, tc.args, &out, &errb); err != nil {
			t.Fatalf("%v: %v\n%s", tc.args, err, errb.String())
		}
		if strings.TrimSpace(out.String()) != tc.want {
			t.Fatalf("%v printed %q, want %q", tc.args, out.String(), tc.want)
		}
	}
	var out, errb bytes.Buffer
	if err := run(ctx, append([]string{"send"}, append(common, "clisrv@127.0.0.1", "svc", "hello")...), &out, &errb); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != etf.Atom("hello") {
			t.Fatalf("svc got %s", etf.Format(m))
		}
	case <-ctx.Done():
		t.Fatal("sent message never arrived")
	}
	// A node that is not registered fails with EPMD's words.
	err = run(ctx, append([]string{"ping"}, append(common, "nobody@127.0.0.1")...), &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Fatalf("ping of an unknown node: %v", err)
	}
}
