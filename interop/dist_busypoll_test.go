package interop

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/node"
)

// A Go node whose readers busy-poll (node.Options.BusyPoll) against stock
// erl: round trips driven from either side, and 1 MiB messages from
// Erlang arriving whole, byte for byte.
func TestDistBusyPoll(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	alive := "erlpoll" + strconv.Itoa(rand.IntN(1e6))
	e := c.startVM(alive, "erl", []string{"-name", alive + "@127.0.0.1", "-setcookie", testCookie,
		"-noshell", "-noinput", "-pa", c.ebin, "-s", "dist_bench", "start"}, "dist_bench ready")

	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	g, err := node.Start(ctx, node.Options{
		Name:           "gopoll" + strconv.Itoa(rand.IntN(1e6)) + "@127.0.0.1",
		Cookie:         testCookie,
		EPMDAddr:       "127.0.0.1:" + strconv.Itoa(c.epmdPort),
		NoEmbeddedEPMD: true,
		BusyPoll:       100 * time.Microsecond,
		Logger:         c.log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Stop() })
	call := func(fun string, args ...etf.Term) etf.Term {
		t.Helper()
		res, err := g.RPC(ctx, e.name, "dist_bench", etf.Atom(fun), args...)
		if err != nil {
			t.Fatalf("dist_bench:%s: %v", fun, err)
		}
		return res
	}

	// Erlang drives round trips to a Go echo.
	res := call("pingpong", spawnBenchEcho(t, g), int64(2000), etf.Atom("small"))
	if r, ok := res.(etf.Tuple); !ok || len(r) != 3 {
		t.Fatalf("pingpong against the Go echo = %s", etf.Format(res))
	}

	// Go drives round trips to the Erlang echo.
	erlEcho, ok := call("start_echo").(etf.Pid)
	if !ok {
		t.Fatal("no Erlang echo")
	}
	p, err := g.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Exit(node.Normal)
	for i := range 2000 {
		msg := etf.Tuple{etf.Atom("n"), int64(i)}
		if err := p.Send(ctx, erlEcho, etf.Tuple{p.Pid(), msg}); err != nil {
			t.Fatal(err)
		}
		got, err := p.Receive(ctx)
		if err != nil || !etf.Equal(got, msg) {
			t.Fatalf("round trip %d: %s, %v", i, etf.Format(got), err)
		}
	}

	// Erlang sends 1 MiB messages (dist_bench:oneway's protocol); each
	// must arrive intact.
	bad := make(chan string, 1)
	sink, err := g.Spawn(func(p *node.Process) error {
		m, err := p.Receive(p.Context())
		if err != nil {
			return nil
		}
		hdr, _ := m.(etf.Tuple)
		if len(hdr) != 3 || hdr[0] != etf.Atom("bench_sink") {
			bad <- "first message " + etf.Format(m)
			return nil
		}
		n, _ := hdr[2].(int64)
		for i := range n {
			m, err := p.Receive(p.Context())
			if err != nil {
				return nil
			}
			if b, ok := m.([]byte); !ok || !bytes.Equal(b, benchBig) {
				bad <- "message " + strconv.Itoa(int(i)) + " is not dist_bench:msg(big)"
				return nil
			}
		}
		p.Send(p.Context(), hdr[1].(etf.Pid), etf.Tuple{etf.Atom("bench_sink_done"), n})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err = g.RPC(ctx, e.name, "dist_bench", "oneway", sink.Pid(), int64(40), etf.Atom("big"))
	select {
	case why := <-bad:
		t.Fatal(why)
	default:
	}
	if _, ok := res.(int64); err != nil || !ok {
		t.Fatalf("oneway = %s, %v", etf.Format(res), err)
	}
}
