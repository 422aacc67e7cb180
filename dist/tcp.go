package dist

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// TCPCarrier carries a connection over one TCP stream, each frame preceded
// by its 4-byte big-endian length (a zero length is a tick).
type TCPCarrier struct {
	conn     net.Conn
	r        *bufio.Reader
	maxFrame int

	mu      sync.Mutex
	w       *bufio.Writer
	waiting atomic.Int32 // writers queued behind mu: the last one flushes
}

// NewTCPCarrier wraps an established TCP (or any stream) connection.
// maxFrame bounds one incoming frame.
func NewTCPCarrier(conn net.Conn, limits Limits) *TCPCarrier {
	return &TCPCarrier{
		conn:     conn,
		r:        bufio.NewReaderSize(conn, 64<<10),
		w:        bufio.NewWriterSize(conn, 64<<10),
		maxFrame: limits.maxMessage() + 64,
	}
}

// ReadFrame reads one frame.
func (t *TCPCarrier) ReadFrame() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(t.r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n == 0 {
		return nil, nil
	}
	if n > t.maxFrame {
		return nil, fmt.Errorf("%w: frame of %d bytes exceeds %d", ErrProtocol, n, t.maxFrame)
	}
	// Large frames grow as their bytes arrive, so a peer cannot make us
	// allocate a big buffer with four bytes.
	if n > 1<<20 {
		buf := make([]byte, 0, 1<<20)
		for len(buf) < n {
			chunk := min(n-len(buf), 1<<20)
			buf = append(buf, make([]byte, chunk)...)
			if _, err := io.ReadFull(t.r, buf[len(buf)-chunk:]); err != nil {
				return nil, err
			}
		}
		return buf, nil
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(t.r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// WriteFrames writes the frames; TCP has one lane.
func (t *TCPCarrier) WriteFrames(_ uint64, frames [][]byte) error {
	t.waiting.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	var hdr [4]byte
	for _, f := range frames {
		binary.BigEndian.PutUint32(hdr[:], uint32(len(f)))
		if _, err := t.w.Write(hdr[:]); err != nil {
			t.waiting.Add(-1)
			return err
		}
		if _, err := t.w.Write(f); err != nil {
			t.waiting.Add(-1)
			return err
		}
	}
	// Writers that queued meanwhile will flush; batching them is what makes
	// many small messages cheap.
	if t.waiting.Add(-1) == 0 {
		return t.w.Flush()
	}
	return nil
}

// WriteTick writes an empty frame.
func (t *TCPCarrier) WriteTick() error {
	return t.WriteFrames(0, [][]byte{{}})
}

// Close closes the TCP connection.
func (t *TCPCarrier) Close() error { return t.conn.Close() }
