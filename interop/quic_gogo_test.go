package interop

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	rand2 "math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/discovery"
	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/node"
	"github.com/barrelgo/barrelgo/protodist"
	"github.com/barrelgo/barrelgo/protodist/auth"
)

// quicCluster runs Go nodes on the QUIC carrier; they find each other
// through a shared static table.
type quicCluster struct {
	t     *testing.T
	mu    sync.Mutex
	table discovery.Static
	auth  func(t *testing.T, name string) auth.Authenticator
}

// lockedStatic reads the shared table under the cluster's lock.
type lockedStatic struct{ c *quicCluster }

func (l lockedStatic) Resolve(ctx context.Context, node string) (string, error) {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	return l.c.table.Resolve(ctx, node)
}

func selfSignedP256(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(rand2.Int64N(1 << 62)),
		Subject:      pkix.Name{CommonName: "barrel_p2p-node", Organization: []string{"Barrel P2P"}},
		NotBefore:    time.Now().Add(-5 * time.Minute),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func newQUICCluster(t *testing.T) *quicCluster {
	return &quicCluster{t: t, table: discovery.Static{}}
}

func (c *quicCluster) start(alive string) *node.Node {
	c.t.Helper()
	name := alive + "@127.0.0.1"
	var a auth.Authenticator
	if c.auth != nil {
		a = c.auth(c.t, name)
	}
	tr, err := protodist.NewTransport(protodist.TransportOptions{
		ListenAddr:    "127.0.0.1:0",
		Certificate:   selfSignedP256(c.t),
		Authenticator: a,
		Resolver:      lockedStatic{c},
	})
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := node.Start(ctx, node.Options{Name: name, Cookie: testCookie, Transport: tr})
	if err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	c.t.Cleanup(func() { n.Stop() })
	c.mu.Lock()
	c.table[name] = tr.Addr().String()
	c.mu.Unlock()
	return n
}

// goPair starts two QUIC nodes, b with an echo server and an rpc function.
func goPair(t *testing.T, c *quicCluster) (*node.Node, *node.Node) {
	a := c.start("qa" + strconv.Itoa(rand2.IntN(1e6)))
	b := c.start("qb" + strconv.Itoa(rand2.IntN(1e6)))
	_, err := b.StartServer("echo", node.ServerFuncs{
		Call: func(_ context.Context, _ node.From, req etf.Term) (etf.Term, error) {
			return etf.Tuple{etf.Atom("reply"), req}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	b.RegisterFunc("gomod", "add", func(_ context.Context, args []etf.Term) (etf.Term, error) {
		x, _ := args[0].(int64)
		y, _ := args[1].(int64)
		return x + y, nil
	})
	b.RegisterFunc("gomod", "fail", func(context.Context, []etf.Term) (etf.Term, error) {
		return nil, errors.New("boom")
	})
	return a, b
}

// runGoGoScenarios is the TCP scenario list, Go against Go on QUIC.
func runGoGoScenarios(t *testing.T, c *quicCluster) {
	a, b := goPair(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	echo := etf.Tuple{etf.Atom("echo"), b.Name()}

	t.Run("ping", func(t *testing.T) {
		got, err := a.Call(ctx, etf.Tuple{etf.Atom("net_kernel"), b.Name()}, etf.Tuple{etf.Atom("is_auth"), a.Name()})
		if err != nil || got != etf.Atom("yes") {
			t.Fatalf("is_auth = %v, %v", got, err)
		}
	})
	t.Run("call", func(t *testing.T) {
		got, err := a.Call(ctx, echo, etf.Atom("hi"))
		if err != nil || !etf.Equal(got, etf.Tuple{etf.Atom("reply"), etf.Atom("hi")}) {
			t.Fatalf("call = %v, %v", got, err)
		}
		_, err = a.Call(ctx, etf.Tuple{etf.Atom("missing"), b.Name()}, etf.Atom("x"))
		var ce *node.CallError
		if !errors.As(err, &ce) || ce.Reason != etf.Atom("noproc") {
			t.Fatalf("call to missing name: %v, want noproc", err)
		}
	})
	t.Run("rpc", func(t *testing.T) {
		got, err := a.RPC(ctx, b.Name(), "gomod", "add", int64(2), int64(40))
		if err != nil || got != int64(42) {
			t.Fatalf("rpc = %v, %v", got, err)
		}
		if _, err := a.RPC(ctx, b.Name(), "gomod", "fail"); err == nil {
			t.Fatal("rpc of a failing function succeeded")
		}
	})
	t.Run("corpus", func(t *testing.T) {
		p, _ := a.NewProcess()
		defer p.Exit(node.Normal)
		q, _ := b.Spawn(func(q *node.Process) error {
			for {
				m, err := q.Receive(q.Context())
				if err != nil {
					return nil
				}
				tup := m.(etf.Tuple)
				_ = q.Send(q.Context(), tup[0], tup[1])
			}
		})
		for _, e := range loadCorpusTerms(t) {
			if err := p.Send(ctx, q.Pid(), etf.Tuple{p.Pid(), e}); err != nil {
				t.Fatal(err)
			}
			got, err := p.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !etf.Equal(got, e) {
				t.Fatalf("round trip changed %s into %s", etf.Format(e), etf.Format(got))
			}
		}
	})
	t.Run("big_message", func(t *testing.T) {
		p, _ := a.NewProcess()
		defer p.Exit(node.Normal)
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
		q, _ := b.Spawn(func(q *node.Process) error {
			m, err := q.Receive(q.Context())
			if err != nil {
				return err
			}
			tup := m.(etf.Tuple)
			return q.Send(q.Context(), tup[0], tup[1])
		})
		if err := p.Send(ctx, q.Pid(), etf.Tuple{p.Pid(), big}); err != nil {
			t.Fatal(err)
		}
		got, err := p.Receive(ctx)
		if err != nil || !bytes.Equal(got.([]byte), big) {
			t.Fatalf("16 MiB message did not come back intact (%v)", err)
		}
	})
	t.Run("order", func(t *testing.T) {
		const n = 100_000
		p, _ := a.NewProcess()
		defer p.Exit(node.Normal)
		done := make(chan error, 1)
		q, _ := b.Spawn(func(q *node.Process) error {
			for i := int64(1); i <= n; i++ {
				m, err := q.Receive(q.Context())
				if err != nil {
					done <- err
					return nil
				}
				if m != i {
					done <- fmt.Errorf("message %d arrived as %s", i, etf.Format(m))
					return nil
				}
			}
			done <- nil
			return nil
		})
		for i := int64(1); i <= n; i++ {
			if err := p.Send(ctx, q.Pid(), i); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatal("100k messages did not all arrive")
		}
	})
	t.Run("link_monitor", func(t *testing.T) {
		for _, reason := range []etf.Term{etf.Atom("normal"), etf.Atom("abnormal"), etf.Tuple{etf.Atom("shutdown"), etf.Atom("x")}} {
			p, _ := a.NewProcess()
			p.SetTrapExit(true)
			q, _ := b.Spawn(func(q *node.Process) error {
				if _, err := q.Receive(q.Context()); err != nil {
					return err
				}
				return &node.ExitError{Reason: reason}
			})
			if err := p.Link(ctx, q.Pid()); err != nil {
				t.Fatal(err)
			}
			mref, _ := p.Monitor(ctx, q.Pid())
			// Order holds per pair only (each pair has its own QUIC stream):
			// the go-ahead travels behind LINK and MONITOR_P on p->q.
			if err := p.Send(ctx, q.Pid(), etf.Atom("go")); err != nil {
				t.Fatal(err)
			}
			var gotExit, gotDown bool
			for !(gotExit && gotDown) {
				m, err := p.Receive(ctx)
				if err != nil {
					t.Fatalf("waiting for EXIT/DOWN (%v): %v", etf.Format(reason), err)
				}
				tup := m.(etf.Tuple)
				switch tup[0] {
				case etf.Atom("EXIT"):
					gotExit = etf.Equal(tup[2], reason) && tup[1] == q.Pid()
				case etf.Atom("DOWN"):
					gotDown = tup[1] == mref && etf.Equal(tup[4], reason)
				}
			}
			p.Exit(node.Normal)
		}
	})
	t.Run("noconnection", func(t *testing.T) {
		c2 := c.start("qc" + strconv.Itoa(rand2.IntN(1e6)))
		p, _ := a.NewProcess()
		defer p.Exit(node.Normal)
		p.SetTrapExit(true)
		q, _ := c2.Spawn(func(q *node.Process) error { <-q.Context().Done(); return nil })
		if err := p.Link(ctx, q.Pid()); err != nil {
			t.Fatal(err)
		}
		mref, _ := p.Monitor(ctx, q.Pid())
		if _, err := p.Call(ctx, etf.Tuple{etf.Atom("net_kernel"), c2.Name()}, etf.Tuple{etf.Atom("is_auth"), a.Name()}); err != nil {
			t.Fatal(err)
		}
		a.Disconnect(c2.Name())
		var gotExit, gotDown bool
		for !(gotExit && gotDown) {
			m, err := p.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tup := m.(etf.Tuple)
			gotExit = gotExit || (tup[0] == etf.Atom("EXIT") && tup[2] == etf.Atom("noconnection"))
			gotDown = gotDown || (tup[0] == etf.Atom("DOWN") && tup[1] == mref && tup[4] == etf.Atom("noconnection"))
		}
	})
}

func TestQUICGoGoNoAuth(t *testing.T) {
	runGoGoScenarios(t, newQUICCluster(t))
}

// loadCorpusTerms is every term of the shared corpus plus the generator's
// boundary terms.
func loadCorpusTerms(t *testing.T) []etf.Term {
	cases, _ := buildCorpus(t)
	out := make([]etf.Term, 0, len(cases))
	for _, c := range cases {
		out = append(out, c.term)
	}
	return out
}
