// Package protodist is barrel_p2p's distribution carrier: Erlang
// distribution over QUIC (erlang_quic's quic_dist) with Ed25519 peer
// authentication before the handshake. A node uses it through Transport,
// which satisfies node.Transport.
package protodist

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/barrelgo/barrelgo/discovery"
	"github.com/barrelgo/barrelgo/dist"
	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/handshake"
	"github.com/barrelgo/barrelgo/protodist/auth"
	"github.com/quic-go/quic-go"
)

// failGrace is how long a refused connection stays open for its FAIL
// frame to arrive; the client closes first when it reads it.
const failGrace = 500 * time.Millisecond

// ALPN is the protocol quic_dist negotiates.
const ALPN = "erlang-dist"

// TransportOptions configure the QUIC carrier.
type TransportOptions struct {
	// ListenAddr is the UDP address to listen on ("127.0.0.1:4433").
	ListenAddr string
	// Certificate is the TLS leaf presented as server (a single self-signed
	// P-256 certificate, see package certs) and offered as client.
	Certificate tls.Certificate
	// Authenticator runs barrel_p2p's Ed25519 exchange; nil means
	// auth_enabled = false (no auth streams at all).
	Authenticator auth.Authenticator
	// Resolver maps node names to "host:port" for dialing.
	Resolver discovery.Resolver
	// TickTime is net_ticktime; the QUIC keep-alive runs every TickTime/4
	// (at most 15 s) and liveness is judged on received packets.
	TickTime time.Duration
	// IdleTimeout is the QUIC idle timeout (300 s, erlang_quic's, when 0).
	IdleTimeout time.Duration
	// AuthTimeout bounds the QUIC handshake plus auth of incoming
	// connections (10 s when 0).
	AuthTimeout time.Duration
	// Publish, when set, receives the node's <node>.endpoint file once the
	// transport listens (host = the host part of the node name), and loses
	// it on Close, so barrel_p2p nodes sharing the directory can dial it.
	Publish *discovery.File
	Logger  *slog.Logger
}

// Transport carries a node's distribution over QUIC.
type Transport struct {
	opts     TransportOptions
	ln       *quic.Listener
	binding  [32]byte
	incoming chan *link
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	log      *slog.Logger
	local    etf.Atom
}

// NewTransport validates opts; Start listens.
func NewTransport(opts TransportOptions) (*Transport, error) {
	if len(opts.Certificate.Certificate) == 0 {
		return nil, errors.New("protodist: no_credentials: no TLS certificate")
	}
	if opts.Resolver == nil {
		return nil, errors.New("protodist: no discovery resolver")
	}
	if opts.TickTime <= 0 {
		opts.TickTime = 60 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 300 * time.Second
	}
	if opts.AuthTimeout <= 0 {
		opts.AuthTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if isNoAuth(opts.Authenticator) {
		// auth_enabled = false: no auth streams at all (transport.md §5.1).
		opts.Authenticator = nil
	}
	t := &Transport{opts: opts, incoming: make(chan *link), log: opts.Logger}
	t.binding = sha256.Sum256(opts.Certificate.Certificate[0])
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t, nil
}

func (t *Transport) keepAlive() time.Duration {
	return min(t.opts.TickTime/4, 15*time.Second)
}

func (t *Transport) quicConfig() *quic.Config {
	return &quic.Config{
		Versions:              []quic.Version{quic.Version1},
		KeepAlivePeriod:       t.keepAlive(),
		MaxIdleTimeout:        t.opts.IdleTimeout,
		HandshakeIdleTimeout:  t.opts.AuthTimeout,
		MaxIncomingStreams:    100,
		MaxIncomingUniStreams: 100,
		// Receive windows big enough that an Erlang sender does not run
		// into flow control: erlang_quic 1.8.1's dist controller queues a
		// send refused for flow control and retries it only when the VM
		// hands it more data for this connection, so the tail of a burst
		// (seen live: the last 177 fragments of a 16 MiB message) waits
		// for the next message, possibly forever. quic-go's defaults
		// (512 KiB per stream, auto-tuned to 6 MiB) trip it; a window only
		// bounds what a peer may send ahead of our reading, and we read
		// every stream continuously.
		InitialStreamReceiveWindow:     streamWindow,
		MaxStreamReceiveWindow:         streamWindow,
		InitialConnectionReceiveWindow: connWindow,
		MaxConnectionReceiveWindow:     connWindow,
	}
}

// Receive windows: 64 MiB per stream, and erlang_quic's own 256 MiB
// initial_max_data per connection (transport.md §1.4).
const (
	streamWindow = 64 << 20
	connWindow   = 256 << 20
)

func (t *Transport) tlsConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{t.opts.Certificate},
		NextProtos:   []string{ALPN},
		MinVersion:   tls.VersionTLS13,
		// Identity comes from the Ed25519 exchange bound to this
		// certificate, not from PKI: Erlang certificates are self-signed.
		InsecureSkipVerify: true,
		// X25519 only keeps the ClientHello in one packet; it is what
		// erlang_quic offers and accepts.
		CurvePreferences: []tls.CurveID{tls.X25519},
		ClientAuth:       tls.NoClientCert,
	}
}

