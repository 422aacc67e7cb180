package handshake

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// Framer carries whole handshake messages, one per call, so the handshake
// code does not depend on the carrier: TCP prefixes a 2-byte length, QUIC
// sends each message unframed in its own STREAM frame.
type Framer interface {
	// ReadMessage returns the next complete message. It must not read past
	// it: the peer may start the distribution stream right after its last
	// handshake message.
	ReadMessage(ctx context.Context) ([]byte, error)
	// WriteMessage sends msg as one message.
	WriteMessage(ctx context.Context, msg []byte) error
}

// MaxMessageSize bounds a handshake message. The largest legitimate one is a
// challenge carrying a 255-byte name (274 bytes).
const MaxMessageSize = 1024

// TCPFramer frames handshake messages the way OTP's inet_tcp_dist does during
// setup ({packet, 2}).
type TCPFramer struct {
	conn net.Conn
}

// NewTCPFramer wraps conn. It keeps no buffer, so conn can be handed to the
// distribution layer as soon as the handshake is over.
func NewTCPFramer(conn net.Conn) *TCPFramer { return &TCPFramer{conn: conn} }

// ReadMessage reads one length-prefixed message.
func (t *TCPFramer) ReadMessage(ctx context.Context) ([]byte, error) {
	var msg []byte
	err := t.withDeadline(ctx, t.conn.SetReadDeadline, func() error {
		var hdr [2]byte
		if _, err := io.ReadFull(t.conn, hdr[:]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint16(hdr[:]))
		if n > MaxMessageSize {
			return fmt.Errorf("message of %d bytes exceeds the %d-byte handshake limit", n, MaxMessageSize)
		}
		msg = make([]byte, n)
		if _, err := io.ReadFull(t.conn, msg); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tcp framer: read: %w", err)
	}
	return msg, nil
}

// WriteMessage writes msg behind its 2-byte length in a single Write, so the
// peer never sees a partial message followed by a pause.
func (t *TCPFramer) WriteMessage(ctx context.Context, msg []byte) error {
	if len(msg) > MaxMessageSize {
		return fmt.Errorf("tcp framer: write: message of %d bytes exceeds the %d-byte handshake limit", len(msg), MaxMessageSize)
	}
	buf := make([]byte, 2, 2+len(msg))
	binary.BigEndian.PutUint16(buf, uint16(len(msg)))
	buf = append(buf, msg...)
	err := t.withDeadline(ctx, t.conn.SetWriteDeadline, func() error {
		_, err := t.conn.Write(buf)
		return err
	})
	if err != nil {
		return fmt.Errorf("tcp framer: write: %w", err)
	}
	return nil
}

// withDeadline runs op with the connection deadline taken from ctx, also
// interrupting it when ctx is cancelled without a deadline, and clears the
// deadline afterwards so the connection is left as it was found.
func (t *TCPFramer) withDeadline(ctx context.Context, set func(time.Time) error, op func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dl, hasDL := ctx.Deadline()
	if err := set(dl); err != nil {
		return err
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		_ = set(time.Unix(1, 0))
	})
	err := op()
	if !stop() {
		// The interrupt ran (or is running); wait so our reset wins.
		<-fired
	}
	_ = set(time.Time{})
	if err != nil {
		// The I/O error is only the symptom of the deadline or cancellation;
		// the connection deadline can fire a moment before ctx notices.
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if hasDL && errors.Is(err, os.ErrDeadlineExceeded) {
			return context.DeadlineExceeded
		}
	}
	return err
}
