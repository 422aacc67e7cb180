package handshake

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/internal/syncbuf"
)

// Interop with a real Erlang node over TCP (inet_tcp_dist).

func waitFor(t *testing.T, b *syncbuf.Buffer, substr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(b.String(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in output within %v; output:\n%s", substr, timeout, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startChild runs a process that is killed when the test ends.
func startChild(t *testing.T, env []string, name string, args ...string) *syncbuf.Buffer {
	t.Helper()
	out := &syncbuf.Buffer{}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), out.String())
		}
	})
	return out
}

// erlEnv starts a private epmd and returns the environment that points erl
// at it; erl also gets -start_epmd false so it never spawns a daemon.
func erlEnv(t *testing.T) (env []string, epmdPort int) {
	t.Helper()
	if _, err := exec.LookPath("erl"); err != nil {
		t.Skip("erl not on PATH: install erlang-nox")
	}
	epmd, err := exec.LookPath("epmd")
	if err != nil {
		matches, _ := filepath.Glob("/usr/lib/erlang/erts-*/bin/epmd")
		if len(matches) == 0 {
			t.Skip("epmd not found: install erlang-nox")
		}
		epmd = matches[0]
	}
	epmdPort = freePort(t)
	startChild(t, nil, epmd, "-port", strconv.Itoa(epmdPort), "-address", "127.0.0.1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", epmdPort))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("epmd did not listen on %d: %v", epmdPort, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// ERL_CRASH_DUMP_SECONDS=0: a failing erl must not leave erl_crash.dump here.
	return []string{"ERL_EPMD_PORT=" + strconv.Itoa(epmdPort), "ERL_CRASH_DUMP_SECONDS=0"}, epmdPort
}

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s%d_%d@127.0.0.1", prefix, os.Getpid(), rand.Uint32())
}

func erlArgs(name, eval string, extra ...string) []string {
	args := []string{"-name", name, "-setcookie", "c", "-noshell", "-start_epmd", "false",
		"-kernel", "inet_dist_use_interface", "{127,0,0,1}"}
	args = append(args, extra...)
	return append(args, "-eval", eval)
}

// TestErlAccepts has a real erl accept our Dial, as a visible and as a
// hidden node, and refuse a wrong cookie and missing flags.
func TestErlAccepts(t *testing.T) {
	env, _ := erlEnv(t)
	port := freePort(t)
	erlName := uniqueName("h")
	// Print every node that comes up, with its type.
	eval := `ok = net_kernel:monitor_nodes(true, [{node_type, all}]), io:format("ready~n"),
		(fun L() -> receive M -> io:format("~w~n", [M]) end, L() end)().`
	out := startChild(t, env, "erl", erlArgs(erlName, eval,
		"-kernel", "inet_dist_listen_min", strconv.Itoa(port), "inet_dist_listen_max", strconv.Itoa(port))...)
	waitFor(t, out, "ready", 30*time.Second)

	dial := func(cfg Config) (*Result, error) {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := Dial(ctx, NewTCPFramer(conn), cfg, erlName)
		if err != nil {
			conn.Close()
		}
		return res, err
	}

	for _, hidden := range []bool{false, true} {
		name := uniqueName("go")
		res, err := dial(Config{Name: name, Cookie: "c", Creation: rand.Uint32() | 1, Hidden: hidden})
		if err != nil {
			t.Fatalf("hidden=%v: %v", hidden, err)
		}
		if res.PeerName != erlName || res.Hidden || !res.OTP26Compatible || res.PeerCreation == 0 {
			t.Errorf("hidden=%v: result %+v", hidden, res)
		}
		// OTP offers the atom cache over TCP; we must not have negotiated it.
		if res.PeerFlags&FlagDistHdrAtomCache == 0 || res.Flags&FlagDistHdrAtomCache != 0 {
			t.Errorf("hidden=%v: peer flags %v, negotiated %v", hidden, res.PeerFlags, res.Flags)
		}
		if res.Flags.Has(FlagPublished) == hidden {
			t.Errorf("hidden=%v: negotiated %v", hidden, res.Flags)
		}
		typ := "visible"
		if hidden {
			typ = "hidden"
		}
		waitFor(t, out, fmt.Sprintf("{nodeup,'%s',[{node_type,%s}]}", name, typ), 10*time.Second)
	}

	_, err := dial(Config{Name: uniqueName("go"), Cookie: "wrong", Creation: 1})
	if !isCookieMismatch(err) {
		t.Errorf("wrong cookie: err = %v, want cookie mismatch", err)
	}

	_, err = dial(Config{Name: uniqueName("go"), Cookie: "c", Creation: 1,
		Flags: DefaultFlags &^ (FlagMapTag | FlagMandatory25Digest)})
	var se *StatusError
	if !errors.As(err, &se) || se.Status != StatusNotAllowed {
		t.Errorf("missing MAP_TAG: err = %v, want not_allowed from erl", err)
	}
}

// TestErlDials has a real erl dial us: our Accept against OTP's initiator,
// which checks the exact length of every message we send.
func TestErlDials(t *testing.T) {
	env, epmdPort := erlEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	goName := uniqueName("go")
	registerEPMD(t, epmdPort, goName, ln.Addr().(*net.TCPAddr).Port)

	for _, hidden := range []bool{false, true} {
		erlName := uniqueName("e")
		eval := fmt.Sprintf(`io:format("connect ~w~n", [net_kernel:connect_node('%s')]).`, goName)
		var extra []string
		if hidden {
			extra = []string{"-hidden"}
		}
		out := startChild(t, env, "erl", erlArgs(erlName, eval, extra...)...)

		conn := acceptWithin(t, ln, 30*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := Accept(ctx, NewTCPFramer(conn), Config{Name: goName, Cookie: "c", Creation: 77})
		cancel()
		if err != nil {
			conn.Close()
			t.Fatalf("hidden=%v: Accept: %v", hidden, err)
		}
		if res.PeerName != erlName || res.Hidden != hidden || res.Status != StatusOK || !res.OTP26Compatible {
			t.Errorf("hidden=%v: result %+v", hidden, res)
		}
		waitFor(t, out, "connect true", 10*time.Second)
		conn.Close()
	}
}

func acceptWithin(t *testing.T, ln net.Listener, d time.Duration) net.Conn {
	t.Helper()
	if err := ln.(*net.TCPListener).SetDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("erl did not connect: %v", err)
	}
	return conn
}

// registerEPMD publishes name at port in epmd (ALIVE2_REQ) for the rest of
// the test; the registration lasts as long as the connection.
func registerEPMD(t *testing.T, epmdPort int, name string, port int) {
	t.Helper()
	alive, _, _ := strings.Cut(name, "@")
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", epmdPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	body := []byte{120}
	body = binary.BigEndian.AppendUint16(body, uint16(port))
	body = append(body, 77, 0) // normal node, TCP/IPv4
	body = binary.BigEndian.AppendUint16(body, 6)
	body = binary.BigEndian.AppendUint16(body, 6)
	body = binary.BigEndian.AppendUint16(body, uint16(len(alive)))
	body = append(body, alive...)
	body = binary.BigEndian.AppendUint16(body, 0)
	req := binary.BigEndian.AppendUint16(nil, uint16(len(body)))
	if _, err := conn.Write(append(req, body...)); err != nil {
		t.Fatal(err)
	}
	resp := make([]byte, 2)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, resp); err != nil || resp[1] != 0 {
		t.Fatalf("epmd ALIVE2 for %s: %x, %v", alive, resp, err)
	}
}
