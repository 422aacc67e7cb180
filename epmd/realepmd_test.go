package epmd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func findEpmd() string {
	if p, err := exec.LookPath("epmd"); err == nil {
		return p
	}
	if m, _ := filepath.Glob("/usr/lib/erlang/erts-*/bin/epmd"); len(m) > 0 {
		return m[0]
	}
	return ""
}

// startRealEpmd runs OTP's epmd in the foreground on a free loopback port
// and kills it when the test ends.
func startRealEpmd(t *testing.T) *Client {
	t.Helper()
	bin := findEpmd()
	if bin == "" {
		t.Skip("epmd not found: install erlang-base")
	}
	port := freePort(t)
	cmd := exec.Command(bin, "-port", strconv.Itoa(port))
	cmd.Env = append(cmd.Environ(), "ERL_EPMD_ADDRESS=127.0.0.1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start epmd: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	waitFor(t, "epmd to listen on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return NewClient(addr)
}

func TestRealEpmd(t *testing.T) {
	c := startRealEpmd(t)
	ctx := testCtx(t)
	name := uniqueName("go")
	want := NodeInfo{
		Name: name, Port: 23456, Type: NodeTypeHidden, Protocol: ProtocolTCPIPv4,
		HighVersion: 6, LowVersion: 6, Extra: []byte{1, 2, 3},
	}
	reg, err := c.Register(ctx, want)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	first := reg.Creation()
	if first < 4 {
		t.Errorf("creation %d from real epmd, want >= 4", first)
	}
	got, err := c.PortPlease(ctx, name)
	if err != nil {
		t.Fatalf("PortPlease: %v", err)
	}
	if got.Name != want.Name || got.Port != want.Port || got.Type != want.Type || got.Protocol != want.Protocol ||
		got.HighVersion != want.HighVersion || got.LowVersion != want.LowVersion || !bytes.Equal(got.Extra, want.Extra) {
		t.Errorf("PortPlease = %+v, want %+v", got, want)
	}
	names, err := c.Names(ctx)
	if err != nil {
		t.Fatalf("Names: %v", err)
	}
	if !hasName(names, name, 23456) {
		t.Errorf("Names = %v, missing %s", names, name)
	}

	// epmd refuses a duplicate with result 1.
	if _, err := c.Register(ctx, NodeInfo{Name: name, Port: 1}); !errors.Is(err, ErrNameTaken) {
		t.Errorf("duplicate Register err = %v, want ErrNameTaken", err)
	}
	if _, err := c.PortPlease(ctx, uniqueName("ghost")); !errors.Is(err, ErrNotRegistered) {
		t.Errorf("PortPlease of unknown name err = %v, want ErrNotRegistered", err)
	}

	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	waitUnregistered(t, c, name)
	reg2, err := c.Register(ctx, NodeInfo{Name: name, Port: 23457})
	if err != nil {
		t.Fatalf("re-Register: %v", err)
	}
	defer reg2.Close()
	if reg2.Creation() == first || reg2.Creation() == 0 {
		t.Errorf("creation after re-register = %d, first was %d", reg2.Creation(), first)
	}

	// A version 5 registration gets the 16-bit form.
	reg5, err := c.Register(ctx, NodeInfo{Name: uniqueName("old"), Port: 5, HighVersion: 5, LowVersion: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer reg5.Close()
	if cr := reg5.Creation(); cr < 1 || cr > 3 {
		t.Errorf("v5 creation %d, want 1..3", cr)
	}
}

// TestEmbeddedMatchesRealEpmd sends the same requests to OTP's epmd and to
// the embedded server and compares the raw replies.
func TestEmbeddedMatchesRealEpmd(t *testing.T) {
	real := startRealEpmd(t)
	srv, emb := startServer(t)
	ctx := testCtx(t)
	name := uniqueName("twin")
	node := NodeInfo{Name: name, Port: 4242, Type: NodeTypeNormal, HighVersion: 6, LowVersion: 5, Extra: []byte("e")}
	for _, c := range []*Client{real, emb} {
		reg, err := c.Register(ctx, node)
		if err != nil {
			t.Fatalf("Register at %s: %v", c.Addr, err)
		}
		defer reg.Close()
	}
	pp, err := encodePortPlease2Req(name)
	if err != nil {
		t.Fatal(err)
	}
	ghost, _ := encodePortPlease2Req(uniqueName("ghost"))
	alive, _ := encodeAlive2Req(node)
	alive5 := bytes.Clone(alive)
	binary.BigEndian.PutUint16(alive5[2+5:], 5) // highest version 5
	nulTerminated, _ := appendRequest(nil, append([]byte{tagPortPlease2Req}, name+"\x00"...))
	for what, req := range map[string][]byte{
		"PORT_PLEASE2 known":     pp,
		"PORT_PLEASE2 NUL-ended": nulTerminated,
		"PORT_PLEASE2 unknown":   ghost,
		"KILL with live nodes":   {0, 1, tagKillReq},
		"oversized":              {0xff, 0xff, tagNamesReq},
		"unknown tag":            {0, 1, 200},
	} {
		r := rawExchange(t, real.Addr, req)
		e := rawExchange(t, srv.Addr().String(), req)
		if !bytes.Equal(r, e) {
			t.Errorf("%s: epmd replied %v, embedded %v", what, r, e)
		}
	}
	// epmd keeps a refused ALIVE2 connection open (the embedded server
	// closes it), so compare just the reply.
	for what, req := range map[string][]byte{"ALIVE2 duplicate": alive, "ALIVE2 duplicate v5": alive5} {
		r := rawReply(t, real.Addr, req)
		e := rawReply(t, srv.Addr().String(), req)
		if !bytes.Equal(r, e) {
			t.Errorf("%s: epmd replied %v, embedded %v", what, r, e)
		}
	}
	// NAMES differs only in the 4-byte port.
	r := rawExchange(t, real.Addr, []byte{0, 1, tagNamesReq})
	e := rawExchange(t, srv.Addr().String(), []byte{0, 1, tagNamesReq})
	if len(r) < 4 || len(e) < 4 || !bytes.Equal(r[4:], e[4:]) {
		t.Errorf("NAMES: epmd %q, embedded %q", r, e)
	}
	realPort, _ := strconv.Atoi(real.Addr[len("127.0.0.1:"):])
	if len(r) >= 4 && binary.BigEndian.Uint32(r) != uint32(realPort) {
		t.Errorf("epmd NAMES port %d, want %d", binary.BigEndian.Uint32(r), realPort)
	}
}

// rawReply sends an ALIVE2_REQ and reads one ALIVE2 reply, raw.
func rawReply(t *testing.T, addr string, req []byte) []byte {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	if _, err := io.ReadFull(conn, b[:1]); err != nil {
		t.Fatalf("%s: %v", addr, err)
	}
	n := 4
	if b[0] == tagAlive2XResp {
		n = 6
	}
	if _, err := io.ReadFull(conn, b[1:n]); err != nil {
		t.Fatalf("%s: %v", addr, err)
	}
	return b[:n]
}
