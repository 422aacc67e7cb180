package epmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPort is the well-known EPMD port.
const DefaultPort = 4369

// DefaultTimeout bounds a client call whose context has no deadline, the same
// 10 seconds OTP's erl_epmd waits for a reply.
const DefaultTimeout = 10 * time.Second

// ErrNotRegistered is matched (errors.Is) by the error PortPlease returns when
// EPMD does not know the node.
var ErrNotRegistered = errors.New("not registered in EPMD")

// ErrNameTaken is matched by the error Register returns when EPMD refuses the
// registration. epmd gives no reason; a duplicate name is by far the most
// common one (OTP maps any refusal to duplicate_name), an invalid name the
// other.
var ErrNameTaken = errors.New("name taken")

// NotRegisteredError reports a PORT_PLEASE2 lookup of a name EPMD does not know.
type NotRegisteredError struct {
	Name string // the node name looked up
	Addr string // the EPMD that was asked
}

func (e *NotRegisteredError) Error() string {
	return fmt.Sprintf("epmd: node %q not registered in EPMD at %s", e.Name, e.Addr)
}

// Is makes errors.Is(err, ErrNotRegistered) hold.
func (e *NotRegisteredError) Is(target error) bool { return target == ErrNotRegistered }

// Port returns the EPMD port to use: ERL_EPMD_PORT when it holds a valid
// port number, as erl does, otherwise DefaultPort.
func Port() int {
	if v := os.Getenv("ERL_EPMD_PORT"); v != "" {
		if p, err := strconv.ParseUint(v, 10, 16); err == nil && p > 0 {
			return int(p)
		}
	}
	return DefaultPort
}

// AddrForHost returns host joined with Port(), the EPMD to ask about nodes
// named name@host.
func AddrForHost(host string) string {
	return net.JoinHostPort(host, strconv.Itoa(Port()))
}

// DefaultAddr is the local EPMD: 127.0.0.1 and Port(). Registration must go
// to the local EPMD because epmd refuses ALIVE2 from other hosts.
func DefaultAddr() string { return AddrForHost("127.0.0.1") }

// Client talks to one EPMD. The zero value talks to DefaultAddr().
type Client struct {
	// Addr is the EPMD host:port; empty means DefaultAddr() at call time.
	Addr string
	// Timeout bounds calls whose context has no deadline; zero means
	// DefaultTimeout.
	Timeout time.Duration
}

// NewClient returns a client for the EPMD at addr (host:port).
func NewClient(addr string) *Client { return &Client{Addr: addr} }

func (c *Client) addr() string {
	if c == nil || c.Addr == "" {
		return DefaultAddr()
	}
	return c.Addr
}

// dial connects and arms the connection's deadline from ctx (or Timeout) and
// cancellation of ctx. The returned stop disarms the cancellation hook; it
// reports false if the hook already fired.
func (c *Client) dial(ctx context.Context) (net.Conn, func() bool, error) {
	addr := c.addr()
	timeout := DefaultTimeout
	if c != nil && c.Timeout > 0 {
		timeout = c.Timeout
	}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(timeout)
	}
	d := net.Dialer{Deadline: dl}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("epmd: connect %s: %w", addr, err)
		}
		return nil, nil, fmt.Errorf("epmd: connect %s: %w (is epmd running?)", addr, err)
	}
	if err := conn.SetDeadline(dl); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("epmd: %s: set deadline: %w", addr, err)
	}
	// A deadline alone would not notice cancellation, so cancelling ctx
	// pulls the deadline into the past to unblock any read or write.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return conn, stop, nil
}

// ioError wraps a read/write failure, preferring the context's reason when
// the context is what broke the connection.
func ioError(ctx context.Context, op, addr string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("epmd: %s %s: %w", op, addr, cerr)
	}
	// The conn deadline equals ctx's and may fire a moment before ctx's
	// own timer marks it done.
	var ne net.Error
	if dl, ok := ctx.Deadline(); ok && errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(dl) {
		return fmt.Errorf("epmd: %s %s: %w", op, addr, context.DeadlineExceeded)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("epmd: %s %s: connection closed by epmd: %w", op, addr, err)
	}
	return fmt.Errorf("epmd: %s %s: %w", op, addr, err)
}

// Registration is a node's entry in EPMD. It lasts as long as its TCP
// connection: Close unregisters the node.
type Registration struct {
	conn     net.Conn
	creation uint32
	node     NodeInfo
	done     chan struct{}
	closing  atomic.Bool

	closeOnce sync.Once
	closeErr  error
	mu        sync.Mutex
	lostErr   error
}

// Creation is the creation EPMD assigned: 32-bit from ALIVE2_X_RESP, or the
// 16-bit value of ALIVE2_RESP (1..3 from an old-style epmd).
func (r *Registration) Creation() uint32 { return r.creation }

// Node is what was registered, with defaults filled in.
func (r *Registration) Node() NodeInfo { return r.node }

// Done is closed when the registration ends: after Close, or when EPMD drops
// the connection (it restarted, or was killed), after which the node is no
// longer findable and must register again.
func (r *Registration) Done() <-chan struct{} { return r.done }

// Err is nil while registered or after Close, and tells why EPMD dropped the
// connection otherwise.
func (r *Registration) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lostErr
}

