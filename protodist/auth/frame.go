package auth

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// FrameHeaderSize is the u16be length prefix of every auth message on the
// uni streams (auth.md §2.2); the length counts the type byte.
const FrameHeaderSize = 2

// AppendFrame appends m with its u16be length prefix.
func AppendFrame(dst []byte, m Message) ([]byte, error) {
	b, err := Encode(m)
	if err != nil {
		return dst, err
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(b)))
	return append(dst, b...), nil
}

// WriteFrame writes m as one frame in a single Write call, as barrel_p2p
// sends each message with its own send_data.
func WriteFrame(w io.Writer, m Message) error {
	b, err := AppendFrame(nil, m)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// FrameReader splits the peer's auth stream into messages, reassembling
// across arbitrary chunk boundaries and keeping surplus bytes for the next
// frame. Memory is bounded by the u16 length: at most 65535 bytes per frame.
type FrameReader struct {
	r     io.Reader
	buf   []byte // unread bytes, buf[off:]
	off   int
	total int64 // bytes ever received
}

// NewFrameReader reads frames from r.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: r}
}

// Received is the number of bytes read from the stream so far; the
// authenticator uses it to tell "no peer stream at all" from "stalled in a
// frame", as barrel_p2p reports them differently.
func (f *FrameReader) Received() int64 { return f.total }

// ErrTruncatedFrame reports a stream that ended inside a frame.
var ErrTruncatedFrame = errors.New("auth: stream ended inside a frame")

// ReadFrame returns the next message (without prefix). A clean end of
// stream before any byte of a frame is io.EOF; an end inside a frame is
// ErrTruncatedFrame wrapping io.ErrUnexpectedEOF. The returned slice is
// valid until the next call.
func (f *FrameReader) ReadFrame() ([]byte, error) {
	if err := f.fill(FrameHeaderSize); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(f.buf[f.off:]))
	if err := f.fill(FrameHeaderSize + n); err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: %w", ErrTruncatedFrame, io.ErrUnexpectedEOF)
		}
		return nil, err
	}
	msg := f.buf[f.off+FrameHeaderSize : f.off+FrameHeaderSize+n]
	f.off += FrameHeaderSize + n
	return msg, nil
}

// fill makes at least n unread bytes available.
func (f *FrameReader) fill(n int) error {
	if len(f.buf)-f.off >= n {
		return nil
	}
	if f.off > 0 {
		rest := copy(f.buf, f.buf[f.off:])
		f.buf = f.buf[:rest]
		f.off = 0
	}
	if cap(f.buf) < n {
		nb := make([]byte, len(f.buf), max(n, 512))
		copy(nb, f.buf)
		f.buf = nb
	}
	for len(f.buf) < n {
		k, err := f.r.Read(f.buf[len(f.buf):cap(f.buf)])
		f.buf = f.buf[:len(f.buf)+k]
		f.total += int64(k)
		if len(f.buf) >= n {
			return nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(f.buf) > 0 {
				return fmt.Errorf("%w: %w", ErrTruncatedFrame, io.ErrUnexpectedEOF)
			}
			return err
		}
	}
	return nil
}
