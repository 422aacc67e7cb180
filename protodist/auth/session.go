package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// session is one run of the exchange on one connection.
type session struct {
	a    *Ed25519
	role Role
	ctx  context.Context
	s    *Streams
	fr   *FrameReader
	w    io.WriteCloser // our stream, nil until opened
	mode TrustMode
	peer string // claimed name once a HELLO was read

	stops []func()
}

type readDeadliner interface{ SetReadDeadline(time.Time) error }
type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// watch makes the session deadline and cancellation reach a blocking call
// on a stream: through set (a native deadline) when the stream has one,
// else through fallback (closing it). The stop function undoes it.
func (ss *session) watch(set func(time.Time) error, fallback func()) {
	var interrupt func()
	switch {
	case set != nil:
		if d, ok := ss.ctx.Deadline(); ok {
			_ = set(d)
		}
		interrupt = func() { _ = set(time.Unix(1, 0)) }
	case fallback != nil:
		interrupt = fallback
	default:
		return // cannot interrupt: the carrier must close the stream
	}
	done := make(chan struct{})
	stop := context.AfterFunc(ss.ctx, func() { interrupt(); close(done) })
	ss.stops = append(ss.stops, func() {
		if !stop() {
			<-done
		}
		if set != nil {
			_ = set(time.Time{})
		}
	})
}

func (ss *session) watchRecv() {
	switch r := ss.s.Recv.(type) {
	case readDeadliner:
		ss.watch(r.SetReadDeadline, nil)
	case io.Closer:
		ss.watch(nil, func() { _ = r.Close() })
	}
}

// open opens our uni stream once.
func (ss *session) open() *Error {
	if ss.w != nil {
		return nil
	}
	w, err := ss.s.Open()
	if err != nil {
		return ss.fail("{open_auth_stream_failed,"+errTerm(err)+"}", ErrOpenAuthStream, err)
	}
	if w == nil {
		return ss.fail("{open_auth_stream_failed,undefined}", ErrOpenAuthStream, errors.New("open returned a nil stream"))
	}
	ss.w = w
	if d, ok := w.(writeDeadliner); ok {
		ss.watch(d.SetWriteDeadline, nil)
	}
	return nil
}

// close stops the watchers and sends FIN on our stream (best effort, as in
// barrel_p2p: errors are ignored).
func (ss *session) close() {
	for i := len(ss.stops) - 1; i >= 0; i-- {
		ss.stops[i]()
	}
	if ss.w != nil {
		_ = ss.w.Close()
	}
}

// send writes one frame; step names barrel_p2p's send_<step>_failed term.
func (ss *session) send(step string, m Message) *Error {
	if err := ss.ctx.Err(); err != nil {
		return ss.ioFail("{send_"+step+"_failed,", err)
	}
	if err := WriteFrame(ss.w, m); err != nil {
		return ss.ioFail("{send_"+step+"_failed,", err)
	}
	return nil
}

// recv reads and decodes the next frame; step names recv_<step>_failed.
// A message that does not decode comes back as an undecodable, for the
// caller to report as {unexpected_message,X}.
func (ss *session) recv(step string) (Message, *Error) {
	first := ss.fr.Received() == 0
	b, err := ss.fr.ReadFrame()
	if err != nil {
		e := ss.ioFail("{recv_"+step+"_failed,", err)
		// Nothing at all from the peer is barrel_p2p's wait-for-stream
		// failure, reported bare (e.g. auth_stream_timeout).
		if first && ss.fr.Received() == 0 {
			e.Term = e.Term[len("{recv_"+step+"_failed,") : len(e.Term)-1]
		}
		return nil, e
	}
	m, err := Decode(b)
	if err != nil {
		return undecodable{err.(*DecodeError)}, nil
	}
	return m, nil
}

// undecodable stands for a frame that failed to decode.
type undecodable struct{ err *DecodeError }

func (undecodable) Type() MsgType              { return 0 }
func (undecodable) AppendTo(dst []byte) []byte { return dst }
func (u undecodable) Term() string             { return u.err.Term() }

// ioFail classifies a stream error under prefix ("{recv_hello_failed," ...).
func (ss *session) ioFail(prefix string, err error) *Error {
	var ne net.Error
	switch {
	case ss.ctx.Err() != nil && !errors.Is(ss.ctx.Err(), context.DeadlineExceeded):
		return ss.fail(prefix+"cancelled}", ErrCanceled, fmt.Errorf("%w: %w", ss.ctx.Err(), err))
	case ss.ctx.Err() != nil, errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ss.fail(prefix+"auth_stream_timeout}", ErrAuthStreamTimeout, fmt.Errorf("%w: %w", context.DeadlineExceeded, err))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.ErrClosedPipe):
		return ss.fail(prefix+"{connection_closed,eof}}", ErrConnectionClosed, err)
	}
	if prefix[:6] == "{send_" {
		return ss.fail(prefix+errTerm(err)+"}", ErrSendFailed, err)
	}
	return ss.fail(prefix+"{connection_closed,"+errTerm(err)+"}}", ErrConnectionClosed, err)
}

