// Package handshake implements the Erlang distribution handshake (protocol
// version 6, the 'N' messages of OTP 23 and later) in both roles, over any
// carrier that can move whole messages (see Framer).
// It negotiates capability flags, settles simultaneous connects the way
// dist_util and net_kernel do, and proves knowledge of the shared cookie.
package handshake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"time"
)

// DefaultSetupTime bounds a handshake whose context has no deadline; it is
// OTP's default net_setuptime.
const DefaultSetupTime = 7 * time.Second

// Config describes the local node for one handshake.
type Config struct {
	// Name is the full local node name, "alive@host".
	Name string
	// Cookie is the shared secret both digests are computed from.
	Cookie string
	// Flags are the capabilities offered; zero means DefaultFlags.
	// DIST_HDR_ATOM_CACHE and NAME_ME are never offered: the node implements
	// neither the atom cache nor dynamic names.
	Flags Flags
	// Hidden makes the local node hidden: PUBLISHED is not offered.
	Hidden bool
	// Require is what a peer must offer; zero means Mandatory.
	Require Flags
	// Creation is the local node's creation; OTP wants it non-zero.
	Creation uint32
	// Arbiter decides the status of incoming attempts (Accept only); nil
	// answers StatusOK to every well-formed peer.
	Arbiter Arbiter
	// StatusTimeout bounds the wait for the acceptor's status after our
	// name went out (Dial only); past it Dial fails with ErrStatusTimeout
	// while the handshake deadline may still have time, so the caller can
	// try again over a new connection. Zero waits until the deadline.
	StatusTimeout time.Duration
	// AliveReply answers an acceptor's StatusAlive (Dial only): true if this
	// attempt is still the one the node wants (OTP's net_kernel is_pending).
	// Nil answers true.
	AliveReply func(ctx context.Context, peer string) bool
	// Logger receives debug records of each step; nil discards them.
	Logger *slog.Logger
	// Challenge, if set, replaces crypto/rand as the source of our challenge.
	// It exists so tests can replay recorded handshakes byte for byte.
	Challenge func() uint32
}

// Peer is what the acceptor knows about the initiator when it must decide.
type Peer struct {
	Name     string
	Flags    Flags // as offered by the peer
	Creation uint32
}

// Arbiter is implemented by the node: it knows which connections exist or are
// being set up, which the handshake alone cannot.
type Arbiter interface {
	// Arbitrate returns the status to send to peer: StatusOK for a new
	// connection, StatusOKSimultaneous or StatusNok when the node is itself
	// dialing peer (see ResolveSimultaneous), StatusAlive when a connection to
	// peer is already up, StatusNotAllowed to refuse.
	Arbitrate(ctx context.Context, peer Peer) Status
	// AliveReply follows StatusAlive. With alive=false the initiator gave up
	// and Accept fails. With alive=true the initiator has also proved the
	// cookie; the node must tear down its old connection to peer before
	// returning (OTP's wait_pending), since the ack that follows lets the
	// peer use the new one. An error aborts the handshake.
	AliveReply(ctx context.Context, peer Peer, alive bool) error
}

// ResolveSimultaneous is the rule net_kernel applies when a node accepting
// from remote is itself dialing remote: the node whose name sorts higher (as
// atoms: by character code) keeps its own attempt and answers StatusNok;
// the other answers StatusOKSimultaneous and abandons its outgoing attempt.
func ResolveSimultaneous(local, remote string) Status {
	if local > remote {
		return StatusNok
	}
	return StatusOKSimultaneous
}

// Result describes an established connection.
type Result struct {
	PeerName     string
	PeerFlags    Flags // as offered by the peer
	Flags        Flags // negotiated: offered by both sides
	PeerCreation uint32
	Hidden       bool // the peer did not offer PUBLISHED
	// OTP26Compatible reports that the peer offers every flag OTP 26 and
	// later require; it can only be false when Config.Require was lowered.
	OTP26Compatible bool
	// Status is the status the acceptor sent.
	Status Status
}

