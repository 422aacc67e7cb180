package dist

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
)

// bound is a generous upper limit for things that should happen within
// milliseconds; it only stops a broken test from hanging.
const bound = 20 * time.Second

var quiet = slog.New(slog.DiscardHandler)

// collector is a Handler that keeps the messages it gets.
type collector struct {
	mu   sync.Mutex
	msgs []*Message
	more chan struct{} // signalled on each message
}

func newCollector() *collector { return &collector{more: make(chan struct{}, 1)} }

func (h *collector) HandleMessage(_ *Conn, m *Message) {
	h.mu.Lock()
	h.msgs = append(h.msgs, m)
	h.mu.Unlock()
	select {
	case h.more <- struct{}{}:
	default:
	}
}

func (h *collector) waitFor(t *testing.T, n int) []*Message {
	t.Helper()
	deadline := time.After(bound)
	for {
		h.mu.Lock()
		got := len(h.msgs)
		h.mu.Unlock()
		if got >= n {
			h.mu.Lock()
			defer h.mu.Unlock()
			return append([]*Message(nil), h.msgs...)
		}
		select {
		case <-h.more:
		case <-deadline:
			t.Fatalf("got %d of %d messages", got, n)
		}
	}
}

// counting wraps a carrier and counts the ticks that cross it.
type counting struct {
	Carrier
	ticksRead, ticksWritten atomic.Int64
	seen                    chan struct{} // signalled on each tick read
}

func newCounting(c Carrier) *counting { return &counting{Carrier: c, seen: make(chan struct{}, 1)} }

func (c *counting) ReadFrame() ([]byte, error) {
	f, err := c.Carrier.ReadFrame()
	if err == nil && len(f) == 0 {
		c.ticksRead.Add(1)
		select {
		case c.seen <- struct{}{}:
		default:
		}
	}
	return f, err
}

func (c *counting) WriteTick() error {
	c.ticksWritten.Add(1)
	return c.Carrier.WriteTick()
}

// served runs Serve and reports its result.
func served(ctx context.Context, c *Conn) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- c.Serve(ctx) }()
	return ch
}

func waitErr(t *testing.T, what string, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(bound):
		t.Fatalf("%s: Serve did not return within %v", what, bound)
		return nil
	}
}

// streamPair gives the two ends of a stream: net.Pipe or TCP loopback.
func streamPair(t *testing.T, kind string) (net.Conn, net.Conn) {
	t.Helper()
	if kind == "pipe" {
		a, b := net.Pipe()
		return a, b
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	return a, b
}

type connPair struct {
	a, b       *Conn
	ca, cb     *counting
	ha, hb     *collector
	doneA      <-chan error
	doneB      <-chan error
	cancel     context.CancelFunc
	stopOnce   sync.Once
	errA, errB error
}

func newConnPair(t *testing.T, kind string, tick time.Duration, fragments bool) *connPair {
	t.Helper()
	sa, sb := streamPair(t, kind)
	p := &connPair{ha: newCollector(), hb: newCollector()}
	p.ca = newCounting(NewTCPCarrier(sa, Limits{}))
	p.cb = newCounting(NewTCPCarrier(sb, Limits{}))
	p.a = NewConn(p.ca, Config{Peer: "b@127.0.0.1", Fragments: fragments, TickTime: tick, Handler: p.ha, Logger: quiet})
	p.b = NewConn(p.cb, Config{Peer: "a@127.0.0.1", Fragments: fragments, TickTime: tick, Handler: p.hb, Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.doneA, p.doneB = served(ctx, p.a), served(ctx, p.b)
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *connPair) stop(t *testing.T) {
	p.stopOnce.Do(func() {
		p.a.Close()
		p.errA = waitErr(t, "a", p.doneA)
		p.errB = waitErr(t, "b", p.doneB)
		p.cancel()
	})
}

func numbered(i int) etf.Term {
	if i%97 == 0 {
		// Every so often a message big enough to be fragmented (or, in
		// pass-through form, a big single frame).
		return etf.Tuple{int64(i), bytes.Repeat([]byte{byte(i)}, 150000)}
	}
	return etf.Tuple{int64(i), etf.Atom("hello")}
}

func TestConnDeliversInOrder(t *testing.T) {
	for _, kind := range []string{"pipe", "tcp"} {
		for _, frag := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/fragments=%v", kind, frag), func(t *testing.T) {
				p := newConnPair(t, kind, 0, frag)
				const n = 500
				ctx := context.Background()
				var wg sync.WaitGroup
				send := func(c *Conn, from, to etf.Pid) {
					defer wg.Done()
					for i := range n {
						ctl := &Control{Op: OpSendSender, From: from, To: to}
						if i%5 == 0 {
							ctl = &Control{Op: OpRegSend, From: from, To: etf.Atom("probe")}
						}
						if err := c.Send(ctx, ctl, numbered(i)); err != nil {
							t.Errorf("send %d: %v", i, err)
							return
						}
					}
				}
				wg.Add(2)
				go send(p.a, pidA, pidB)
				go send(p.b, pidB, pidA)
				wg.Wait()
				for _, h := range []*collector{p.ha, p.hb} {
					msgs := h.waitFor(t, n)
					if len(msgs) != n {
						t.Fatalf("%d messages, want %d", len(msgs), n)
					}
					for i, m := range msgs {
						if !etf.Equal(m.Payload, numbered(i)) {
							t.Fatalf("message %d is %.60s", i, etf.Format(m.Payload))
						}
						wantOp := OpSendSender
						if i%5 == 0 {
							wantOp = OpRegSend
						}
						if m.Control.Op != wantOp {
							t.Fatalf("message %d has op %v", i, m.Control.Op)
						}
					}
				}
				p.stop(t)
				if !errors.Is(p.errA, ErrClosed) {
					t.Errorf("closed side ended with %v", p.errA)
				}
				if p.errB == nil {
					t.Error("the peer of a closed connection kept serving")
				}
			})
		}
	}
}

