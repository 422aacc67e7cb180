package dist

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/barrelgo/barrelgo/etf"
)

// Carrier moves the frames of one connection after the handshake. TCP uses
// one ordered byte stream; the QUIC carrier spreads lanes over streams.
type Carrier interface {
	// ReadFrame returns the next frame; an empty frame is a tick. It fails
	// once the carrier is closed. The frame is only valid until the next
	// call: carriers may reuse its memory.
	ReadFrame() ([]byte, error)
	// WriteFrames writes the frames of one message in order. Messages with
	// the same lane stay in order; a carrier may run distinct lanes
	// concurrently. It may return before the bytes are written and keep
	// the frames until then: the caller must not modify them afterwards.
	WriteFrames(lane uint64, frames [][]byte) error
	// WriteTick writes a keep-alive tick.
	WriteTick() error
	// Close closes the connection and unblocks ReadFrame and any write in
	// progress.
	Close() error
}

// RecyclingCarrier is a Carrier that can hand the buffer a message was
// encoded into back to the encode pool once it has written the frames
// (see FrameWriter.WriteFramesRecycle). Carriers built on FrameWriter
// implement it by passing the buffer along.
type RecyclingCarrier interface {
	Carrier
	WriteFramesRecycle(lane uint64, frames [][]byte, backing []byte) error
}

// PlacingCarrier is a Carrier that can read the body of a large frame
// straight into the decoder's reassembly buffer (see Decoder.Place).
type PlacingCarrier interface {
	Carrier
	// ReadFramePlaced is ReadFrame, except that for a large frame it may
	// call place with the frame's first ContinuationHead bytes and its
	// size: when place returns a buffer, the rest of the frame is read
	// into it and only the head is returned.
	ReadFramePlaced(place func(head []byte, size int) []byte) ([]byte, error)
}

// Handler receives the messages of a connection, in order, from its reader
// goroutine. It must not block for long: the connection reads nothing
// meanwhile.
type Handler interface {
	HandleMessage(c *Conn, m *Message)
}

// Config describes an established connection.
type Config struct {
	Peer      etf.Atom
	Fragments bool // FRAGMENTS negotiated: header form and fragmentation
	// TickTime is net_ticktime: a peer silent that long is dead, and this
	// side writes a tick every TickTime/4 when it had nothing else to send
	// (60 s when 0).
	TickTime time.Duration
	Limits   Limits
	Handler  Handler
	Logger   *slog.Logger
}

// ErrTickTimeout is the reason a connection closes when its peer went silent
// for net_ticktime.
var ErrTickTimeout = errors.New("dist: net_tick_timeout: peer silent for net_ticktime")

// ErrClosed reports a send on a closed connection.
var ErrClosed = errors.New("dist: connection closed")

// Conn is one established distribution connection.
type Conn struct {
	cfg     Config
	carrier Carrier
	log     *slog.Logger

	encMu sync.Mutex
	enc   Encoder

	dec Decoder

	wrote     atomic.Bool // something was written since the last tick period
	read      atomic.Bool // something was read since the last tick period
	msgsIn    atomic.Uint64
	msgsOut   atomic.Uint64
	closed    atomic.Bool
	closeOnce sync.Once
	done      chan struct{}
	errMu     sync.Mutex
	err       error
}

// NewConn wraps a carrier whose handshake completed.
func NewConn(carrier Carrier, cfg Config) *Conn {
	if cfg.TickTime <= 0 {
		cfg.TickTime = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Conn{cfg: cfg, carrier: carrier, done: make(chan struct{})}
	c.log = cfg.Logger.With("peer", string(cfg.Peer))
	c.enc.Fragments = cfg.Fragments
	if fs, ok := carrier.(interface{ FragmentSize() int }); ok {
		c.enc.FragmentSize = fs.FragmentSize()
	}
	c.dec.Limits = cfg.Limits
	return c
}

// Peer is the name of the node at the other end.
func (c *Conn) Peer() etf.Atom { return c.cfg.Peer }

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended (nil while it runs).
func (c *Conn) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// Serve reads and dispatches messages and keeps the connection alive until
// it fails, ctx ends or Close is called. It returns the reason.
func (c *Conn) Serve(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.tickLoop(ctx)
	}()
	stop := context.AfterFunc(ctx, func() { c.fail(ctx.Err()) })
	defer stop()
	read := c.carrier.ReadFrame
	if pc, ok := c.carrier.(PlacingCarrier); ok {
		place := c.dec.Place
		read = func() ([]byte, error) { return pc.ReadFramePlaced(place) }
	}
	for {
		frame, err := read()
		if err != nil {
			c.fail(fmt.Errorf("dist: read from %s: %w", c.cfg.Peer, err))
			break
		}
		c.read.Store(true)
		m, err := c.dec.Decode(frame)
		if err != nil {
			c.log.Warn("closing distribution connection: peer broke the protocol", "reason", err)
			c.fail(err)
			break
		}
		if m != nil {
			c.msgsIn.Add(1)
			c.cfg.Handler.HandleMessage(c, m)
		}
	}
	wg.Wait()
	return c.Err()
}