// Start listens on ListenAddr. QUIC nodes get a random non-zero creation,
// as there is no EPMD to assign one.
func (t *Transport) Start(ctx context.Context, local etf.Atom, hidden bool) (uint32, error) {
	ln, err := quic.ListenAddr(t.opts.ListenAddr, t.tlsConfig(), t.quicConfig())
	if err != nil {
		return 0, fmt.Errorf("protodist: listen on udp %s: %w", t.opts.ListenAddr, err)
	}
	t.ln = ln
	t.local = local
	t.log = t.log.With("node", string(local))
	if t.opts.Publish != nil {
		host, err := discovery.HostPart(string(local))
		if err == nil {
			err = t.opts.Publish.Publish(string(local), host, ln.Addr().(*net.UDPAddr).Port)
		}
		if err != nil {
			ln.Close()
			return 0, fmt.Errorf("protodist: publish endpoint: %w", err)
		}
	}
	t.wg.Add(1)
	go t.acceptLoop()
	return randomCreation(), nil
}

// Addr is the UDP address the transport listens on.
func (t *Transport) Addr() net.Addr { return t.ln.Addr() }

func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	for {
		conn, err := t.ln.Accept(t.ctx)
		if err != nil {
			return
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			l, err := t.serverSetup(conn)
			if err != nil {
				t.log.Warn("incoming QUIC connection refused", "remote", conn.RemoteAddr().String(), "err", err)
				// Let a FAIL frame reach the client before the close: quic-go
				// reports a closed connection before data it still buffers.
				select {
				case <-conn.Context().Done():
				case <-time.After(failGrace):
				case <-t.ctx.Done():
				}
				_ = conn.CloseWithError(0, "")
				return
			}
			select {
			case t.incoming <- l:
			case <-t.ctx.Done():
				_ = conn.CloseWithError(0, "")
			}
		}()
	}
}