// Close unregisters the node and waits until EPMD has let the name go, so
// that the same name can register again at once. It is safe to call more
// than once.
func (r *Registration) Close() error {
	r.closeOnce.Do(func() {
		r.closing.Store(true)
		// Half-close first: EPMD unregisters when it reads EOF and then
		// closes its side, which the watcher sees. A bounded wait keeps a
		// stuck EPMD from blocking shutdown.
		if cw, ok := r.conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			select {
			case <-r.done:
			case <-time.After(2 * time.Second):
			}
		}
		if err := r.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			r.closeErr = fmt.Errorf("epmd: unregister %q: %w", r.node.Name, err)
		}
		<-r.done
	})
	return r.closeErr
}

// watch blocks on the registration connection: epmd never sends anything
// after its reply, so any return means the registration is over.
func (r *Registration) watch() {
	defer close(r.done)
	var b [1]byte
	_, err := r.conn.Read(b[:])
	if r.closing.Load() {
		return
	}
	if err == nil {
		err = errors.New("unexpected data from epmd")
	}
	r.mu.Lock()
	r.lostErr = fmt.Errorf("epmd: registration of %q lost: %w", r.node.Name, err)
	r.mu.Unlock()
	_ = r.conn.Close()
}

// Register registers n with EPMD and keeps the connection open for the life
// of the registration. Zero fields get defaults: Type NodeTypeNormal,
// HighVersion/LowVersion DefaultHighVersion/DefaultLowVersion. ctx bounds
// only the registration exchange, not the registration's lifetime.
func (c *Client) Register(ctx context.Context, n NodeInfo) (*Registration, error) {
	if n.Type == 0 {
		n.Type = NodeTypeNormal
	}
	if n.HighVersion == 0 {
		n.HighVersion = DefaultHighVersion
	}
	if n.LowVersion == 0 {
		n.LowVersion = DefaultLowVersion
	}
	addr := c.addr()
	req, err := encodeAlive2Req(n)
	if err != nil {
		return nil, fmt.Errorf("epmd: register %q: %w", n.Name, err)
	}
	conn, stop, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Registration, error) {
		stop()
		conn.Close()
		return nil, err
	}
	if _, err := conn.Write(req); err != nil {
		return fail(ioError(ctx, "register "+strconv.Quote(n.Name)+" at", addr, err))
	}
	result, creation, err := readAlive2Resp(conn)
	if err != nil {
		return fail(ioError(ctx, "register "+strconv.Quote(n.Name)+" at", addr, err))
	}
	if result != 0 {
		return fail(fmt.Errorf("epmd: register %q at %s: %w (epmd result %d)", n.Name, addr, ErrNameTaken, result))
	}
	if !stop() {
		// ctx was cancelled just as the reply arrived; honour the cancel.
		return fail(fmt.Errorf("epmd: register %q at %s: %w", n.Name, addr, context.Cause(ctx)))
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return fail(fmt.Errorf("epmd: register %q at %s: clear deadline: %w", n.Name, addr, err))
	}
	r := &Registration{conn: conn, creation: creation, node: n, done: make(chan struct{})}
	go r.watch()
	return r, nil
}

// PortPlease asks EPMD for the node registered as name (the part of the node
// name before '@') and returns everything EPMD knows about it. An unknown
// name yields a *NotRegisteredError, which matches ErrNotRegistered.
func (c *Client) PortPlease(ctx context.Context, name string) (*NodeInfo, error) {
	addr := c.addr()
	req, err := encodePortPlease2Req(name)
	if err != nil {
		return nil, fmt.Errorf("epmd: port please %q: %w", name, err)
	}
	resp, err := c.roundTrip(ctx, req, maxPort2RespLen, "port please "+strconv.Quote(name)+" at")
	if err != nil {
		return nil, err
	}
	result, info, err := decodePort2Resp(resp)
	if err != nil {
		return nil, fmt.Errorf("epmd: port please %q at %s: %w", name, addr, err)
	}
	if result != 0 {
		return nil, &NotRegisteredError{Name: name, Addr: addr}
	}
	return info, nil
}

// Names lists the nodes registered with EPMD, in EPMD's order.
func (c *Client) Names(ctx context.Context) ([]NameEntry, error) {
	addr := c.addr()
	req, _ := appendRequest(nil, []byte{tagNamesReq})
	resp, err := c.roundTrip(ctx, req, maxNamesRespLen, "names at")
	if err != nil {
		return nil, err
	}
	_, names, err := decodeNamesResp(resp)
	if err != nil {
		return nil, fmt.Errorf("epmd: names at %s: %w", addr, err)
	}
	return names, nil
}

// roundTrip sends req and reads the reply until EPMD closes the connection,
// which it does after every request but ALIVE2.
func (c *Client) roundTrip(ctx context.Context, req []byte, limit int, op string) ([]byte, error) {
	addr := c.addr()
	conn, stop, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	defer conn.Close()
	if _, err := conn.Write(req); err != nil {
		return nil, ioError(ctx, op, addr, err)
	}
	resp, err := io.ReadAll(io.LimitReader(conn, int64(limit)+1))
	if err != nil {
		return nil, ioError(ctx, op, addr, err)
	}
	if len(resp) == 0 {
		return nil, fmt.Errorf("epmd: %s %s: connection closed without a reply", op, addr)
	}
	if len(resp) > limit {
		return nil, fmt.Errorf("epmd: %s %s: reply longer than %d bytes: %w", op, addr, limit, errMalformed)
	}
	return resp, nil
}
