package dist

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// TCPCarrier carries a connection over one TCP stream, each frame preceded
// by its 4-byte big-endian length (a zero length is a tick).
type TCPCarrier struct {
	conn     net.Conn
	r        *bufio.Reader
	maxFrame int
	// rbuf is reused for frames up to reuseFrame bytes: the decoder copies
	// what it keeps, and a default 64 KiB fragment would otherwise cost an
	// allocation and its clearing per frame.
	rbuf []byte
	w    *FrameWriter
}

// reuseFrame is the largest frame read into the reused buffer: a default
// fragment and its header.
const reuseFrame = 64<<10 + 64

// closeGrace is how long Close lets queued frames go out before closing
// the socket, so that signals sent just before a close (exits on node
// stop) still leave.
const closeGrace = 100 * time.Millisecond

// NewTCPCarrier wraps an established TCP (or any stream) connection.
// maxFrame bounds one incoming frame.
func NewTCPCarrier(conn net.Conn, limits Limits) *TCPCarrier {
	t := &TCPCarrier{
		conn:     conn,
		r:        bufio.NewReaderSize(conn, 64<<10),
		maxFrame: limits.maxMessage() + 64,
	}
	// A failed write closes the socket so that ReadFrame fails too and the
	// connection ends at once, as a synchronous write error did.
	t.w = NewFrameWriter(conn, FrameWriterOptions{OnError: func(error) { conn.Close() }})
	return t
}

// ReadFrame reads one frame. The frame is valid until the next call.
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
	var buf []byte
	if n <= reuseFrame {
		if t.rbuf == nil {
			t.rbuf = make([]byte, reuseFrame)
		}
		buf = t.rbuf[:n]
	} else {
		buf = make([]byte, n)
	}
	if _, err := io.ReadFull(t.r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// WriteFrames queues the frames for the writer goroutine; TCP has one
// lane. Frames larger than 4 KiB are written from the caller's slices.
func (t *TCPCarrier) WriteFrames(_ uint64, frames [][]byte) error {
	return t.w.WriteFrames(frames)
}

// WriteFramesRecycle implements RecyclingCarrier.
func (t *TCPCarrier) WriteFramesRecycle(_ uint64, frames [][]byte, backing []byte) error {
	return t.w.WriteFramesRecycle(frames, backing)
}

// WriteTick writes an empty frame.
func (t *TCPCarrier) WriteTick() error {
	return t.w.WriteFrames([][]byte{{}})
}

// Close lets queued frames leave for a moment, then closes the TCP
// connection.
func (t *TCPCarrier) Close() error {
	t.w.Close(closeGrace)
	err := t.conn.Close()
	t.w.Wait()
	return err
}