// serverSetup authenticates an incoming connection and accepts its
// control stream.
func (t *Transport) serverSetup(conn *quic.Conn) (*link, error) {
	ctx, cancel := context.WithTimeout(t.ctx, t.opts.AuthTimeout)
	defer cancel()
	select {
	case <-conn.HandshakeComplete():
	case <-ctx.Done():
		return nil, fmt.Errorf("protodist: QUIC handshake: %w", ctx.Err())
	}
	l := &link{t: t, conn: conn, acceptor: true}
	var s *quic.Stream
	// auth.Disabled reads no stream: the peer's first stream is stream 0.
	if a := t.opts.Authenticator; a != nil && !isDisabled(a) {
		// Auth runs before any dist byte is read. A bidi stream opened
		// before the peer's auth uni stream means a peer without auth
		// (barrel_p2p would read it as its auth stream and fail): refuse at
		// once. One opened after it is the control stream of a client that
		// got our AUTH_OK, which it may open before Authenticate has even
		// returned here: keep it.
		uni := &lazyUni{ctx: ctx, conn: conn, opened: make(chan struct{})}
		early := make(chan error, 1)
		ctlStream := make(chan *quic.Stream, 1)
		actx, acancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := conn.AcceptStream(actx)
			if err != nil {
				return
			}
			select {
			case <-uni.opened:
				ctlStream <- st
			default:
				early <- errors.New("protodist: peer opened the control stream before authenticating")
				acancel()
			}
		}()
		uni.ctx = actx
		peer, err := a.Authenticate(actx, auth.Server, "", t.authStreamsWith(conn, uni, t.binding))
		if err != nil {
			acancel()
			wg.Wait()
			select {
			case e := <-early:
				return nil, e
			default:
			}
			return nil, err
		}
		l.authPeer = peer
		// The control stream may already be ours; otherwise wait for it
		// below, still bounded by ctx.
		select {
		case s = <-ctlStream:
			acancel()
			wg.Wait()
		case <-ctx.Done():
			acancel()
			wg.Wait()
			return nil, fmt.Errorf("protodist: waiting for the control stream: %w", ctx.Err())
		}
	} else {
		var err error
		if s, err = conn.AcceptStream(ctx); err != nil {
			return nil, fmt.Errorf("protodist: waiting for the control stream: %w", err)
		}
	}
	if s.StreamID() != 0 {
		return nil, fmt.Errorf("protodist: first bidi stream is %d, want 0", s.StreamID())
	}
	l.ctl = s
	l.framer = newCtlFramer(conn, s, true)
	return l, nil
}

// authStreams gives the authenticator the connection's auth uni streams:
// the peer's first uni stream and, opened on demand, ours.
func (t *Transport) authStreams(ctx context.Context, conn *quic.Conn, binding [32]byte) *auth.Streams {
	return t.authStreamsWith(conn, &lazyUni{ctx: ctx, conn: conn}, binding)
}

func (t *Transport) authStreamsWith(conn *quic.Conn, recv *lazyUni, binding [32]byte) *auth.Streams {
	return &auth.Streams{
		Recv: recv,
		Open: func() (io.WriteCloser, error) {
			s, err := conn.OpenUniStream()
			if err != nil {
				return nil, fmt.Errorf("protodist: open auth stream: %w", err)
			}
			return s, nil
		},
		Binding: binding,
	}
}

// lazyUni accepts the peer's uni stream on first read.
type lazyUni struct {
	ctx  context.Context
	conn *quic.Conn
	s    *quic.ReceiveStream
	// opened, when set, is closed once the peer's uni stream is accepted.
	opened chan struct{}
}

func (u *lazyUni) Read(p []byte) (int, error) {
	if u.s == nil {
		s, err := u.conn.AcceptUniStream(u.ctx)
		if err != nil {
			return 0, err
		}
		u.s = s
		if u.opened != nil {
			close(u.opened)
		}
		if d, ok := u.ctx.Deadline(); ok {
			_ = s.SetReadDeadline(d)
		}
		context.AfterFunc(u.ctx, func() { _ = s.SetReadDeadline(time.Now()) })
	}
	return u.s.Read(p)
}

