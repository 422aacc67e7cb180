package handshake

import (
	"context"
	"errors"
	"fmt"
)

// Accept runs the acceptor's side of the handshake over f, following
// dist_util:handshake_other_started/1. The caller owns the carrier and must
// close it if Accept fails: like OTP, Accept sends nothing more after a bad
// digest, so the close is what the initiator sees.
func Accept(ctx context.Context, f Framer, cfg Config) (*Result, error) {
	peer, res, err := accept(ctx, f, cfg)
	if err != nil {
		if peer == "" {
			return nil, fmt.Errorf("handshake: accept: %w", err)
		}
		return nil, fmt.Errorf("handshake: accept from %s: %w", peer, err)
	}
	return res, nil
}

// accept returns the peer's name as soon as it is known, for error context.
func accept(ctx context.Context, f Framer, cfg Config) (string, *Result, error) {
	s, ctx, cancel, err := newSession(ctx, f, cfg)
	if err != nil {
		return "", nil, err
	}
	defer cancel()

	msg, err := s.recv(ctx, "recv name")
	if err != nil {
		return "", nil, err
	}
	name, err := ParseNameMessage(msg)
	if err != nil {
		return "", nil, fmt.Errorf("recv name: %w", err)
	}
	peer := Peer{Name: name.Name, Flags: name.Flags, Creation: name.Creation}
	log := s.log.With("peer", peer.Name, "role", "acceptor")

	// Checks in dist_util's order: a malformed name is dropped silently,
	// everything else is refused with not_allowed so the initiator knows.
	if name.Flags&FlagNameMe != 0 {
		return peer.Name, nil, s.refuse(ctx, errors.New("peer asks to be named (NAME_ME), which is not supported"))
	}
	if _, _, err := SplitNodeName(peer.Name); err != nil {
		return peer.Name, nil, fmt.Errorf("recv name: %w", err)
	}
	if err := CheckNameModes(cfg.Name, peer.Name); err != nil {
		return peer.Name, nil, s.refuse(ctx, err)
	}
	if m := s.missing(peer.Flags); m != 0 {
		return peer.Name, nil, s.refuse(ctx, &MissingFlagsError{Peer: peer.Name, Missing: m})
	}

	status := StatusOK
	if cfg.Arbiter != nil {
		status = cfg.Arbiter.Arbitrate(ctx, peer)
	}
	log.Debug("handshake status", "status", status)
	switch status {
	case StatusOK, StatusOKSimultaneous, StatusNok, StatusNotAllowed, StatusAlive:
	default:
		return peer.Name, nil, fmt.Errorf("arbiter returned status %v, which cannot be sent", status)
	}
	st, _ := MarshalStatus(status)
	if err := s.send(ctx, "send status", st); err != nil {
		return peer.Name, nil, err
	}
	switch status {
	case StatusNok, StatusNotAllowed:
		return peer.Name, nil, &StatusError{Peer: peer.Name, Status: status, Local: true}
	case StatusAlive:
		msg, err := s.recv(ctx, "recv alive reply")
		if err != nil {
			return peer.Name, nil, err
		}
		alive, err := ParseAliveReply(msg)
		if err != nil {
			return peer.Name, nil, fmt.Errorf("recv alive reply: %w", err)
		}
		if !alive {
			refused := errors.New("recv alive reply: peer answered false: its attempt is no longer wanted")
			return peer.Name, nil, errors.Join(refused, cfg.Arbiter.AliveReply(ctx, peer, false))
		}
	}

	ours := s.challenge()
	chal, err := ChallengeMessage{Flags: s.offered, Challenge: ours, Creation: cfg.Creation, Name: cfg.Name}.Marshal()
	if err != nil {
		return peer.Name, nil, err
	}
	if err := s.send(ctx, "send challenge", chal); err != nil {
		return peer.Name, nil, err
	}

	msg, err = s.recv(ctx, "recv challenge reply")
	if err != nil {
		return peer.Name, nil, err
	}
	reply, err := ParseReplyMessage(msg)
	if err != nil {
		return peer.Name, nil, fmt.Errorf("recv challenge reply: %w", err)
	}
	if !digestMatches(reply.Digest, cfg.Cookie, ours) {
		return peer.Name, nil, fmt.Errorf("recv challenge reply: digest does not match our challenge: %w", ErrCookieMismatch)
	}
	if status == StatusAlive {
		if err := cfg.Arbiter.AliveReply(ctx, peer, true); err != nil {
			return peer.Name, nil, fmt.Errorf("replacing the old connection: %w", err)
		}
	}

	ack := AckMessage{Digest: Digest(cfg.Cookie, reply.Challenge)}
	if err := s.send(ctx, "send challenge ack", ack.Marshal()); err != nil {
		return peer.Name, nil, err
	}
	res := s.result(peer.Name, peer.Flags, peer.Creation, status)
	log.Debug("handshake complete", "flags", res.Flags, "hidden", res.Hidden)
	return peer.Name, res, nil
}

// refuse sends not_allowed before failing with cause, as dist_util does for
// disallowed peers and missing flags.
func (s *session) refuse(ctx context.Context, cause error) error {
	st, _ := MarshalStatus(StatusNotAllowed)
	if err := s.send(ctx, "send status", st); err != nil {
		return fmt.Errorf("%w (and %w)", cause, err)
	}
	return cause
}