// With a tiny net_ticktime an idle connection lives on ticks alone: both
// sides see many more tick periods than the timeout allows in silence.
func TestConnTicksKeepIdleConnectionUp(t *testing.T) {
	const tick = 200 * time.Millisecond // tick every 50 ms, dead after 200 ms of silence
	p := newConnPair(t, "pipe", tick, true)
	const want = 12 // 3 net_ticktimes' worth of ticks each way
	deadline := time.After(bound)
	for p.ca.ticksRead.Load() < want || p.cb.ticksRead.Load() < want {
		select {
		case <-p.ca.seen:
		case <-p.cb.seen:
		case <-p.a.Done():
			t.Fatalf("a closed after %d ticks in: %v", p.ca.ticksRead.Load(), p.a.Err())
		case <-p.b.Done():
			t.Fatalf("b closed after %d ticks in: %v", p.cb.ticksRead.Load(), p.b.Err())
		case <-deadline:
			t.Fatalf("ticks seen: a %d, b %d", p.ca.ticksRead.Load(), p.cb.ticksRead.Load())
		}
	}
	if p.a.Err() != nil || p.b.Err() != nil {
		t.Fatalf("errors while idle: %v, %v", p.a.Err(), p.b.Err())
	}
	// No handler call for ticks.
	p.ha.mu.Lock()
	p.hb.mu.Lock()
	n := len(p.ha.msgs) + len(p.hb.msgs)
	p.hb.mu.Unlock()
	p.ha.mu.Unlock()
	if n != 0 {
		t.Error("ticks reached the handler")
	}
	if p.ca.ticksWritten.Load() == 0 || p.cb.ticksWritten.Load() == 0 {
		t.Error("a side wrote no ticks")
	}
}

// stub is a carrier whose peer never says anything: ReadFrame blocks until
// Close. Writes optionally block too, as on a peer that stopped reading.
type stub struct {
	closed       chan struct{}
	closeOnce    sync.Once
	blockWrites  bool
	ticks        atomic.Int64
	frames       atomic.Int64
	writeErr     error
	writeStarted chan struct{}
}

func newStub() *stub { return &stub{closed: make(chan struct{}), writeStarted: make(chan struct{}, 1)} }

func (s *stub) ReadFrame() ([]byte, error) {
	<-s.closed
	return nil, net.ErrClosed
}

func (s *stub) write() error {
	select {
	case s.writeStarted <- struct{}{}:
	default:
	}
	if s.blockWrites {
		<-s.closed
		return net.ErrClosed
	}
	return s.writeErr
}

