package epmd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"syscall"
	"time"
)

// Server defaults.
const (
	// DefaultReadTimeout bounds how long a connection may take to deliver
	// its request; epmd closes idle non-registration sockets likewise.
	DefaultReadTimeout = 10 * time.Second
	// DefaultMaxConns caps open connections, and so registrations, since
	// each registration holds one.
	DefaultMaxConns = 1024
	// maxUnreg is how many unregistered names keep their creation counter,
	// epmd's MAX_UNREG_COUNT.
	maxUnreg = 1000
	// failedCreation is the creation epmd puts in a refusing ALIVE2 reply.
	failedCreation = 99
)

// ServerOption configures Start and EnsureServer.
type ServerOption func(*Server)

// WithReadTimeout sets how long a connection may take to send its request.
func WithReadTimeout(d time.Duration) ServerOption {
	return func(s *Server) {
		if d > 0 {
			s.readTimeout = d
		}
	}
}

// WithMaxConns caps the number of simultaneously open connections.
func WithMaxConns(n int) ServerOption {
	return func(s *Server) {
		if n > 0 {
			s.maxConns = n
		}
	}
}

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) ServerOption {
	return func(s *Server) {
		if l != nil {
			s.log = l
		}
	}
}

// Server is an embedded EPMD. It answers ALIVE2 (both reply forms),
// PORT_PLEASE2 and NAMES byte for byte like OTP's epmd; it refuses KILL with
// "NO", since the server belongs to its process, and ignores DUMP and STOP
// (epmd ignores STOP too unless started with -relaxed_command_check). Unlike
// epmd it closes the connection after refusing an ALIVE2, instead of holding
// it open with nothing registered.
type Server struct {
	ln          net.Listener
	port        int
	readTimeout time.Duration
	maxConns    int
	log         *slog.Logger
	quit        chan struct{}
	wg          sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	nodes  map[string]*registered
	seq    uint64 // registration order, for NAMES
	seed   uint32 // next counter for a name never seen before
	unreg  map[string]unregistered
	order  []unregKey // FIFO of unregistrations, to bound unreg
}

type registered struct {
	info    NodeInfo
	counter uint32
	conn    net.Conn
	seq     uint64
}

type unregistered struct {
	counter uint32
	gen     uint64
}

type unregKey struct {
	name string
	gen  uint64
}

// Start listens on addr (host:port; port 0 picks a free one) and serves EPMD
// requests until Close. ctx bounds only the listen.
func Start(ctx context.Context, addr string, opts ...ServerOption) (*Server, error) {
	s := &Server{
		readTimeout: DefaultReadTimeout,
		maxConns:    DefaultMaxConns,
		log:         slog.Default(),
		quit:        make(chan struct{}),
		conns:       make(map[net.Conn]struct{}),
		nodes:       make(map[string]*registered),
		unreg:       make(map[string]unregistered),
		// epmd seeds a new name's counter with the time in seconds, so a
		// restarted server hands out creations unlikely to repeat.
		seed: uint32(time.Now().Unix()),
	}
	for _, o := range opts {
		o(s)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("epmd: listen %s: %w", addr, err)
	}
	s.ln = ln
	if ta, ok := ln.Addr().(*net.TCPAddr); ok {
		s.port = ta.Port
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Port is the TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// Close stops listening, drops every connection (and so every registration)
// and waits for all of the server's goroutines to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.quit)
	err := s.ln.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("epmd: close listener: %w", err)
	}
	return nil
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.quit:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait and retry
			// rather than spin or give up.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("epmd: accept failed", "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-s.quit:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		backoff = 0
		s.mu.Lock()
		if s.closed || len(s.conns) >= s.maxConns {
			full := !s.closed
			s.mu.Unlock()
			if full {
				s.log.Warn("epmd: too many connections, dropping one", "remote", conn.RemoteAddr(), "max", s.maxConns)
			}
			_ = conn.Close()
			continue
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(conn)
	}
}

func (s *Server) serveConn(conn net.Conn) {
	defer s.wg.Done()
	defer func() {
		_ = conn.Close()
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
	}()
	log := s.log.With("remote", conn.RemoteAddr().String())
	_ = conn.SetDeadline(time.Now().Add(s.readTimeout))
	body, err := readRequest(conn)
	if err != nil {
		log.Debug("epmd: bad or missing request", "err", err)
		return
	}
	req, err := decodeRequest(body)
	if err != nil {
		log.Debug("epmd: bad request", "err", err)
		return
	}
	switch req.tag {
	case tagAlive2Req:
		// Like epmd, only the local host may register: a remote peer
		// could otherwise hijack names.
		if !isLocalPeer(conn) {
			log.Warn("epmd: ALIVE2_REQ from non-local address refused")
			return
		}
		s.serveAlive2(conn, req.node, log)
	case tagPortPlease2Req:
		if err := validateName(req.name); err != nil {
			log.Debug("epmd: bad PORT_PLEASE2_REQ", "err", err)
			return
		}
		s.write(conn, encodePort2Resp(s.lookup(req.name)), log)
	case tagNamesReq:
		s.write(conn, s.namesResp(), log)
	case tagKillReq:
		if isLocalPeer(conn) {
			s.write(conn, []byte("NO"), log)
		}
	default: // DUMP_REQ, STOP_REQ
		log.Debug("epmd: request refused", "tag", req.tag)
	}
}