// ErrCookieMismatch is wrapped by the error of a handshake whose digests did
// not match.
var ErrCookieMismatch = errors.New("cookie mismatch")

// ErrDeadlineExceeded is wrapped by the error of a handshake cut off by its
// context's deadline; it also matches context.DeadlineExceeded.
var ErrDeadlineExceeded = fmt.Errorf("handshake deadline exceeded: %w", context.DeadlineExceeded)

// ErrStatusTimeout is wrapped by Dial's error when no status came within
// Config.StatusTimeout.
var ErrStatusTimeout = errors.New("no status within the status timeout")

// StatusError reports a connection refused through a status message.
type StatusError struct {
	Peer   string
	Status Status
	// Local is true when we sent the status, false when the peer did.
	Local bool
}

func (e *StatusError) Error() string {
	if e.Local {
		return fmt.Sprintf("handshake: refused peer %s with status %s", e.Peer, e.Status)
	}
	return fmt.Sprintf("handshake: peer %s refused the connection with status %s", e.Peer, e.Status)
}

// MissingFlagsError reports a peer that lacks flags we require.
type MissingFlagsError struct {
	Peer    string
	Missing Flags
}

func (e *MissingFlagsError) Error() string {
	return fmt.Sprintf("handshake: peer %s lacks mandatory distribution flags %s (OTP 26+ requires them)", e.Peer, e.Missing)
}

// session is the state shared by both roles for one handshake.
type session struct {
	cfg     Config
	f       Framer
	log     *slog.Logger
	offered Flags
	require Flags
}

func newSession(ctx context.Context, f Framer, cfg Config) (*session, context.Context, context.CancelFunc, error) {
	if f == nil {
		return nil, nil, nil, errors.New("handshake: nil Framer")
	}
	if _, _, err := SplitNodeName(cfg.Name); err != nil {
		return nil, nil, nil, fmt.Errorf("handshake: local name: %w", err)
	}
	s := &session{cfg: cfg, f: f, log: cfg.Logger, offered: cfg.Flags, require: cfg.Require}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.offered == 0 {
		s.offered = DefaultFlags
	}
	s.offered &^= FlagDistHdrAtomCache | FlagNameMe
	if cfg.Hidden {
		s.offered &^= FlagPublished
	}
	if s.require == 0 {
		s.require = Mandatory
	}
	cancel := context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancel = context.WithTimeout(ctx, DefaultSetupTime)
	}
	return s, ctx, cancel, nil
}

func (s *session) challenge() uint32 {
	if s.cfg.Challenge != nil {
		return s.cfg.Challenge()
	}
	return newChallenge()
}

func (s *session) send(ctx context.Context, step string, msg []byte) error {
	if err := s.f.WriteMessage(ctx, msg); err != nil {
		return stepError(ctx, step, err)
	}
	return nil
}

func (s *session) recv(ctx context.Context, step string) ([]byte, error) {
	msg, err := s.f.ReadMessage(ctx)
	if err != nil {
		return nil, stepError(ctx, step, err)
	}
	return msg, nil
}

// result fills in what both roles report once the digests check out.
func (s *session) result(peer string, peerFlags Flags, creation uint32, status Status) *Result {
	expanded := peerFlags.expand()
	return &Result{
		PeerName:        peer,
		PeerFlags:       peerFlags,
		Flags:           s.offered & expanded,
		PeerCreation:    creation,
		Hidden:          peerFlags&FlagPublished == 0,
		OTP26Compatible: expanded.Has(Mandatory),
		Status:          status,
	}
}

// missing returns the required flags peerFlags lacks (dist_util:check_dflags).
func (s *session) missing(peerFlags Flags) Flags {
	return s.require &^ peerFlags.expand()
}

// stepError names the step that failed and turns a deadline into
// ErrDeadlineExceeded.
func stepError(ctx context.Context, step string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", step, ErrDeadlineExceeded)
	}
	return fmt.Errorf("%s: %w", step, err)
}

// isClosed reports whether err means the peer closed the connection.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET)
}