func (s *stub) WriteFrames(_ uint64, f [][]byte) error {
	s.frames.Add(int64(len(f)))
	return s.write()
}

func (s *stub) WriteTick() error {
	s.ticks.Add(1)
	return s.write()
}

func (s *stub) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

func TestConnTickTimeoutSilentPeer(t *testing.T) {
	s := newStub()
	c := NewConn(s, Config{Peer: "silent@127.0.0.1", TickTime: 40 * time.Millisecond, Handler: newCollector(), Logger: quiet})
	err := waitErr(t, "silent peer", served(context.Background(), c))
	if !errors.Is(err, ErrTickTimeout) || !errors.Is(c.Err(), ErrTickTimeout) {
		t.Fatalf("Serve returned %v, Err %v; want ErrTickTimeout", err, c.Err())
	}
	// One tick per silent period until the fourth, which ends it; the
	// ticks are written asynchronously, so the last may not have gone out.
	if n := s.ticks.Load(); n < 1 || n > 3 {
		t.Errorf("%d ticks written, want 1..3", n)
	}
	select {
	case <-s.closed:
	default:
		t.Error("carrier not closed")
	}
	if err := c.Send(context.Background(), &Control{Op: OpSend, To: pidB}, etf.Atom("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after timeout: %v", err)
	}
}

// A peer that stops reading blocks our writes; the silence is still
// detected and closing the carrier frees the blocked writers.
func TestConnTickTimeoutStuckPeer(t *testing.T) {
	t.Run("stub", func(t *testing.T) {
		s := newStub()
		s.blockWrites = true
		c := NewConn(s, Config{Peer: "stuck@127.0.0.1", TickTime: 40 * time.Millisecond, Handler: newCollector(), Logger: quiet})
		done := served(context.Background(), c)
		sendErr := make(chan error, 1)
		go func() { sendErr <- c.Send(context.Background(), &Control{Op: OpSend, To: pidB}, etf.Atom("x")) }()
		if err := waitErr(t, "stuck peer", done); !errors.Is(err, ErrTickTimeout) {
			t.Fatalf("Serve returned %v, want ErrTickTimeout", err)
		}
		select {
		case err := <-sendErr:
			if err == nil {
				t.Error("blocked Send succeeded after the connection died")
			}
		case <-time.After(bound):
			t.Fatal("Send still blocked after the connection closed")
		}
	})
	t.Run("pipe", func(t *testing.T) {
		a, b := net.Pipe() // nobody ever reads or writes b
		defer b.Close()
		c := NewConn(NewTCPCarrier(a, Limits{}), Config{Peer: "stuck@127.0.0.1", TickTime: 40 * time.Millisecond, Handler: newCollector(), Logger: quiet})
		if err := waitErr(t, "stuck pipe peer", served(context.Background(), c)); !errors.Is(err, ErrTickTimeout) {
			t.Fatalf("Serve returned %v, want ErrTickTimeout", err)
		}
	})
}

func TestConnCloseUnblocksServe(t *testing.T) {
	s := newStub()
	c := NewConn(s, Config{Peer: "p@127.0.0.1", Handler: newCollector(), Logger: quiet})
	done := served(context.Background(), c)
	if c.Err() != nil {
		t.Fatalf("Err before close: %v", c.Err())
	}
	if err := c.Send(context.Background(), &Control{Op: OpLink, From: pidA, To: pidB}, nil); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close() // idempotent
	if err := waitErr(t, "close", done); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve returned %v", err)
	}
	<-c.Done()
	if err := c.Send(context.Background(), &Control{Op: OpLink, From: pidA, To: pidB}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	if c.Peer() != "p@127.0.0.1" {
		t.Errorf("Peer() = %q", c.Peer())
	}
}

