package protodist

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/quic-go/quic-go"
)

// ctlFramer carries the distribution handshake on stream 0: no length
// prefix, each message its own STREAM frame (transport.md §3.3).
type ctlFramer struct {
	conn     *quic.Conn
	stream   *quic.Stream
	r        *bufio.Reader
	acceptor bool
	// wrote is set by a write and cleared by a read; sentBefore is the
	// packet count before that write.
	wrote      bool
	sentBefore uint64
}

func newCtlFramer(conn *quic.Conn, s *quic.Stream, acceptor bool) *ctlFramer {
	return &ctlFramer{conn: conn, stream: s, r: bufio.NewReaderSize(s, 2048), acceptor: acceptor}
}

// WriteMessage writes one handshake message so that it leaves in a packet
// of its own: quic-go merges back-to-back writes into one STREAM frame,
// and Erlang's dist_util matches messages by chunk (the acceptor's status
// and challenge would arrive as one chunk and fail the handshake). Only a
// write that follows a write can merge, so only then does it wait for the
// previous message to have left; a write after a read (the peer answered
// us) goes at once.
func (f *ctlFramer) WriteMessage(ctx context.Context, msg []byte) error {
	if f.wrote {
		if err := f.waitSent(ctx); err != nil {
			return err
		}
	}
	f.sentBefore = f.conn.ConnectionStats().PacketsSent
	f.wrote = true
	if d, ok := ctx.Deadline(); ok {
		_ = f.stream.SetWriteDeadline(d)
		defer f.stream.SetWriteDeadline(time.Time{})
	}
	if _, err := f.stream.Write(msg); err != nil {
		return fmt.Errorf("protodist: write handshake message: %w", err)
	}
	return nil
}

// waitSent waits until a packet has left since the last write (usually a
// few scheduler turns), at most 250 ms: past that the send loop is stuck
// on something a merged message would not make worse.
func (f *ctlFramer) waitSent(ctx context.Context) error {
	deadline := time.Now().Add(250 * time.Millisecond)
	for i := 0; f.conn.ConnectionStats().PacketsSent == f.sentBefore && time.Now().Before(deadline); i++ {
		if i < 64 {
			runtime.Gosched()
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Microsecond):
		}
	}
	return nil
}

// ReadMessage reads one handshake message, delimiting it by its structure
// since the stream carries no length prefixes.
func (f *ctlFramer) ReadMessage(ctx context.Context) ([]byte, error) {
	if d, ok := ctx.Deadline(); ok {
		_ = f.stream.SetReadDeadline(d)
		defer f.stream.SetReadDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { _ = f.stream.SetReadDeadline(time.Now()) })
	defer stop()
	f.wrote = false
	for {
		tag, err := f.r.ReadByte()
		if err != nil {
			return nil, f.readErr(ctx, err)
		}
		switch tag {
		case 0:
			// A tick between messages: four zero bytes.
			if _, err := f.r.Discard(3); err != nil {
				return nil, f.readErr(ctx, err)
			}
			continue
		case 'N':
			// acceptor reads send_name: flags 8, creation 4, len 2, name.
			// initiator reads the challenge: flags 8, challenge 4, creation 4, len 2, name.
			fixed := 14
			if !f.acceptor {
				fixed = 18
			}
			return f.readNamed(ctx, tag, fixed)
		case 's':
			return f.readStatus(ctx)
		case 'r':
			return f.readFixed(ctx, tag, 20)
		case 'a':
			return f.readFixed(ctx, tag, 16)
		case 'c':
			return f.readFixed(ctx, tag, 8)
		}
		return nil, fmt.Errorf("protodist: unexpected handshake byte %#x on stream 0", tag)
	}
}

func (f *ctlFramer) readErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// The stream deadline is ctx's deadline and can fire a moment before
	// ctx notices: it is the same timeout, so the handshake must see it as
	// one (doctor tells a silent peer from a refused cookie by it).
	if _, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) {
		return context.DeadlineExceeded
	}
	var appErr *quic.ApplicationError
	if errors.Is(err, io.EOF) || errors.As(err, &appErr) {
		// The peer closed the stream or the connection: to the handshake
		// this is a closed connection (after our reply: a cookie mismatch).
		return fmt.Errorf("protodist: connection closed during handshake (%v): %w", err, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("protodist: read handshake: %w", err)
}

func (f *ctlFramer) readFixed(ctx context.Context, tag byte, n int) ([]byte, error) {
	b := make([]byte, 1+n)
	b[0] = tag
	if _, err := io.ReadFull(f.r, b[1:]); err != nil {
		return nil, f.readErr(ctx, err)
	}
	return b, nil
}

func (f *ctlFramer) readNamed(ctx context.Context, tag byte, fixed int) ([]byte, error) {
	b, err := f.readFixed(ctx, tag, fixed)
	if err != nil {
		return nil, err
	}
	n := int(b[len(b)-2])<<8 | int(b[len(b)-1])
	if n > 1020 {
		return nil, fmt.Errorf("protodist: handshake name of %d bytes", n)
	}
	name := make([]byte, n)
	if _, err := io.ReadFull(f.r, name); err != nil {
		return nil, f.readErr(ctx, err)
	}
	return append(b, name...), nil
}

// statusWords are the texts after 's', longest first where one is a
// prefix of another.
var statusWords = []string{"ok_simultaneous", "ok", "nok", "not_allowed", "alive", "true", "false"}

func (f *ctlFramer) readStatus(ctx context.Context) ([]byte, error) {
	// Read two bytes, then as many as the only candidate needs; "ok" and
	// "ok_simultaneous" are told apart by the byte after "ok", which
	// always exists because the acceptor's challenge follows its status.
	head := make([]byte, 2)
	if _, err := io.ReadFull(f.r, head); err != nil {
		return nil, f.readErr(ctx, err)
	}
	if string(head) == "ok" {
		next, err := f.r.Peek(1)
		if err != nil {
			return nil, f.readErr(ctx, err)
		}
		if next[0] != '_' {
			return []byte("sok"), nil
		}
	}
	for _, w := range statusWords {
		if w[:2] != string(head) || w == "ok" {
			continue
		}
		rest := make([]byte, len(w)-2)
		if _, err := io.ReadFull(f.r, rest); err != nil {
			return nil, f.readErr(ctx, err)
		}
		got := string(head) + string(rest)
		if got != w {
			// "no" starts both nok and not_allowed.
			if w == "nok" && got == "not" {
				more := make([]byte, len("not_allowed")-3)
				if _, err := io.ReadFull(f.r, more); err != nil {
					return nil, f.readErr(ctx, err)
				}
				got += string(more)
				if got == "not_allowed" {
					return append([]byte{'s'}, got...), nil
				}
			}
			return nil, fmt.Errorf("protodist: unknown handshake status %q", got)
		}
		return append([]byte{'s'}, got...), nil
	}
	return nil, fmt.Errorf("protodist: unknown handshake status starting %q", head)
}
