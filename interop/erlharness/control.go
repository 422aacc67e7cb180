package erlharness

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/barrelgo/barrelgo/etf"
)

// maxControlFrame bounds one reply on the control socket.
const maxControlFrame = 256 << 20

// Control is the harness end of a test node's control connection: terms
// framed by a 4-byte length, requests that carry an integer id and
// replies {Id, ok | error, Val}. Node and barrelharness both speak it to
// their probe modules; Control matches each reply to its request.
type Control struct {
	conn net.Conn
	wmu  sync.Mutex // serialises requests on the socket

	pmu     sync.Mutex
	pending map[int64]chan controlReply
	nextID  int64
	broken  error

	done chan struct{}
}

type controlReply struct {
	ok  bool
	val etf.Term
	err error
}

// NewControl reads replies from conn until it fails or Close is called.
// Frames sent before (the probe's ready frame) are the caller's to read
// with ReadControlFrame.
func NewControl(conn net.Conn) *Control {
	c := &Control{conn: conn, pending: map[int64]chan controlReply{}, done: make(chan struct{})}
	go c.readLoop()
	return c
}

// Request sends build(id) and waits for the reply with that id: ok tells
// {Id, ok, Val} from {Id, error, Val}. err is a broken connection, an
// encoding failure or ctx's end.
func (c *Control) Request(ctx context.Context, build func(id int64) etf.Term) (ok bool, val etf.Term, err error) {
	ch := make(chan controlReply, 1)
	c.pmu.Lock()
	if c.broken != nil {
		err := c.broken
		c.pmu.Unlock()
		return false, nil, err
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.pmu.Unlock()
	req, err := etf.Encode(build(id))
	if err != nil {
		c.forget(id)
		return false, nil, fmt.Errorf("encode request: %w", err)
	}
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(req)), uint32(len(req)))
	frame = append(frame, req...)
	c.wmu.Lock()
	_, err = c.conn.Write(frame)
	c.wmu.Unlock()
	if err != nil {
		c.forget(id)
		return false, nil, fmt.Errorf("send request: %w", err)
	}
	select {
	case r := <-ch:
		return r.ok, r.val, r.err
	case <-ctx.Done():
		c.forget(id)
		return false, nil, ctx.Err()
	}
}

// Close closes the connection and waits for the reader to end.
func (c *Control) Close() {
	_ = c.conn.Close()
	<-c.done
}

func (c *Control) forget(id int64) {
	c.pmu.Lock()
	delete(c.pending, id)
	c.pmu.Unlock()
}

func (c *Control) readLoop() {
	defer close(c.done)
	for {
		b, err := ReadControlFrame(c.conn)
		if err != nil {
			c.breakAll(fmt.Errorf("control connection: %w", err))
			return
		}
		t, err := etf.Decode(b)
		tup, ok := t.(etf.Tuple)
		if err != nil || !ok || len(tup) != 3 {
			c.breakAll(fmt.Errorf("bad control reply %s (%v)", etf.Format(t), err))
			return
		}
		id, _ := tup[0].(int64)
		c.pmu.Lock()
		ch := c.pending[id]
		delete(c.pending, id)
		c.pmu.Unlock()
		if ch != nil {
			ch <- controlReply{ok: tup[1] == etf.AtomOK, val: tup[2]}
		}
	}
}

// breakAll fails every pending and later request with err.
func (c *Control) breakAll(err error) {
	c.pmu.Lock()
	if c.broken == nil {
		c.broken = err
	}
	for id, ch := range c.pending {
		ch <- controlReply{err: err}
		delete(c.pending, id)
	}
	c.pmu.Unlock()
	_ = c.conn.Close()
}

// ReadControlFrame reads one length-prefixed frame of a control
// connection, refusing lengths above 256 MiB.
func ReadControlFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	l := binary.BigEndian.Uint32(hdr[:])
	if l > maxControlFrame {
		return nil, fmt.Errorf("control frame of %d bytes exceeds %d", l, maxControlFrame)
	}
	b := make([]byte, l)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}
