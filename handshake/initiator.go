package handshake

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Dial runs the initiator's side of the handshake with peer (the node name we
// meant to reach) over f, following dist_util:handshake_we_started/1. The
// caller owns the carrier and must close it if Dial fails.
func Dial(ctx context.Context, f Framer, cfg Config, peer string) (*Result, error) {
	res, err := dial(ctx, f, cfg, peer)
	if err != nil {
		return nil, fmt.Errorf("handshake: dial %s: %w", peer, err)
	}
	return res, nil
}

func dial(ctx context.Context, f Framer, cfg Config, peer string) (*Result, error) {
	s, ctx, cancel, err := newSession(ctx, f, cfg)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if err := CheckNameModes(cfg.Name, peer); err != nil {
		return nil, err
	}
	log := s.log.With("peer", peer, "role", "initiator")

	name, err := NameMessage{Flags: s.offered, Creation: cfg.Creation, Name: cfg.Name}.Marshal()
	if err != nil {
		return nil, err
	}
	if err := s.send(ctx, "send name", name); err != nil {
		return nil, err
	}

	rctx := ctx
	if cfg.StatusTimeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, cfg.StatusTimeout)
		defer cancel()
	}
	msg, err := s.recv(rctx, "recv status")
	if err != nil {
		// The read may end on its socket deadline a moment before the
		// context notices: the clock tells whose deadline it was.
		if dl, ok := ctx.Deadline(); cfg.StatusTimeout > 0 && errors.Is(err, context.DeadlineExceeded) && (!ok || time.Now().Before(dl)) {
			return nil, fmt.Errorf("recv status: %w (%s)", ErrStatusTimeout, cfg.StatusTimeout)
		}
		return nil, err
	}
	status, err := ParseStatus(msg)
	if err != nil {
		return nil, fmt.Errorf("recv status: %w", err)
	}
	log.Debug("handshake status", "status", status)
	switch status {
	case StatusOK, StatusOKSimultaneous:
	case StatusAlive:
		// The peer already has a connection up with our name; only we know
		// whether this attempt replaces it.
		alive := cfg.AliveReply == nil || cfg.AliveReply(ctx, peer)
		if err := s.send(ctx, "send alive reply", marshalAliveReply(alive)); err != nil {
			return nil, err
		}
		if !alive {
			return nil, errors.New("recv status: peer has a connection with us up and we answered false to status alive")
		}
	case StatusNamed:
		return nil, fmt.Errorf("recv status: peer assigned us a dynamic name, which we never ask for (NAME_ME): %w", ErrMalformed)
	default:
		// nok: the peer's own attempt won a simultaneous connect; OTP's
		// initiator waits to be killed, we give the connection up.
		return nil, &StatusError{Peer: peer, Status: status}
	}

	msg, err = s.recv(ctx, "recv challenge")
	if err != nil {
		return nil, err
	}
	chal, err := ParseChallengeMessage(msg)
	if err != nil {
		return nil, fmt.Errorf("recv challenge: %w", err)
	}
	if chal.Name != peer {
		return nil, fmt.Errorf("recv challenge: node answered as %q, not the %q we dialed", chal.Name, peer)
	}
	if m := s.missing(chal.Flags); m != 0 {
		return nil, &MissingFlagsError{Peer: peer, Missing: m}
	}

	ours := s.challenge()
	reply := ReplyMessage{Challenge: ours, Digest: Digest(cfg.Cookie, chal.Challenge)}
	if err := s.send(ctx, "send challenge reply", reply.Marshal()); err != nil {
		return nil, err
	}

	msg, err = s.recv(ctx, "recv challenge ack")
	if err != nil {
		if isClosed(err) {
			// An OTP acceptor that rejects our digest closes without a word.
			return nil, fmt.Errorf("%w: peer closed the connection after our challenge reply, as OTP does on a %w", err, ErrCookieMismatch)
		}
		return nil, err
	}
	ack, err := ParseAckMessage(msg)
	if err != nil {
		return nil, fmt.Errorf("recv challenge ack: %w", err)
	}
	if !digestMatches(ack.Digest, cfg.Cookie, ours) {
		return nil, fmt.Errorf("recv challenge ack: digest does not match our challenge: %w", ErrCookieMismatch)
	}
	res := s.result(peer, chal.Flags, chal.Creation, status)
	log.Debug("handshake complete", "flags", res.Flags, "hidden", res.Hidden)
	return res, nil
}
