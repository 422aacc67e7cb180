package protodist

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/barrelgo/barrelgo/dist"
	"github.com/quic-go/quic-go"
)

// DataStreams is the number of data streams each side opens
// (QUIC_DIST_DATA_STREAMS).
const DataStreams = 16

// User stream thresholds: streams at or above these IDs are user streams,
// which barrelgo refuses with the code erlang_quic uses.
const (
	userStreamClient = 4 * (DataStreams + 1) // 68
	userStreamServer = 4*DataStreams + 1     // 65
	refuseCode       = 0x100
)

// carrier moves distribution frames over one QUIC connection: sends on
// the node's own 16 data streams, chosen by lane so per-pair order holds,
// and reads every data stream the peer opened.
type carrier struct {
	conn     *quic.Conn
	ctl      *quic.Stream
	send     [DataStreams]*sendLane
	frames   chan []byte
	maxFrame int
	isClient bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	errOnce sync.Once
	err     error
	ctlMu   sync.Mutex
}

// sendLane is one of our data streams. Its frames are written by a
// dist.FrameWriter: a message no longer costs a stream write (and, on an
// idle connection, a QUIC packet) of its own, messages queued meanwhile
// leave together.
type sendLane struct {
	w *dist.FrameWriter
}

// closeGrace is how long Close lets queued frames reach the streams.
const closeGrace = 100 * time.Millisecond

func newCarrier(conn *quic.Conn, ctl *quic.Stream, ctlReader io.Reader, own []*quic.Stream, isClient bool, limits dist.Limits, liveness time.Duration) *carrier {
	c := &carrier{
		conn:     conn,
		ctl:      ctl,
		frames:   make(chan []byte, 256),
		maxFrame: maxMessage(limits) + 64,
		isClient: isClient,
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	for i, s := range own {
		s.SetPriority(5, false)
		// Small frames are copied into one buffer per batch, one stream
		// Write; large ones (fragments) are written from the message's own
		// buffer, which quic-go packs without another copy.
		c.send[i] = &sendLane{w: dist.NewFrameWriter(s, dist.FrameWriterOptions{
			OnError: func(err error) { c.fail(fmt.Errorf("protodist: write: %w", err)) }})}
	}
	ctl.SetPriority(0, false)
	c.wg.Add(3)
	go c.acceptLoop()
	go c.readCtl(ctlReader)
	go c.watchPackets(liveness)
	return c
}

func maxMessage(l dist.Limits) int {
	if l.MaxMessage > 0 {
		return l.MaxMessage
	}
	return dist.DefaultMaxMessage
}

func (c *carrier) fail(err error) {
	c.errOnce.Do(func() {
		c.err = err
		c.cancel()
	})
}

// acceptLoop takes every stream the peer opens: data streams are read,
// user streams refused.
func (c *carrier) acceptLoop() {
	defer c.wg.Done()
	for {
		s, err := c.conn.AcceptStream(c.ctx)
		if err != nil {
			c.fail(fmt.Errorf("protodist: accept stream: %w", err))
			return
		}
		id := int64(s.StreamID())
		limit := int64(userStreamServer)
		if !c.isClient {
			limit = userStreamClient
		}
		if id >= limit {
			s.CancelRead(refuseCode)
			s.CancelWrite(refuseCode)
			continue
		}
		c.wg.Add(1)
		go c.readData(s)
	}
}

// readData deframes one peer data stream: u32 length, payload; length 0
// is a tick.
func (c *carrier) readData(s *quic.Stream) {
	defer c.wg.Done()
	r := bufio.NewReaderSize(s, 64<<10)
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			c.fail(fmt.Errorf("protodist: data stream %d: %w", s.StreamID(), err))
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		if n > c.maxFrame {
			c.fail(fmt.Errorf("%w: frame of %d bytes on stream %d exceeds %d", dist.ErrProtocol, n, s.StreamID(), c.maxFrame))
			return
		}
		var buf []byte
		if n > 0 {
			buf = make([]byte, 0, min(n, 1<<20))
			for len(buf) < n {
				chunk := min(n-len(buf), 1<<20)
				buf = append(buf, make([]byte, chunk)...)
				if _, err := io.ReadFull(r, buf[len(buf)-chunk:]); err != nil {
					c.fail(fmt.Errorf("protodist: data stream %d: %w", s.StreamID(), err))
					return
				}
			}
		}
		select {
		case c.frames <- buf:
		case <-c.ctx.Done():
			return
		}
	}
}