func TestConnContextEndsServe(t *testing.T) {
	s := newStub()
	c := NewConn(s, Config{Peer: "p@127.0.0.1", Handler: newCollector(), Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	done := served(ctx, c)
	cancel()
	if err := waitErr(t, "cancel", done); !errors.Is(err, context.Canceled) {
		t.Errorf("Serve returned %v", err)
	}
	// A Send with an ended context does not write.
	c2 := NewConn(newStub(), Config{Handler: newCollector(), Logger: quiet})
	if err := c2.Send(ctx, &Control{Op: OpLink, From: pidA, To: pidB}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a cancelled context: %v", err)
	}
}

func TestConnProtocolViolationCloses(t *testing.T) {
	a, b := net.Pipe()
	h := newCollector()
	c := NewConn(NewTCPCarrier(a, Limits{}), Config{Peer: "evil@127.0.0.1", Fragments: true, Handler: h, Logger: quiet})
	done := served(context.Background(), c)
	peer := NewTCPCarrier(b, Limits{})
	good, _ := (&Encoder{Fragments: true}).Encode(nil, &Control{Op: OpSend, To: pidA}, etf.Atom("ok"))
	if err := peer.WriteFrames(0, good); err != nil {
		t.Fatal(err)
	}
	if err := peer.WriteFrames(0, [][]byte{{131, 68, 0, 104, 1, 97, 99}}); err != nil {
		t.Fatal(err)
	}
	err := waitErr(t, "violation", done)
	if !errors.Is(err, ErrProtocol) {
		t.Errorf("Serve returned %v", err)
	}
	if msgs := h.waitFor(t, 1); len(msgs) != 1 || msgs[0].Payload != etf.Atom("ok") {
		t.Errorf("handler got %d messages", len(msgs))
	}
	// Our side closed the stream: the peer sees it.
	if _, err := peer.ReadFrame(); err == nil {
		t.Error("peer still connected")
	}
	peer.Close() // ends its writer goroutine and closes b
}

func TestConnWriteErrorCloses(t *testing.T) {
	s := newStub()
	s.writeErr = errors.New("broken pipe")
	c := NewConn(s, Config{Peer: "p@127.0.0.1", Handler: newCollector(), Logger: quiet})
	done := served(context.Background(), c)
	err := c.Send(context.Background(), &Control{Op: OpLink, From: pidA, To: pidB}, nil)
	if err == nil || !errors.Is(err, s.writeErr) {
		t.Fatalf("Send: %v", err)
	}
	if err := waitErr(t, "write error", done); !errors.Is(err, s.writeErr) {
		t.Errorf("Serve returned %v", err)
	}
}

// A control that cannot be encoded is refused without touching the
// connection; one with odd terms where processes belong is still
// written (the peer judges it) rather than panicking.
func TestConnSendOddControls(t *testing.T) {
	s := newStub()
	c := NewConn(s, Config{Handler: newCollector(), Logger: quiet})
	if err := c.Send(context.Background(), &Control{Op: OpNodeLink}, nil); err == nil {
		t.Error("NODE_LINK sent")
	}
	if err := c.Send(context.Background(), &Control{Op: OpSend, To: etf.Tuple{etf.Atom("x")}}, etf.List{int64(1)}); err != nil {
		t.Errorf("SEND to a tuple: %v", err)
	}
	if s.frames.Load() != 1 {
		t.Errorf("%d frames written", s.frames.Load())
	}
	c.Close()
}

// Concurrent senders on one connection: every message arrives once and
// whole (fragments of concurrent messages must not mix).
func TestConnConcurrentSenders(t *testing.T) {
	p := newConnPair(t, "tcp", 0, true)
	const senders, each = 8, 40
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := etf.Pid{Node: "a@127.0.0.1", ID: uint32(s), Creation: 1}
			for i := range each {
				msg := etf.Tuple{int64(s), int64(i), bytes.Repeat([]byte{byte(s)}, 1000+i*3000)}
				if err := p.a.Send(context.Background(), &Control{Op: OpSendSender, From: from, To: pidB}, msg); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	msgs := p.hb.waitFor(t, senders*each)
	next := make([]int64, senders)
	for _, m := range msgs {
		tup := m.Payload.(etf.Tuple)
		s, i := tup[0].(int64), tup[1].(int64)
		// Per sender, order holds: same (from, to), same lane.
		if i != next[s] {
			t.Fatalf("sender %d: message %d, want %d", s, i, next[s])
		}
		next[s]++
		if !bytes.Equal(tup[2].([]byte), bytes.Repeat([]byte{byte(s)}, 1000+int(i)*3000)) {
			t.Fatalf("sender %d message %d corrupted", s, i)
		}
	}
}
