package node

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/handshake"
)

// lossyTransport is TCP whose first dial reaches a peer that takes our
// name and never answers, as an erlang_quic server that lost it in its
// connection handoff does.
type lossyTransport struct {
	*TCPTransport
	silent net.Listener
	dials  atomic.Int32
}

func (l *lossyTransport) StatusRetryAfter() time.Duration { return 200 * time.Millisecond }

func (l *lossyTransport) Dial(ctx context.Context, peer etf.Atom) (Link, error) {
	if l.dials.Add(1) > 1 {
		return l.TCPTransport.Dial(ctx, peer)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", l.silent.Addr().String())
	if err != nil {
		return nil, err
	}
	return &tcpLink{Conn: c, TCPFramer: handshake.NewTCPFramer(c)}, nil
}

// A transport that can lose the first handshake message gets a second
// connection when the status does not come, within one Connect.
func TestDialRetriesWhenTheStatusNeverComes(t *testing.T) {
	addr := testEPMD(t)
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = handshake.NewTCPFramer(c).ReadMessage(context.Background()) // the name, then silence
				var b [1]byte
				_, _ = c.Read(b[:])
			}()
		}
	}()
	lt := &lossyTransport{TCPTransport: &TCPTransport{ListenAddr: "127.0.0.1:0", EPMDAddr: addr, NoEmbeddedEPMD: true}, silent: silent}
	a := startNode(t, addr, func(o *Options) { o.Transport = lt })
	b := startNode(t, addr)
	if err := a.Connect(testCtx(t), b.Name()); err != nil {
		t.Fatalf("connect through a lost first name: %v", err)
	}
	if got := lt.dials.Load(); got != 2 {
		t.Errorf("%d dials, want the silent one and one more", got)
	}
}