// readCtl reads stream 0 after the handshake: only 4-byte zero ticks may
// arrive there.
func (c *carrier) readCtl(r io.Reader) {
	defer c.wg.Done()
	var b [4]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			c.fail(fmt.Errorf("protodist: control stream: %w", err))
			return
		}
		if b != [4]byte{} {
			c.fail(fmt.Errorf("%w: non-tick bytes %x on the control stream", dist.ErrProtocol, b))
			return
		}
		select {
		case c.frames <- nil:
		case <-c.ctx.Done():
			return
		}
	}
}

// watchPackets reports QUIC activity as ticks: Erlang peers rarely tick
// (their keep-alive PINGs are what keeps a link up), so liveness comes
// from the packet counter as on the Erlang side (transport.md §4.4).
func (c *carrier) watchPackets(every time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	last := c.conn.ConnectionStats().PacketsReceived
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		now := c.conn.ConnectionStats().PacketsReceived
		if now != last {
			last = now
			select {
			case c.frames <- nil:
			default:
			}
		}
	}
}

// ReadFrame implements dist.Carrier.
func (c *carrier) ReadFrame() ([]byte, error) {
	select {
	case f := <-c.frames:
		return f, nil
	case <-c.ctx.Done():
		// Deliver what was already read before reporting the end.
		select {
		case f := <-c.frames:
			return f, nil
		default:
		}
		return nil, c.err
	}
}

// WriteFrames implements dist.Carrier: all frames of one message on the
// lane's stream, so fragments stay together and in order.
func (c *carrier) WriteFrames(lane uint64, frames [][]byte) error {
	if err := c.send[lane%DataStreams].w.WriteFrames(frames); err != nil {
		return c.writeErr(err)
	}
	return nil
}

// WriteFramesRecycle implements dist.RecyclingCarrier.
func (c *carrier) WriteFramesRecycle(lane uint64, frames [][]byte, backing []byte) error {
	if err := c.send[lane%DataStreams].w.WriteFramesRecycle(frames, backing); err != nil {
		return c.writeErr(err)
	}
	return nil
}

func (c *carrier) writeErr(err error) error {
	if c.err != nil {
		return c.err
	}
	return fmt.Errorf("protodist: write: %w", err)
}

// WriteTick implements dist.Carrier: four zero bytes on stream 0.
func (c *carrier) WriteTick() error {
	c.ctlMu.Lock()
	defer c.ctlMu.Unlock()
	_, err := c.ctl.Write([]byte{0, 0, 0, 0})
	return err
}

// Close closes the QUIC connection: Erlang only reports nodedown when it
// sees the connection close (transport.md §8.2).
func (c *carrier) Close() error {
	// Queued frames get a moment to reach their streams first, as signals
	// sent just before a close (exits on node stop) did when every write
	// was synchronous.
	for _, l := range c.send {
		l.w.Close(0)
	}
	grace, cancel := context.WithTimeout(context.Background(), closeGrace)
	for _, l := range c.send {
		select {
		case <-l.w.Done():
		case <-grace.Done():
		}
	}
	cancel()
	c.fail(errors.New("protodist: connection closed"))
	err := c.conn.CloseWithError(0, "")
	for _, l := range c.send {
		l.w.Wait()
	}
	c.wg.Wait()
	return err
}
