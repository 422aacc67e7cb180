package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of barrel_p2p's auth knobs (auth.md §7, §16).
const (
	DefaultHandshakeTimeout = 10 * time.Second // auth_handshake_timeout
	DefaultTimestampWindow  = 30 * time.Second // auth_timestamp_window
)

// Streams are the two auth uni streams of one QUIC connection.
type Streams struct {
	// Recv is the peer's auth uni stream (the first stream it opened). If
	// it has SetReadDeadline (quic-go's ReceiveStream does) the deadline is
	// enforced through it; otherwise an io.Closer is closed on expiry.
	Recv io.Reader
	// Open opens our auth uni stream; Close sends FIN. The server calls it
	// only after reading the client's first message, as barrel_p2p does. A
	// SetWriteDeadline method on the stream is honoured like Recv's.
	Open func() (io.WriteCloser, error)
	// Binding is SHA-256 of the server's leaf certificate DER: the served
	// certificate on the server, PeerCertificates[0].Raw on the client.
	Binding [BindingSize]byte
}

// Role is the side of the QUIC connection.
type Role int

const (
	// Client is the dialer (barrel_p2p role outgoing).
	Client Role = iota + 1
	// Server is the acceptor (barrel_p2p role incoming).
	Server
)

func (r Role) String() string {
	switch r {
	case Client:
		return "client"
	case Server:
		return "server"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// metricName is barrel_p2p's role attribute.
func (r Role) metricName() string {
	if r == Client {
		return "outgoing"
	}
	return "incoming"
}

// Authenticator is what the carrier calls once per connection, before the
// dist handshake.
type Authenticator interface {
	// Authenticate runs the exchange. For the client, dialed is the node
	// name being dialed (the server's HELLO name must equal it: stricter
	// than barrel_p2p); "" skips that check and refuses a cookie-only
	// AUTH_OK, like barrel_p2p with an unknown dial target. For the server
	// dialed is "". It returns the authenticated peer node name, or "" with
	// a nil error when the peer was let through without Ed25519
	// (cookie_only_nodes, or authentication disabled); the dist cookie is
	// then the only gate. On error the carrier closes the connection,
	// after giving a server's FAIL a moment to flush.
	Authenticate(ctx context.Context, role Role, dialed string, s *Streams) (peer string, err error)
}

// TrustMode is auth_trust_mode.
type TrustMode int

const (
	// TrustTOFU accepts unknown names and pins their key after success
	// (barrel_p2p's default).
	TrustTOFU TrustMode = iota + 1
	// TrustStrict accepts only names already pinned to the presented key.
	TrustStrict
)

func (m TrustMode) String() string {
	switch m {
	case TrustTOFU:
		return "tofu"
	case TrustStrict:
		return "strict"
	}
	return fmt.Sprintf("TrustMode(%d)", int(m))
}

// ParseTrustMode parses "tofu" or "strict".
func ParseTrustMode(s string) (TrustMode, error) {
	switch s {
	case "tofu":
		return TrustTOFU, nil
	case "strict":
		return TrustStrict, nil
	}
	return 0, fmt.Errorf("auth: trust mode %q: want tofu or strict", s)
}

// Config configures an Ed25519 authenticator.
type Config struct {
	// LocalName is our full node name, sent in HELLO; it must pass §4 or
	// Erlang peers reject it.
	LocalName string
	// Identity signs; KeyDir reloads node.key/node.pub per handshake as
	// barrel_p2p does, a KeyPair is fixed.
	Identity IdentitySource
	// Pins is the trust store.
	Pins *Pins
	// TrustMode is auth_trust_mode; zero means TrustTOFU.
	TrustMode TrustMode
	// Timeout is auth_handshake_timeout: one deadline across the whole
	// exchange. Zero means DefaultHandshakeTimeout.
	Timeout time.Duration
	// TimestampWindow is auth_timestamp_window: response freshness bound,
	// and half of the accepted peer clock skew. Zero means
	// DefaultTimestampWindow.
	TimestampWindow time.Duration
	// CookieOnlyNodes are barrel_p2p's cookie_only_nodes patterns.
	CookieOnlyNodes []string
	// Logger receives failures and warnings; nil means slog.Default().
	Logger *slog.Logger
	// Metrics, from NewMetrics; nil records nothing.
	Metrics *Metrics
	// Now is the wall clock for CHALLENGE timestamps, the peer timestamp
	// check and response freshness (through the monotonic reading that
	// time.Now carries). Nil means time.Now. Tests inject it.
	Now func() time.Time
	// Rand supplies nonces; nil means crypto/rand.
	Rand io.Reader
}

// Ed25519 is barrel_p2p's Ed25519 authenticator.
type Ed25519 struct {
	cfg        Config
	log        *slog.Logger
	mode       atomic.Int32
	cookieWarn sync.Once
}

var _ Authenticator = (*Ed25519)(nil)

// New checks cfg and returns the authenticator.
func New(cfg Config) (*Ed25519, error) {
	if err := ValidateNodeName(cfg.LocalName); err != nil {
		return nil, fmt.Errorf("auth: local node name %q: %w", cfg.LocalName, ErrInvalidNodeName)
	}
	if cfg.Identity == nil {
		return nil, errors.New("auth: config: Identity is nil")
	}
	if cfg.Pins == nil {
		return nil, errors.New("auth: config: Pins is nil")
	}
	if cfg.TrustMode == 0 {
		cfg.TrustMode = TrustTOFU
	}
	if cfg.TrustMode != TrustTOFU && cfg.TrustMode != TrustStrict {
		return nil, fmt.Errorf("auth: config: unknown trust mode %d", cfg.TrustMode)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultHandshakeTimeout
	}
	if cfg.TimestampWindow == 0 {
		cfg.TimestampWindow = DefaultTimestampWindow
	}
	if cfg.Timeout < 0 || cfg.TimestampWindow < 0 {
		return nil, fmt.Errorf("auth: config: negative timeout %v or window %v", cfg.Timeout, cfg.TimestampWindow)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.CookieOnlyNodes = append([]string(nil), cfg.CookieOnlyNodes...)
	a := &Ed25519{cfg: cfg, log: cfg.Logger}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.mode.Store(int32(cfg.TrustMode))
	return a, nil
}

// TrustMode is the mode the next handshake uses.
func (a *Ed25519) TrustMode() TrustMode { return TrustMode(a.mode.Load()) }

// SetTrustMode switches the mode for subsequent handshakes (barrel_p2p
// documents set_trust_mode/1 as this switch but its handshake ignores it).
func (a *Ed25519) SetTrustMode(m TrustMode) error {
	if m != TrustTOFU && m != TrustStrict {
		return fmt.Errorf("auth: unknown trust mode %d", m)
	}
	a.mode.Store(int32(m))
	return nil
}

// Pins is the trust store in use.
func (a *Ed25519) Pins() *Pins { return a.cfg.Pins }

// Authenticate implements Authenticator.
func (a *Ed25519) Authenticate(ctx context.Context, role Role, dialed string, s *Streams) (peer string, err error) {
	start := time.Now()
	defer func() {
		a.cfg.Metrics.observe(role, err == nil, time.Since(start))
		a.report(role, dialed, peer, err)
	}()
	if role != Client && role != Server {
		return "", &Error{Role: role, Term: "badarg", kind: ErrUnexpectedMessage, Err: fmt.Errorf("unknown role %d", int(role))}
	}
	if s == nil || s.Recv == nil || s.Open == nil {
		return "", &Error{Role: role, Term: "badarg", kind: ErrOpenAuthStream, Err: errors.New("incomplete Streams")}
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	ss := &session{a: a, role: role, ctx: ctx, s: s, fr: NewFrameReader(s.Recv), mode: a.TrustMode()}
	defer ss.close() // runs before cancel: watchers must stop before the context ends
	ss.watchRecv()
	if role == Client {
		return ss.client(dialed)
	}
	return ss.server()
}

func (a *Ed25519) report(role Role, dialed, peer string, err error) {
	if err == nil {
		a.log.Debug("auth "+role.String()+" "+peer+" ok", "role", role.String(), "peer", peer)
		return
	}
	who := dialed
	var ae *Error
	if errors.As(err, &ae) && ae.Peer != "" {
		who = ae.Peer
	}
	if who == "" {
		who = "unknown"
	}
	term := err.Error()
	if ae != nil {
		term = ae.Term
	}
	a.log.Warn("auth "+role.String()+" "+who+" failed: "+term, "role", role.String(), "peer", who, "err", err)
}

func (a *Ed25519) warnCookieOnly() {
	a.cookieWarn.Do(func() {
		a.log.Warn("barrel_p2p: accepted a cookie-only peer (cookie_only_nodes) - no Ed25519, not protected against an active MITM.")
	})
}

// Disabled is the authenticator for auth_enabled = false: it touches no
// stream, sends nothing, records no metric and lets every peer through
// (gated by the dist cookie only). Both ends of a connection must agree.
type Disabled struct{}

var _ Authenticator = Disabled{}

// AuthDisabledWarning is barrel_p2p's boot warning for auth_enabled=false.
const AuthDisabledWarning = "barrel_p2p: auth_enabled=false - Ed25519 peer authentication is OFF. Peers are gated by the dist cookie only, with no protection against an active MITM."

// NewDisabled logs barrel_p2p's warning (nil logger: slog.Default()) and
// returns the no-op authenticator.
func NewDisabled(logger *slog.Logger) Disabled {
	if logger == nil {
		logger = slog.Default()
	}
	logger.Warn(AuthDisabledWarning)
	return Disabled{}
}

// Authenticate returns ("", nil) at once, like barrel_p2p's {ok, undefined}.
func (Disabled) Authenticate(context.Context, Role, string, *Streams) (string, error) {
	return "", nil
}