func errTerm(err error) string { return erlBinary([]byte(err.Error())) }

func (ss *session) fail(term string, kind, cause error) *Error {
	return &Error{Role: ss.role, Peer: ss.peer, Term: term, kind: kind, Err: cause}
}

// unexpected is {unexpected_message,X} for a decode result X.
func (ss *session) unexpected(m Message) *Error {
	var cause error
	if u, ok := m.(undecodable); ok {
		cause = u.err
	}
	return ss.fail("{unexpected_message,"+m.Term()+"}", ErrUnexpectedMessage, cause)
}

// rejected is {auth_rejected,<<Reason>>} for the peer's FAIL.
func (ss *session) rejected(f Fail) *Error {
	e := ss.fail("{auth_rejected,"+erlBinary([]byte(f.Reason))+"}", ErrAuthRejected, nil)
	e.FailReason = f.Reason
	return e
}

// identity loads our keypair for this exchange.
func (ss *session) identity() (KeyPair, *Error) {
	k, err := ss.a.cfg.Identity.Identity()
	if err == nil {
		err = k.Check()
	}
	if err != nil {
		term := posixName(err)
		kind := ErrIdentity
		switch {
		case errors.Is(err, ErrKeypairMismatch):
			term, kind = "keypair_mismatch", ErrKeypairMismatch
		case errors.Is(err, ErrInvalidKeySize):
			term, kind = "invalid_key_size", ErrInvalidKeySize
		}
		return KeyPair{}, ss.fail(term, kind, err)
	}
	return k, nil
}

// trust is the pin decision of auth.md §8.2 for a peer HELLO.
func (ss *session) trust(h Hello) *Error {
	pinned, ok := ss.a.cfg.Pins.Lookup(h.Name)
	switch {
	case ok && !bytes.Equal(pinned, h.PublicKey[:]):
		e := ss.fail("key_mismatch", ErrKeyMismatch, nil)
		ss.a.log.Warn("auth "+ss.role.String()+" "+h.Name+": key mismatch",
			"peer", h.Name, "pinned_fingerprint", FingerprintHex(pinned),
			"presented_fingerprint", FingerprintHex(h.PublicKey[:]))
		return e
	case !ok && ss.mode == TrustStrict:
		return ss.fail("untrusted_key", ErrUntrustedKey, nil)
	}
	return nil
}

// record pins the peer after success in TOFU mode.
func (ss *session) record(h Hello) *Error {
	if ss.mode != TrustTOFU {
		return nil
	}
	if err := ss.a.cfg.Pins.StoreIfNew(h.Name, h.PublicKey[:]); err != nil {
		return ss.fail("key_mismatch", ErrKeyMismatch, err)
	}
	return nil
}

// ownChallenge is a challenge we sent and when we created it.
type ownChallenge struct {
	Challenge
	created time.Time
}

func (ss *session) newChallenge() (ownChallenge, *Error) {
	var c ownChallenge
	r := ss.a.cfg.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, c.Nonce[:]); err != nil {
		return c, ss.fail("{nonce_failed,"+errTerm(err)+"}", ErrNonce, err)
	}
	c.created = ss.a.cfg.Now()
	c.Timestamp = uint64(c.created.UnixMilli())
	return c, nil
}

// checkPeerTS is validate_peer_ts/1: |now - peer_ts| <= 2 × window.
func (ss *session) checkPeerTS(c Challenge) *Error {
	now := ss.a.cfg.Now().UnixMilli()
	limit := 2 * ss.a.cfg.TimestampWindow.Milliseconds()
	var diff uint64
	if n := uint64(max(now, 0)); n >= c.Timestamp {
		diff = n - c.Timestamp
	} else {
		diff = c.Timestamp - n
	}
	if diff > uint64(limit) {
		return ss.fail("peer_ts_skew", ErrPeerTSSkew, nil)
	}
	return nil
}

// verify checks the peer's RESPONSE to our challenge: signature, and
// freshness (elapsed since we made the challenge <= window).
func (ss *session) verify(h Hello, own ownChallenge, r Response) *Error {
	if ss.a.cfg.Now().Sub(own.created) > ss.a.cfg.TimestampWindow ||
		!Verify(h.PublicKey[:], own.Challenge, ss.s.Binding, r) {
		return ss.fail("signature_verification_failed", ErrSignatureVerificationFailed, nil)
	}
	return nil
}

// exchangeChallenges is the middle of both roles: send our CHALLENGE, take
// the peer's, check its timestamp and answer it with our signed RESPONSE.
// The caller then verifies the peer's RESPONSE against own.
func (ss *session) exchangeChallenges(id KeyPair) (ownChallenge, *Error) {
	own, e := ss.newChallenge()
	if e != nil {
		return own, e
	}
	if e := ss.send("challenge", own.Challenge); e != nil {
		return own, e
	}
	ch, e := ss.expectChallenge()
	if e != nil {
		return own, e
	}
	if e := ss.checkPeerTS(ch); e != nil {
		return own, e
	}
	if e := ss.send("response", Sign(id, ch, ss.s.Binding)); e != nil {
		return own, e
	}
	return own, nil
}
