package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/epmd"
	"github.com/barrelgo/barrelgo/etf"
)

// waitFor bounds every wait in these tests: generous, because it only
// matters when a test is about to fail.
const waitFor = 15 * time.Second

var nodeSeq atomic.Int64

// testEPMD starts a private EPMD on a free loopback port, so that the
// tests neither need nor disturb a system one.
func testEPMD(t testing.TB) string {
	t.Helper()
	srv, err := epmd.Start(context.Background(), "127.0.0.1:0", epmd.WithLogger(quietLogger()))
	if err != nil {
		t.Fatalf("start epmd: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Addr().String()
}

// quietLogger discards logs unless NODE_TEST_LOG is set, when it shows
// them all on stderr.
func quietLogger() *slog.Logger {
	if os.Getenv("NODE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type nodeOpt func(*Options)

func hidden(o *Options) { o.Hidden = true }

// startNode starts a node with a unique name on the given EPMD and stops
// it when the test ends.
func startNode(t testing.TB, epmdAddr string, opts ...nodeOpt) *Node {
	t.Helper()
	o := Options{
		Name:           fmt.Sprintf("gotest%d@127.0.0.1", nodeSeq.Add(1)),
		Cookie:         "node-test-cookie",
		ListenAddr:     "127.0.0.1:0",
		EPMDAddr:       epmdAddr,
		NoEmbeddedEPMD: true,
		Logger:         quietLogger(),
	}
	for _, f := range opts {
		f(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	n, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("start node %s: %v", o.Name, err)
	}
	t.Cleanup(func() { n.Stop() })
	return n
}

// twoNodes starts two nodes sharing a private EPMD.
func twoNodes(t testing.TB) (*Node, *Node) {
	t.Helper()
	addr := testEPMD(t)
	return startNode(t, addr), startNode(t, addr)
}

func newProc(t testing.TB, n *Node) *Process {
	t.Helper()
	p, err := n.NewProcess()
	if err != nil {
		t.Fatalf("new process: %v", err)
	}
	t.Cleanup(func() { p.Exit(Normal) })
	return p
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// recv waits for the oldest message that match accepts (any when nil).
func recv(t testing.TB, p *Process, match func(etf.Term) bool) etf.Term {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	m, err := p.ReceiveMatch(ctx, match)
	if err != nil {
		t.Fatalf("%s: receive: %v", etf.Format(p.Pid()), err)
	}
	return m
}

// queued returns the oldest queued message match accepts without waiting:
// ReceiveMatch scans the queue before it looks at ctx.
func queued(p *Process, match func(etf.Term) bool) (etf.Term, bool) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m, err := p.ReceiveMatch(ctx, match)
	return m, err == nil
}

func queueLen(p *Process) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}

// waitExit waits until p has exited and returns its reason.
func waitExit(t testing.TB, p *Process) etf.Term {
	t.Helper()
	select {
	case <-p.Context().Done():
	case <-time.After(waitFor):
		t.Fatalf("%s did not exit", etf.Format(p.Pid()))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.exited {
		t.Fatalf("%s: context done but not exited", etf.Format(p.Pid()))
	}
	return p.reason
}

func isAlive(p *Process) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.exited
}

func is(want etf.Term) func(etf.Term) bool {
	return func(m etf.Term) bool { return etf.Equal(m, want) }
}

// exitMsg matches {'EXIT', From, _}.
func exitMsg(from etf.Pid) func(etf.Term) bool {
	return func(m etf.Term) bool {
		t, ok := m.(etf.Tuple)
		return ok && len(t) == 3 && t[0] == etf.Atom("EXIT") && t[1] == from
	}
}

// downMsg matches {'DOWN', Ref, process, _, _}.
func downMsg(ref etf.Ref) func(etf.Term) bool {
	return func(m etf.Term) bool {
		t, ok := m.(etf.Tuple)
		return ok && len(t) == 5 && t[0] == etf.Atom("DOWN") && t[1] == ref
	}
}

func wantTerm(t testing.TB, what string, got, want etf.Term) {
	t.Helper()
	if !etf.Equal(got, want) {
		t.Fatalf("%s = %s, want %s", what, etf.Format(got), etf.Format(want))
	}
}

// spawnWaiter starts a process that waits for one message.
func spawnWaiter(t testing.TB, n *Node) *Process {
	t.Helper()
	p, err := n.Spawn(func(p *Process) error {
		_, err := p.Receive(p.Context())
		return err
	})
	if err != nil {
		t.Fatalf("spawn: %v", err)
	}
	return p
}

// syncVia sends a marker from `from` to `to` and waits until `to` took it:
// every signal `from`'s node sent to `to`'s node before has then been
// handled, connections being ordered and dispatched in order.
func syncVia(t testing.TB, from, to *Process) {
	t.Helper()
	marker := etf.Tuple{etf.Atom("sync"), from.node.MakeRef()}
	if err := from.Send(testCtx(t), to.Pid(), marker); err != nil {
		t.Fatalf("send sync marker: %v", err)
	}
	recv(t, to, is(marker))
}
