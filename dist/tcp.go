package dist

import (
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
	r        frameReader
	head     [ContinuationHead]byte
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

// TCPOptions tune a TCPCarrier; the zero value is the default.
type TCPOptions struct {
	// BusyPoll is how long the reader keeps polling a socket that ran dry
	// before it sleeps until data arrives (ERTS schedulers do the same,
	// +sbwt). A reply that comes back within it is read without waking a
	// sleeping thread: round trips get shorter and steadier, at the price
	// of up to BusyPoll of CPU after each burst of incoming frames. 0
	// sleeps at once. A read deadline, or Close, takes effect once the
	// poll under way has spent its budget. It applies on Unix systems, to
	// connections that expose their descriptor (syscall.Conn, as
	// *net.TCPConn does).
	BusyPoll time.Duration
}

// NewTCPCarrier wraps an established TCP (or any stream) connection.
// limits bounds one incoming frame.
func NewTCPCarrier(conn net.Conn, limits Limits) *TCPCarrier {
	return NewTCPCarrierOptions(conn, limits, TCPOptions{})
}

// NewTCPCarrierOptions is NewTCPCarrier with options.
func NewTCPCarrierOptions(conn net.Conn, limits Limits, opts TCPOptions) *TCPCarrier {
	t := &TCPCarrier{
		conn:     conn,
		r:        frameReader{rd: newPollReader(conn, opts.BusyPoll), buf: make([]byte, 64<<10), direct: directFrame},
		maxFrame: limits.maxMessage() + 64,
	}
	// A failed write closes the socket so that ReadFrame fails too and the
	// connection ends at once, as a synchronous write error did.
	t.w = NewFrameWriter(conn, FrameWriterOptions{OnError: func(error) { conn.Close() }})
	return t
}

// ReadFrame reads one frame. The frame is valid until the next call.
func (t *TCPCarrier) ReadFrame() ([]byte, error) {
	return t.ReadFramePlaced(nil)
}

// ReadFramePlaced implements PlacingCarrier: a frame of directFrame bytes
// or more is offered to place once its first ContinuationHead bytes
// are in, and when place gives a destination the rest goes there and the
// head alone is returned.
func (t *TCPCarrier) ReadFramePlaced(place func(head []byte, size int) []byte) ([]byte, error) {
	var hdr [4]byte
	want := len(t.r.buf)
	if t.r.sparing {
		want = len(hdr) + ContinuationHead
	}
	if err := t.r.readFull(hdr[:], want); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n == 0 {
		t.r.sparing = false
		return nil, nil
	}
	if n > t.maxFrame {
		return nil, fmt.Errorf("%w: frame of %d bytes exceeds %d", ErrProtocol, n, t.maxFrame)
	}
	// After a large frame the next one is likely large too (the fragments
	// of one message): its header is read alone, so that its body does
	// not pass through the read buffer.
	t.r.sparing = n >= t.r.direct
	head := 0
	var buf []byte
	if place != nil && n >= t.r.direct && n > ContinuationHead {
		if err := t.r.readFull(t.head[:], ContinuationHead); err != nil {
			return nil, midFrame(err)
		}
		if dst := place(t.head[:], n); dst != nil {
			if len(dst) != n-ContinuationHead {
				return nil, fmt.Errorf("dist: place returned %d bytes for a %d-byte frame", len(dst), n)
			}
			if err := t.r.readFull(dst, 0); err != nil {
				return nil, midFrame(err)
			}
			return t.head[:], nil
		}
		head = ContinuationHead
	}
	// Large frames grow as their bytes arrive, so a peer cannot make us
	// allocate a big buffer with four bytes.
	if n > 1<<20 {
		buf = make([]byte, head, 1<<20)
		copy(buf, t.head[:head])
		for len(buf) < n {
			chunk := min(n-len(buf), 1<<20)
			buf = append(buf, make([]byte, chunk)...)
			if err := t.r.readFull(buf[len(buf)-chunk:], len(t.r.buf)); err != nil {
				return nil, midFrame(err)
			}
		}
		return buf, nil
	}
	if n <= reuseFrame {
		if t.rbuf == nil {
			t.rbuf = make([]byte, reuseFrame)
		}
		buf = t.rbuf[:n]
	} else {
		buf = make([]byte, n)
	}
	copy(buf, t.head[:head])
	if err := t.r.readFull(buf[head:], len(t.r.buf)); err != nil {
		return nil, midFrame(err)
	}
	return buf, nil
}

// midFrame reports the end of the stream inside a frame as truncation.
func midFrame(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// directFrame is the smallest frame whose body is read straight from the
// socket into its destination rather than through the read buffer.
const directFrame = 16 << 10

// frameReader is a read buffer that lets large reads bypass it: a bulk
// transfer then crosses memory once (kernel to destination) instead of
// twice, which bufio only does when the buffer happens to be empty and the
// read is at least the buffer's size.
type frameReader struct {
	rd   io.Reader
	buf  []byte
	r, w int
	// direct is the directFrame in force (tests lower it).
	direct int
	// sparing makes the next fill of an empty buffer read only the next
	// frame's header (see ReadFramePlaced).
	sparing bool
}

// readFull fills p from the buffer, then from the reader: straight into p
// when at least direct bytes remain, otherwise through the buffer,
// filling it with up to want bytes (at least what p still needs).
func (f *frameReader) readFull(p []byte, want int) error {
	n := copy(p, f.buf[f.r:f.w])
	f.r += n
	rest := p[n:]
	if len(rest) == 0 {
		return nil
	}
	var err error
	if len(rest) >= f.direct {
		_, err = io.ReadFull(f.rd, rest)
	} else {
		// The buffer is empty here: p took all of it.
		f.r, f.w = 0, 0
		want = min(max(want, len(rest)), len(f.buf))
		for f.w < len(rest) && err == nil {
			var m int
			m, err = f.rd.Read(f.buf[f.w:want])
			f.w += m
		}
		f.r = copy(rest, f.buf[:f.w])
		if f.w >= len(rest) {
			err = nil
		}
		n += f.r
	}
	// As io.ReadFull: EOF only when nothing at all was read.
	if err == io.EOF && n > 0 {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// FragmentSize is the payload of one fragment on TCP: messages up to
// 8 MiB go in one frame. OTP cuts at 64 KiB so that other processes'
// signals can pass a big message on the link; the FrameWriter writes a
// message's frames back to back, so fragments bought no such thing here
// and cost a pass over the message to interleave their headers plus the
// peer's reassembly (1 MiB to Erlang: 1,900 MB/s in 64 KiB fragments,
// 3,100 MB/s whole, same run). The bound keeps what one frame makes a
// receiver allocate at once where barrelgo allocates it whole
// (Decoder.Place).
func (t *TCPCarrier) FragmentSize() int { return tcpFragmentSize }

const tcpFragmentSize = maxWhole - 64

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