func (s *Server) write(conn net.Conn, b []byte, log *slog.Logger) bool {
	if _, err := conn.Write(b); err != nil {
		log.Debug("epmd: write reply", "err", err)
		return false
	}
	return true
}

// serveAlive2 registers n for as long as conn stays open.
func (s *Server) serveAlive2(conn net.Conn, n NodeInfo, log *slog.Logger) {
	extended := n.HighVersion >= 6
	creation, err := s.register(conn, n)
	if err != nil {
		log.Info("epmd: registration refused", "name", n.Name, "err", err)
		s.write(conn, encodeAlive2Resp(extended, 1, failedCreation), log)
		return
	}
	defer s.unregister(conn, n.Name)
	if !s.write(conn, encodeAlive2Resp(extended, 0, creation), log) {
		return
	}
	log.Debug("epmd: registered", "name", n.Name, "port", n.Port, "creation", creation)
	_ = conn.SetDeadline(time.Time{})
	// The node sends nothing more; EOF, an error, or stray bytes (which
	// epmd also treats as the end) all unregister it.
	var b [1]byte
	_, _ = conn.Read(b[:])
}

func (s *Server) register(conn net.Conn, n NodeInfo) (uint32, error) {
	if err := validateName(n.Name); err != nil {
		return 0, err
	}
	if len(n.Extra) > MaxExtraLen {
		return 0, fmt.Errorf("extra field of %d bytes", len(n.Extra))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errors.New("server closed")
	}
	if _, ok := s.nodes[n.Name]; ok {
		return 0, fmt.Errorf("name %q already registered", n.Name)
	}
	// A name seen before continues its own counter, so a restarted node
	// always gets a creation different from its previous incarnation.
	var counter uint32
	if u, ok := s.unreg[n.Name]; ok {
		counter = u.counter
		delete(s.unreg, n.Name)
	} else {
		counter = s.seed
		s.seed++
	}
	counter++
	// Creations 0..3 belong to the old 2-bit scheme; epmd skips them.
	if counter < 4 {
		counter = 4
	}
	s.seq++
	s.nodes[n.Name] = &registered{info: n, counter: counter, conn: conn, seq: s.seq}
	return creationFor(n.HighVersion, counter), nil
}

// creationFor maps the counter to what the node gets: the counter itself in
// ALIVE2_X_RESP, or 1..3 for a version 5 node, as epmd's get_creation does.
func creationFor(highVersion uint16, counter uint32) uint32 {
	if highVersion >= 6 {
		return counter
	}
	return counter%3 + 1
}

func (s *Server) unregister(conn net.Conn, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.nodes[name]
	if !ok || r.conn != conn {
		return
	}
	delete(s.nodes, name)
	s.seq++
	s.unreg[name] = unregistered{counter: r.counter, gen: s.seq}
	s.order = append(s.order, unregKey{name: name, gen: s.seq})
	for len(s.unreg) > maxUnreg && len(s.order) > 0 {
		k := s.order[0]
		s.order = s.order[1:]
		if u, ok := s.unreg[k.name]; ok && u.gen == k.gen {
			delete(s.unreg, k.name)
		}
	}
	// Names that re-registered leave stale keys behind; compact so the
	// FIFO stays proportional to the map.
	if len(s.order) > 2*maxUnreg {
		live := s.order[:0]
		for _, k := range s.order {
			if u, ok := s.unreg[k.name]; ok && u.gen == k.gen {
				live = append(live, k)
			}
		}
		s.order = live
	}
}

func (s *Server) lookup(name string) *NodeInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.nodes[name]
	if !ok {
		return nil
	}
	info := r.info
	return &info
}

// namesResp lists registrations newest first, the order epmd's list gives.
func (s *Server) namesResp() []byte {
	s.mu.Lock()
	regs := make([]*registered, 0, len(s.nodes))
	for _, r := range s.nodes {
		regs = append(regs, r)
	}
	s.mu.Unlock()
	sort.Slice(regs, func(i, j int) bool { return regs[i].seq > regs[j].seq })
	b := binary.BigEndian.AppendUint32(nil, uint32(s.port))
	for _, r := range regs {
		b = appendNamesLine(b, r.info.Name, r.info.Port)
	}
	return b
}

// isLocalPeer mirrors epmd's check: loopback, or the host's own address.
func isLocalPeer(conn net.Conn) bool {
	ra, ok1 := conn.RemoteAddr().(*net.TCPAddr)
	la, ok2 := conn.LocalAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return false
	}
	return ra.IP.IsLoopback() || ra.IP.Equal(la.IP)
}

// EnsureServer makes sure an EPMD listens on addr ("" means DefaultAddr(),
// which is loopback only; pass ":4369" to serve lookups from other hosts).
// If something already accepts connections there it returns nil, nil and the
// caller uses that EPMD; otherwise it starts an embedded Server and returns
// it, and the caller must Close it.
//
// The check and the listen are not atomic: another process (an erl starting
// its own epmd, say) may bind the port in between. Start then fails with
// "address in use", which EnsureServer treats as "an EPMD is there" and
// returns nil, nil. A listener on the port that is not an EPMD is not
// detected.
func EnsureServer(ctx context.Context, addr string, opts ...ServerOption) (*Server, error) {
	if addr == "" {
		addr = DefaultAddr()
	}
	if listening(ctx, addr) {
		return nil, nil
	}
	s, err := Start(ctx, addr, opts...)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, nil
	}
	return s, err
}

// listening reports whether a TCP connect to addr succeeds. It is a variable
// so tests can stage the race EnsureServer documents.
var listening = func(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
