package interop

import (
	"bytes"
	"context"
	"crypto/md5"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/node"
)

// TestDistLargeMessage moves a 16 MiB binary Go -> Erlang -> Go: both
// sides fragment it (Go and OTP 25 both cut at 64 KiB), Erlang checks size
// and MD5 of what it reassembled and sends it back, Go compares the bytes.
func TestDistLargeMessage(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	e := c.startErl()
	big := make([]byte, 16<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(big); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			big[i+j] = byte(v >> (8 * j))
		}
	}
	sum := md5.Sum(big)
	start := time.Now()
	res := c.rpcOn(t, c.go1, e, 2*time.Minute, "big_echo", big)
	t.Logf("16 MiB Go -> Erlang -> Go: %v", time.Since(start))
	tup := mustTuple(t, "big_echo", res, 3)
	if tup[0] != int64(len(big)) {
		t.Fatalf("Erlang received %s bytes, want %d", etf.Format(tup[0]), len(big))
	}
	if d, _ := tup[1].([]byte); !bytes.Equal(d, sum[:]) {
		t.Fatalf("Erlang's MD5 of the message is %x, want %x", d, sum)
	}
	back, ok := tup[2].([]byte)
	if !ok || !bytes.Equal(back, big) {
		t.Fatalf("the 16 MiB binary came back different (%d bytes)", len(back))
	}
}

// TestDistMessageOrder checks that 100k messages from one process arrive in
// order, Erlang -> Go and Go -> Erlang.
func TestDistMessageOrder(t *testing.T) {
	t.Parallel()
	const n = 100_000
	c := newCluster(t)
	e := c.startErl()

	t.Run("Erlang to Go", func(t *testing.T) {
		p, err := c.go1.NewProcess()
		if err != nil {
			t.Fatal(err)
		}
		defer p.Exit(node.Normal)
		start := time.Now()
		res := c.rpc(t, e, "send_n", p.Pid(), int64(n), etf.Atom("seq"))
		if tup := mustTuple(t, "send_n", res, 2); tup[0] != etf.AtomOK {
			t.Fatalf("send_n = %s", etf.Format(res))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for i := int64(1); i <= n; i++ {
			m, err := p.Receive(ctx)
			if err != nil {
				t.Fatalf("message %d of %d never arrived: %v", i, n, err)
			}
			want := etf.Tuple{etf.Atom("seq"), i}
			if !etf.Equal(m, want) {
				t.Fatalf("message %d is %s, want %s", i, etf.Format(m), etf.Format(want))
			}
		}
		t.Logf("%d messages Erlang -> Go in order: %v", n, time.Since(start))
	})

	t.Run("Go to Erlang", func(t *testing.T) {
		recv, ok := c.rpc(t, e, "recv_count", int64(n), int64(waitLong/time.Millisecond)).(etf.Pid)
		if !ok {
			t.Fatal("recv_count did not return a pid")
		}
		p, err := c.go1.NewProcess()
		if err != nil {
			t.Fatal(err)
		}
		defer p.Exit(node.Normal)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		for i := int64(1); i <= n; i++ {
			if err := p.Send(ctx, recv, etf.Tuple{etf.Atom("seq"), i}); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
		res := c.rpcOn(t, c.go1, e, 2*time.Minute, "wait_kept", recv, int64(2*time.Minute/time.Millisecond))
		if want := (etf.Tuple{etf.AtomOK, int64(n)}); !etf.Equal(res, want) {
			t.Fatalf("the Erlang receiver reports %s, want %s", etf.Format(res), etf.Format(want))
		}
		t.Logf("%d messages Go -> Erlang in order: %v", n, time.Since(start))
	})
}