// Accept returns the next authenticated incoming link.
func (t *Transport) Accept(ctx context.Context) (dist.Link, error) {
	select {
	case l := <-t.incoming:
		return l, nil
	case <-t.ctx.Done():
		return nil, errors.New("protodist: transport closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// StatusRetryAfter implements dist.StatusRetrier: an erlang_quic server
// answers our name within milliseconds unless it lost it in its
// gatekeeper-to-controller handoff, and then never does: 5 of 60 dials to
// a barrel_p2p 0.1.0 node on this project's loaded 2-core test machine
// needed the second attempt, and every one of them got through with it.
func (t *Transport) StatusRetryAfter() time.Duration { return statusRetryAfter }

// statusRetryAfter leaves a second attempt most of net_setuptime's 7 s.
const statusRetryAfter = 2 * time.Second

// Dial connects to peer, authenticates and opens the control stream.
func (t *Transport) Dial(ctx context.Context, peer etf.Atom) (dist.Link, error) {
	addr, err := t.opts.Resolver.Resolve(ctx, string(peer))
	if err != nil {
		return nil, err
	}
	conn, err := quic.DialAddr(ctx, addr, t.tlsConfig(), t.quicConfig())
	if err != nil {
		return nil, fmt.Errorf("protodist: dial %s at %s: %w", peer, addr, err)
	}
	l, err := t.clientSetup(ctx, conn, peer)
	if err != nil {
		_ = conn.CloseWithError(0, "")
		return nil, err
	}
	return l, nil
}

func (t *Transport) clientSetup(ctx context.Context, conn *quic.Conn, peer etf.Atom) (*link, error) {
	certs := conn.ConnectionState().TLS.PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("protodist: server presented no certificate; nothing to bind auth to")
	}
	l := &link{t: t, conn: conn}
	if a := t.opts.Authenticator; a != nil {
		actx, cancel := context.WithTimeout(ctx, t.opts.AuthTimeout)
		name, err := a.Authenticate(actx, auth.Client, string(peer), t.authStreams(actx, conn, sha256.Sum256(certs[0].Raw)))
		cancel()
		if err != nil {
			return nil, err
		}
		l.authPeer = name
	}
	// Stream IDs are positional: control is the first bidi (0), then the
	// 16 data streams 4..64, reserved before anything else.
	s, err := conn.OpenStream()
	if err != nil {
		return nil, fmt.Errorf("protodist: open control stream: %w", err)
	}
	l.ctl = s
	for i := range DataStreams {
		if l.own[i], err = conn.OpenStream(); err != nil {
			return nil, fmt.Errorf("protodist: open data stream: %w", err)
		}
	}
	l.framer = newCtlFramer(conn, s, false)
	return l, nil
}

var _ dist.Transport = (*Transport)(nil)

// Close stops listening and closes pending links.
func (t *Transport) Close() error {
	if t.opts.Publish != nil && t.local != "" {
		_ = t.opts.Publish.Unpublish(string(t.local))
	}
	t.cancel()
	if t.ln != nil {
		t.ln.Close()
	}
	t.wg.Wait()
	return nil
}

// link is a QUIC connection between auth and distribution traffic.
type link struct {
	t        *Transport
	conn     *quic.Conn
	ctl      *quic.Stream
	framer   *ctlFramer
	own      [DataStreams]*quic.Stream
	acceptor bool
	authPeer string
}

func (l *link) ReadMessage(ctx context.Context) ([]byte, error) { return l.framer.ReadMessage(ctx) }
func (l *link) WriteMessage(ctx context.Context, msg []byte) error {
	return l.framer.WriteMessage(ctx, msg)
}
func (l *link) RemoteAddr() string { return l.conn.RemoteAddr().String() }
func (l *link) Acceptor() bool     { return l.acceptor }

// Close closes the QUIC connection, as erlang_quic does not always do for
// abandoned handshakes (transport.md §8).
func (l *link) Close() error { return l.conn.CloseWithError(0, "") }

// Established checks the handshake against the authenticated identity and
// starts the carrier.
func (l *link) Established(res *handshake.Result, limits dist.Limits) (dist.Carrier, error) {
	if l.authPeer != "" && l.authPeer != res.PeerName {
		// Stricter than barrel_p2p: the key that authenticated must belong
		// to the node that handshakes.
		return nil, fmt.Errorf("protodist: peer authenticated as %s but handshakes as %s", l.authPeer, res.PeerName)
	}
	// The acceptor's last handshake message (the ack) must not share a
	// STREAM frame with a tick that follows.
	if l.framer.wrote {
		ctx, cancel := context.WithTimeout(l.t.ctx, time.Second)
		err := l.framer.waitSent(ctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("protodist: handshake: %w", err)
		}
	}
	own := l.own[:]
	if l.acceptor {
		// The server's data streams 1..61 are opened after the handshake.
		for i := range DataStreams {
			s, err := l.conn.OpenStream()
			if err != nil {
				return nil, fmt.Errorf("protodist: open data stream: %w", err)
			}
			l.own[i] = s
		}
	}
	return newCarrier(l.conn, l.ctl, l.framer.r, own, !l.acceptor, limits, l.t.keepAlive()/2), nil
}