func (c *Conn) tickLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.TickTime / 4)
	defer t.Stop()
	// Ticks go out from their own goroutine: a peer that stops reading
	// blocks writes, and the silence check below must still run to end the
	// connection (closing the carrier then unblocks the write).
	kick := make(chan struct{}, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-kick:
			}
			if err := c.carrier.WriteTick(); err != nil {
				c.fail(fmt.Errorf("dist: tick to %s: %w", c.cfg.Peer, err))
				return
			}
		}
	}()
	defer wg.Wait()
	defer close(stop)
	silent := 0
	for {
		select {
		case <-c.done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c.read.Swap(false) {
			silent = 0
		} else if silent++; silent >= 4 {
			c.log.Warn("closing distribution connection", "reason", "net_tick_timeout", "ticktime", c.cfg.TickTime)
			c.fail(ErrTickTimeout)
			return
		}
		if !c.wrote.Swap(false) {
			select {
			case kick <- struct{}{}:
			default: // the previous tick is still being written
			}
		}
	}
}

var laneSeed = maphash.MakeSeed()

// laneOf is the ordering lane of a message: the same sender and target
// always map to the same lane, so per-pair order holds on carriers that run
// lanes in parallel.
func laneOf(ctl *Control) uint64 {
	var h maphash.Hash
	h.SetSeed(laneSeed)
	laneKey(&h, ctl.From)
	laneKey(&h, ctl.To)
	return h.Sum64()
}

// laneKey hashes a process a control names. Only pids, names and alias
// refs pick the lane: other terms (in malformed controls) may not be
// comparable, and WriteComparable panics on those.
func laneKey(h *maphash.Hash, t etf.Term) {
	switch v := t.(type) {
	case etf.Pid:
		maphash.WriteComparable(h, v)
	case etf.Atom:
		maphash.WriteComparable(h, v)
	case etf.Ref:
		maphash.WriteComparable(h, v)
	}
}

// Send writes one control message (and its payload when the op has one).
// Like Erlang's send it is asynchronous: it returns once the carrier has
// queued the frames, and a later write failure ends the connection.
func (c *Conn) Send(ctx context.Context, ctl *Control, msg etf.Term) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var fbuf [4][]byte
	rc, recycling := c.carrier.(RecyclingCarrier)
	var buf []byte
	if recycling {
		buf = getBuf(64 + sizeHint(msg))
	} else {
		buf = make([]byte, 0, 64)
	}
	c.encMu.Lock()
	frames, buf, err := c.enc.EncodeInto(buf, fbuf[:0], ctl, msg)
	c.encMu.Unlock()
	if err != nil {
		if recycling {
			putBuf(buf)
		}
		return err
	}
	if recycling {
		err = rc.WriteFramesRecycle(laneOf(ctl), frames, buf)
	} else {
		err = c.carrier.WriteFrames(laneOf(ctl), frames)
	}
	if err != nil {
		err = fmt.Errorf("dist: write to %s: %w", c.cfg.Peer, err)
		c.fail(err)
		return err
	}
	c.wrote.Store(true)
	c.msgsOut.Add(1)
	return nil
}

// Stats counts a connection's messages: every control message, signals
// included, ticks and fragments not (a fragmented message is one).
type Stats struct {
	MessagesIn  uint64 // decoded from the peer and handed to the Handler
	MessagesOut uint64 // accepted by the carrier for writing
}

// Stats returns the connection's counts so far.
func (c *Conn) Stats() Stats {
	return Stats{MessagesIn: c.msgsIn.Load(), MessagesOut: c.msgsOut.Load()}
}

// Close ends the connection.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	return nil
}

func (c *Conn) fail(err error) {
	c.closeOnce.Do(func() {
		c.errMu.Lock()
		c.err = err
		c.errMu.Unlock()
		c.closed.Store(true)
		c.carrier.Close()
		close(c.done)
	})
}
