package dist

import (
	"context"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/handshake"
)

// Transport carries a node's distribution connections: classic TCP with
// EPMD, or the barrel_p2p QUIC carrier. A transport authenticates what it
// must before handing a Link over; the node then runs the distribution
// handshake on it.
type Transport interface {
	// Start begins listening for local, the full node name, and returns
	// the node's creation.
	Start(ctx context.Context, local etf.Atom, hidden bool) (creation uint32, err error)
	// Accept returns the next incoming link, ready for the handshake.
	Accept(ctx context.Context) (Link, error)
	// Dial opens a link to peer, ready for the handshake.
	Dial(ctx context.Context, peer etf.Atom) (Link, error)
	// Close stops listening and releases what Start acquired.
	Close() error
}

// StatusRetrier is a Transport whose fresh links can lose the first
// handshake message: the dialer then waits StatusRetryAfter for the
// peer's status and tries once more over a new link. erlang_quic 1.8.1
// needs it: its server hands a connection from the auth gatekeeper to the
// dist controller with a gap in which arriving stream data goes to the
// exiting gatekeeper and is lost (quic_dist:finalize_server_handoff/1
// drains the gatekeeper's mailbox before the controller has taken the
// connection over), so the peer never sees our name and never answers.
type StatusRetrier interface {
	Transport
	StatusRetryAfter() time.Duration
}

// Link is one connection between handshake and distribution traffic.
type Link interface {
	handshake.Framer
	// Established is called once the handshake succeeded; it returns the
	// carrier of the connection's distribution messages. It may refuse
	// the result (for example a peer whose handshake name differs from
	// the name it authenticated as).
	Established(res *handshake.Result, limits Limits) (Carrier, error)
	// Close drops the link; a carrier obtained from it closes too.
	Close() error
	// RemoteAddr is for logs.
	RemoteAddr() string
	// Acceptor reports whether the handshake runs as the responder.
	Acceptor() bool
}
