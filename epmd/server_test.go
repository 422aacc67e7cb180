package epmd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRegisterLookupNames(t *testing.T) {
	srv, c := startServer(t)
	ctx := testCtx(t)
	name := uniqueName("alpha")
	want := NodeInfo{
		Name: name, Port: 12345, Type: NodeTypeHidden, Protocol: ProtocolTCPIPv4,
		HighVersion: 6, LowVersion: 6, Extra: []byte("xy"),
	}
	reg, err := c.Register(ctx, want)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	defer reg.Close()
	if reg.Creation() < 4 {
		t.Errorf("creation %d: ALIVE2_X_RESP creations start at 4", reg.Creation())
	}
	got, err := c.PortPlease(ctx, name)
	if err != nil {
		t.Fatalf("PortPlease: %v", err)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("PortPlease = %+v, want %+v", *got, want)
	}
	names, err := c.Names(ctx)
	if err != nil {
		t.Fatalf("Names: %v", err)
	}
	if !hasName(names, name, 12345) {
		t.Errorf("Names = %v, missing %s at 12345", names, name)
	}
	if srv.Port() == 0 {
		t.Error("Port() = 0")
	}
}

func TestRegisterDefaults(t *testing.T) {
	_, c := startServer(t)
	ctx := testCtx(t)
	name := uniqueName("defaults")
	reg, err := c.Register(ctx, NodeInfo{Name: name, Port: 4000})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	got, err := c.PortPlease(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != NodeTypeNormal || got.HighVersion != 6 || got.LowVersion != 5 || got.Protocol != 0 || got.Extra != nil {
		t.Errorf("defaults not applied: %+v", got)
	}
	if reg.Node().Type != NodeTypeNormal {
		t.Errorf("Registration.Node().Type = %v", reg.Node().Type)
	}
}

func TestNameTaken(t *testing.T) {
	_, c := startServer(t)
	ctx := testCtx(t)
	name := uniqueName("dup")
	reg, err := c.Register(ctx, NodeInfo{Name: name, Port: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	_, err = c.Register(ctx, NodeInfo{Name: name, Port: 2})
	if !errors.Is(err, ErrNameTaken) {
		t.Fatalf("second Register err = %v, want ErrNameTaken", err)
	}
	if !strings.Contains(err.Error(), "name taken") || !strings.Contains(err.Error(), name) {
		t.Errorf("error text %q lacks 'name taken' or the name", err)
	}
	// The refused attempt must not disturb the first registration.
	got, err := c.PortPlease(ctx, name)
	if err != nil || got.Port != 1 {
		t.Errorf("after refused duplicate: %+v, %v", got, err)
	}
}

func TestNotRegistered(t *testing.T) {
	srv, c := startServer(t)
	name := uniqueName("ghost")
	_, err := c.PortPlease(testCtx(t), name)
	if !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("err = %v, want ErrNotRegistered", err)
	}
	var nre *NotRegisteredError
	if !errors.As(err, &nre) || nre.Name != name {
		t.Fatalf("err = %#v, want *NotRegisteredError for %s", err, name)
	}
	msg := err.Error()
	for _, part := range []string{"not registered in EPMD", name, srv.Addr().String()} {
		if !strings.Contains(msg, part) {
			t.Errorf("error %q lacks %q", msg, part)
		}
	}
}

func TestCloseUnregistersAndCreationChanges(t *testing.T) {
	_, c := startServer(t)
	ctx := testCtx(t)
	name := uniqueName("phoenix")
	seen := map[uint32]bool{}
	for i := range 4 {
		reg, err := c.Register(ctx, NodeInfo{Name: name, Port: uint16(1000 + i)})
		if err != nil {
			t.Fatalf("Register #%d: %v", i, err)
		}
		cr := reg.Creation()
		if cr == 0 || seen[cr] {
			t.Fatalf("Register #%d: creation %d is zero or repeats %v", i, cr, seen)
		}
		seen[cr] = true
		if err := reg.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := reg.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		select {
		case <-reg.Done():
		default:
			t.Fatal("Done not closed after Close")
		}
		if reg.Err() != nil {
			t.Errorf("Err after Close = %v, want nil", reg.Err())
		}
		waitUnregistered(t, c, name)
	}
}

func TestOldStyleAlive2Resp(t *testing.T) {
	srv, c := startServer(t)
	ctx := testCtx(t)
	name := uniqueName("v5")
	// A version 5 node gets the 16-bit ALIVE2_RESP with creation 1..3.
	req, err := encodeAlive2Req(NodeInfo{Name: name, Port: 7, Type: NodeTypeNormal, HighVersion: 5, LowVersion: 5})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	var resp [4]byte
	if _, err := conn.Read(resp[:]); err != nil {
		t.Fatal(err)
	}
	if resp[0] != tagAlive2Resp || resp[1] != 0 {
		t.Fatalf("reply %v, want ALIVE2_RESP ok", resp)
	}
	if cr := binary.BigEndian.Uint16(resp[2:]); cr < 1 || cr > 3 {
		t.Errorf("creation %d, want 1..3", cr)
	}
	// And the client accepts that form too.
	name2 := uniqueName("v5c")
	reg, err := c.Register(ctx, NodeInfo{Name: name2, Port: 8, HighVersion: 5, LowVersion: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if cr := reg.Creation(); cr < 1 || cr > 3 {
		t.Errorf("client creation %d, want 1..3", cr)
	}
}

func TestNamesWireFormat(t *testing.T) {
	srv, c := startServer(t)
	ctx := testCtx(t)
	a, b := uniqueName("na"), uniqueName("nb")
	ra, err := c.Register(ctx, NodeInfo{Name: a, Port: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	rb, err := c.Register(ctx, NodeInfo{Name: b, Port: 65535})
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	got := rawExchange(t, srv.Addr().String(), []byte{0, 1, tagNamesReq})
	want := binary.BigEndian.AppendUint32(nil, uint32(srv.Port()))
	want = append(want, "name "+b+" at port 65535\nname "+a+" at port 1\n"...)
	if !bytes.Equal(got, want) {
		t.Errorf("NAMES_RESP = %q, want %q", got, want)
	}
}

func TestServerRefusesBadRequests(t *testing.T) {
	// A short read timeout, so the truncated request is dropped quickly.
	srv, c := startServer(t, WithReadTimeout(200*time.Millisecond))
	addr := srv.Addr().String()
	alive := func(nlen, elen uint16, name string) []byte {
		b := []byte{tagAlive2Req, 0, 1, 77, 0, 0, 6, 0, 6}
		b = binary.BigEndian.AppendUint16(b, nlen)
		b = append(b, name...)
		return binary.BigEndian.AppendUint16(b, elen)
	}
	frame := func(body []byte) []byte {
		return append(binary.BigEndian.AppendUint16(nil, uint16(len(body))), body...)
	}
	cases := map[string][]byte{
		"zero length":          {0, 0},
		"oversized length":     {0xff, 0xff, tagNamesReq},
		"just over the limit":  append(binary.BigEndian.AppendUint16(nil, maxRequestLen+1), tagNamesReq),
		"truncated body":       {0, 10, tagNamesReq},
		"unknown tag":          frame([]byte{200}),
		"alive2 too short":     frame([]byte{tagAlive2Req, 1, 2, 3}),
		"alive2 name overrun":  frame(alive(500, 0, "abc")),
		"alive2 extra overrun": frame(alive(3, 9, "abc")),
		"port please empty":    frame([]byte{tagPortPlease2Req}),
		"port please NUL":      frame([]byte{tagPortPlease2Req, 'a', 0, 'b'}),
		"port please bad utf8": frame([]byte{tagPortPlease2Req, 0xff}),
		"dump":                 frame([]byte{tagDumpReq}),
		"stop":                 frame([]byte{tagStopReq, 'x'}),
	}
	for name, req := range cases {
		if got := rawExchange(t, addr, req); len(got) != 0 {
			t.Errorf("%s: server replied %q, want a silent close", name, got)
		}
	}
	// ALIVE2 with a structurally fine but invalid name is refused with
	// result 1, as epmd's node_reg2 does.
	bad := frame(alive(2, 0, "\xff\xfe"))
	if got := rawExchange(t, addr, bad); !bytes.Equal(got, []byte{tagAlive2XResp, 1, 0, 0, 0, 99}) {
		t.Errorf("invalid name: reply %v, want refusal", got)
	}
	// The server still serves.
	if _, err := c.Names(testCtx(t)); err != nil {
		t.Fatalf("Names after bad requests: %v", err)
	}
}

func TestKillRefused(t *testing.T) {
	srv, c := startServer(t)
	if got := rawExchange(t, srv.Addr().String(), []byte{0, 1, tagKillReq}); string(got) != "NO" {
		t.Errorf("KILL_REQ reply %q, want NO", got)
	}
	if _, err := c.Names(testCtx(t)); err != nil {
		t.Fatalf("server gone after KILL_REQ: %v", err)
	}
}

func TestServerReadTimeout(t *testing.T) {
	srv, _ := startServer(t, WithReadTimeout(50*time.Millisecond))
	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	// Half a header, then silence: the server must hang up on its own.
	if _, err := conn.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if n, err := conn.Read(b[:]); n != 0 || err == nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		t.Errorf("Read = %d, %v; want the server to close the connection", n, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestMaxConns(t *testing.T) {
	srv, c := startServer(t, WithMaxConns(1))
	ctx := testCtx(t)
	reg, err := c.Register(ctx, NodeInfo{Name: uniqueName("only"), Port: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The registration holds the only slot, so the next connection is
	// dropped without a reply.
	if got := rawExchange(t, srv.Addr().String(), []byte{0, 1, tagNamesReq}); len(got) != 0 {
		t.Errorf("over the limit: got reply %q", got)
	}
	reg.Close()
	waitFor(t, "a free connection slot", func() bool {
		_, err := c.Names(ctx)
		return err == nil
	})
}

func TestRegistrationLostWhenServerCloses(t *testing.T) {
	srv, err := Start(context.Background(), "127.0.0.1:0", WithLogger(quietLog))
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(srv.Addr().String())
	reg, err := c.Register(testCtx(t), NodeInfo{Name: uniqueName("orphan"), Port: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reg.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("registration did not notice the server closing")
	}
	if reg.Err() == nil || !strings.Contains(reg.Err().Error(), "lost") {
		t.Errorf("Err = %v, want a lost-registration error", reg.Err())
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestConnectError(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	_, err := NewClient(addr).Names(testCtx(t))
	if err == nil {
		t.Fatal("Names against a closed port succeeded")
	}
	for _, part := range []string{"epmd: connect " + addr, "is epmd running?"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q lacks %q", err, part)
		}
	}
}

func TestContextBoundsCalls(t *testing.T) {
	// A listener that accepts and never answers, like a wedged epmd.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := make(chan net.Conn, 4)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				close(held)
				return
			}
			held <- conn
		}
	}()
	defer func() {
		ln.Close()
		for conn := range held {
			conn.Close()
		}
	}()
	c := NewClient(ln.Addr().String())

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Register(ctx, NodeInfo{Name: "slow", Port: 1}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Register err = %v, want DeadlineExceeded", err)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel2)
	if _, err := c.PortPlease(ctx2, "slow"); !errors.Is(err, context.Canceled) {
		t.Errorf("PortPlease err = %v, want Canceled", err)
	}

	c.Timeout = 50 * time.Millisecond
	if _, err := c.Names(context.Background()); err == nil || !isTimeout(errors.Unwrap(err)) && !strings.Contains(err.Error(), "timeout") {
		t.Errorf("Names err = %v, want a timeout from Client.Timeout", err)
	}
}

func TestCreationCounter(t *testing.T) {
	srv, c := startServer(t)
	srv.mu.Lock()
	srv.seed = math.MaxUint32
	srv.mu.Unlock()
	reg, err := c.Register(testCtx(t), NodeInfo{Name: uniqueName("wrap"), Port: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	// MaxUint32+1 wraps to 0, and 0..3 are skipped like epmd does.
	if reg.Creation() != 4 {
		t.Errorf("creation after wrap = %d, want 4", reg.Creation())
	}
	for cnt, want := range map[uint32]uint32{4: 2, 5: 3, 6: 1} {
		if got := creationFor(5, cnt); got != want {
			t.Errorf("creationFor(5, %d) = %d, want %d", cnt, got, want)
		}
	}
}

func TestUnregBounded(t *testing.T) {
	srv, c := startServer(t)
	ctx := testCtx(t)
	// Many unregistrations of one name keep a single remembered counter.
	name := uniqueName("churn")
	for range 5 {
		reg, err := c.Register(ctx, NodeInfo{Name: name, Port: 1})
		if err != nil {
			t.Fatal(err)
		}
		reg.Close()
		waitUnregistered(t, c, name)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.unreg) != 1 {
		t.Errorf("unreg holds %d names, want 1", len(srv.unreg))
	}
	for i := range maxUnreg + 10 {
		srv.seq++
		n := "n" + strconv.Itoa(i)
		srv.unreg[n] = unregistered{counter: 9, gen: srv.seq}
		srv.order = append(srv.order, unregKey{n, srv.seq})
	}
	srv.nodes["victim"] = &registered{conn: nil}
	srv.mu.Unlock()
	srv.unregister(nil, "victim")
	srv.mu.Lock()
	if len(srv.unreg) > maxUnreg {
		t.Errorf("unreg holds %d names, want at most %d", len(srv.unreg), maxUnreg)
	}
}

func TestEnsureServer(t *testing.T) {
	ctx := testCtx(t)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	srv, err := EnsureServer(ctx, addr, WithLogger(quietLog))
	if err != nil || srv == nil {
		t.Fatalf("EnsureServer on a free port = %v, %v; want a server", srv, err)
	}
	defer srv.Close()
	again, err := EnsureServer(ctx, addr, WithLogger(quietLog))
	if err != nil || again != nil {
		t.Fatalf("EnsureServer with one running = %v, %v; want nil, nil", again, err)
	}

	// Stage the race: the probe sees nothing, but by the time we listen
	// someone holds the port.
	orig := listening
	listening = func(context.Context, string) bool { return false }
	defer func() { listening = orig }()
	raced, err := EnsureServer(ctx, addr, WithLogger(quietLog))
	if err != nil || raced != nil {
		t.Fatalf("EnsureServer losing the race = %v, %v; want nil, nil", raced, err)
	}

	// Errors other than "address in use" are reported.
	if s, err := EnsureServer(ctx, "256.0.0.1:1", WithLogger(quietLog)); err == nil {
		s.Close()
		t.Error("EnsureServer on an invalid address succeeded")
	}
}

func TestPortFromEnv(t *testing.T) {
	t.Setenv("ERL_EPMD_PORT", "4370")
	if Port() != 4370 || DefaultAddr() != "127.0.0.1:4370" {
		t.Errorf("Port() = %d, DefaultAddr() = %s with ERL_EPMD_PORT=4370", Port(), DefaultAddr())
	}
	t.Setenv("ERL_EPMD_PORT", "junk")
	if Port() != DefaultPort {
		t.Errorf("Port() = %d with a junk ERL_EPMD_PORT", Port())
	}
	t.Setenv("ERL_EPMD_PORT", "")
	if Port() != DefaultPort || (&Client{}).addr() != "127.0.0.1:4369" {
		t.Errorf("defaults: Port() = %d, addr %s", Port(), (&Client{}).addr())
	}
	if AddrForHost("::1") != "[::1]:4369" {
		t.Errorf("AddrForHost(::1) = %s", AddrForHost("::1"))
	}
}

func TestClientRejectsBadNames(t *testing.T) {
	c := NewClient("127.0.0.1:1") // never dialled: validation comes first
	ctx := testCtx(t)
	for _, name := range []string{"", "a\x00b", "\xff", strings.Repeat("é", 256)} {
		if _, err := c.Register(ctx, NodeInfo{Name: name}); err == nil || strings.Contains(err.Error(), "connect") {
			t.Errorf("Register(%q) err = %v, want a validation error", name, err)
		}
		if _, err := c.PortPlease(ctx, name); err == nil || strings.Contains(err.Error(), "connect") {
			t.Errorf("PortPlease(%q) err = %v, want a validation error", name, err)
		}
	}
	if _, err := c.Register(ctx, NodeInfo{Name: "x", Extra: make([]byte, MaxExtraLen+1)}); err == nil {
		t.Error("Register with oversized Extra succeeded")
	}
}
