package node

import (
	"context"
	"errors"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
)

func TestSelectiveReceiveKeepsOrder(t *testing.T) {
	n := startNode(t, testEPMD(t))
	ctx := testCtx(t)
	p := newProc(t, n)
	for i := range int64(6) {
		if err := n.Send(ctx, p.Pid(), i); err != nil {
			t.Fatal(err)
		}
	}
	odd := func(m etf.Term) bool { return m.(int64)%2 == 1 }
	for _, want := range []int64{1, 3, 5} {
		wantTerm(t, "odd message", recv(t, p, odd), want)
	}
	// The skipped messages stay queued, oldest first.
	for _, want := range []int64{0, 2, 4} {
		wantTerm(t, "even message", recv(t, p, nil), want)
	}
	if queueLen(p) != 0 {
		t.Fatalf("queue not empty: %d", queueLen(p))
	}
}

// A receive that is waiting sees messages queued after it started, while
// those it already skipped stay behind.
func TestSelectiveReceiveWaits(t *testing.T) {
	n := startNode(t, testEPMD(t))
	ctx := testCtx(t)
	p := newProc(t, n)
	if err := n.Send(ctx, p.Pid(), etf.Atom("early")); err != nil {
		t.Fatal(err)
	}
	got := make(chan etf.Term, 1)
	go func() {
		m, err := p.ReceiveMatch(ctx, is(etf.Atom("wanted")))
		if err != nil {
			got <- err.Error()
			return
		}
		got <- m
	}()
	for _, m := range []etf.Atom{"noise1", "noise2", "wanted"} {
		if err := n.Send(ctx, p.Pid(), m); err != nil {
			t.Fatal(err)
		}
	}
	wantTerm(t, "selected", <-got, etf.Atom("wanted"))
	for _, want := range []etf.Atom{"early", "noise1", "noise2"} {
		wantTerm(t, "left over", recv(t, p, nil), want)
	}
}

func TestReceiveContextCancel(t *testing.T) {
	n := startNode(t, testEPMD(t))
	p := newProc(t, n)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.Receive(ctx)
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Receive after cancel: %v, want context.Canceled", err)
	}
	// The process is unaffected and still receives.
	if err := n.Send(testCtx(t), p.Pid(), etf.Atom("after")); err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "message", recv(t, p, nil), etf.Atom("after"))
}

func TestReceiveAfterExit(t *testing.T) {
	n := startNode(t, testEPMD(t))
	ctx := testCtx(t)
	p := newProc(t, n)
	errc := make(chan error, 1)
	go func() {
		_, err := p.ReceiveMatch(ctx, is(etf.Atom("never")))
		errc <- err
	}()
	if err := n.Send(ctx, p.Pid(), etf.Atom("queued")); err != nil {
		t.Fatal(err)
	}
	p.Exit(etf.Atom("bye"))
	var ee *ExitError
	if err := <-errc; !errors.As(err, &ee) || !etf.Equal(ee.Reason, etf.Atom("bye")) {
		t.Fatalf("blocked receive: %v, want ExitError bye", err)
	}
	if _, err := p.Receive(ctx); !errors.As(err, &ee) || !etf.Equal(ee.Reason, etf.Atom("bye")) {
		t.Fatalf("receive after exit: %v, want ExitError bye", err)
	}
	if p.Context().Err() == nil {
		t.Fatal("process context not cancelled on exit")
	}
	// Messages to an exited process are dropped, and exiting twice keeps
	// the first reason.
	if err := n.Send(ctx, p.Pid(), etf.Atom("late")); err != nil {
		t.Fatal(err)
	}
	p.Exit(etf.Atom("again"))
	wantTerm(t, "reason", waitExit(t, p), etf.Atom("bye"))
	if n.proc(p.Pid()) != nil {
		t.Fatal("exited process still in the process table")
	}
}

func TestSpawnExitReasons(t *testing.T) {
	n := startNode(t, testEPMD(t))
	cases := []struct {
		name string
		fn   func(p *Process) error
		want etf.Term
	}{
		{"nil", func(*Process) error { return nil }, Normal},
		{"exit error", func(*Process) error { return &ExitError{Reason: etf.Atom("custom")} }, etf.Atom("custom")},
		{"wrapped exit error", func(*Process) error {
			return errors.Join(errors.New("ctx"), &ExitError{Reason: etf.Atom("inner")})
		}, etf.Atom("inner")},
		{"reasoner", func(*Process) error { return &CallError{Reason: etf.Atom("from_call")} }, etf.Atom("from_call")},
		{"plain error", func(*Process) error { return errors.New("boom") }, etf.Tuple{etf.Atom("go_error"), "boom"}},
		{"panic", func(*Process) error { panic("oops") }, etf.Tuple{etf.Atom("go_panic"), "oops"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newProc(t, n)
			ready := make(chan struct{})
			p, err := n.Spawn(func(p *Process) error {
				<-ready
				return tc.fn(p)
			})
			if err != nil {
				t.Fatal(err)
			}
			ref, err := w.Monitor(testCtx(t), p.Pid())
			if err != nil {
				t.Fatal(err)
			}
			close(ready)
			down := recv(t, w, downMsg(ref)).(etf.Tuple)
			wantTerm(t, "DOWN reason", down[4], tc.want)
			wantTerm(t, "exit reason", waitExit(t, p), tc.want)
		})
	}
}

// A drained mailbox keeps its array for the next messages (one allocation
// less per message for a process that keeps up) holding nothing, and
// order and selective receive work on the reused array; one grown large
// by a backlog is let go.
func TestMailboxReuseAfterDrain(t *testing.T) {
	n := startNode(t, testEPMD(t))
	ctx := testCtx(t)
	p := newProc(t, n)
	send := func(ms ...int64) {
		t.Helper()
		for _, m := range ms {
			if err := n.Send(ctx, p.Pid(), m); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(1, 2, 3)
	for _, want := range []int64{1, 2, 3} {
		wantTerm(t, "first batch", recv(t, p, nil), want)
	}
	p.mu.Lock()
	base, q := p.qbase, p.queue
	p.mu.Unlock()
	if len(q) != 0 || cap(q) == 0 || &base[:1][0] != &q[:1][0] {
		t.Fatalf("drained queue: len %d cap %d, want the base array reused", len(q), cap(q))
	}
	for i, m := range base[:cap(base)] {
		if m != nil {
			t.Fatalf("drained mailbox array still holds %v at %d", m, i)
		}
	}
	send(4, 5, 6)
	wantTerm(t, "selective on the reused array", recv(t, p, func(m etf.Term) bool { return m.(int64) == 5 }), int64(5))
	wantTerm(t, "oldest first", recv(t, p, nil), int64(4))
	wantTerm(t, "then", recv(t, p, nil), int64(6))

	big := make([]int64, maxReusedQueue+1)
	for i := range big {
		big[i] = int64(i)
	}
	send(big...)
	for i := range big {
		wantTerm(t, "backlog", recv(t, p, nil), int64(i))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.qbase != nil || cap(p.queue) != 0 {
		t.Fatalf("a backlog's array (cap %d) was kept", cap(p.qbase))
	}
}
