// Package barrelharness starts real barrel_p2p nodes (Erlang/OTP >= 27 with
// barrel_p2p, erlang_quic, hlc and instrument on ERL_LIBS) next to Go tests
// and drives them over a private control socket. The interop suite uses it
// to check barrelgo's QUIC carrier and Ed25519 auth against the real thing;
// BARREL_P2P_ERL and BARREL_P2P_ERL_LIBS say where that Erlang lives.
package barrelharness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/internal/barrelenv"
	"github.com/barrelgo/barrelgo/interop/erlharness"
)

// Environment variables the harness reads (see internal/barrelenv).
const (
	EnvErl  = barrelenv.EnvErl
	EnvLibs = barrelenv.EnvLibs
)

// SkipMessage is the one line tests skip with when the environment is not
// set.
const SkipMessage = barrelenv.SkipMessage

// ProbeModule is the Erlang module (rebar_test_app/src) every node loads.
const ProbeModule = "barrel_probe"

// Env is where the barrel_p2p Erlang lives.
type Env = barrelenv.Env

// FromEnv reads BARREL_P2P_ERL and BARREL_P2P_ERL_LIBS; ok is false unless
// both are set.
func FromEnv() (Env, bool) { return barrelenv.FromEnv() }

// Require returns the environment or skips the test with SkipMessage.
func Require(t testing.TB) Env {
	t.Helper()
	return barrelenv.Require(t)
}

// Options describe one barrel_p2p node.
type Options struct {
	// Name is the full node name; "alive@127.0.0.1" long names.
	Name string
	// Dir holds the node's state: keys/ (Ed25519 identity and pins),
	// quic/ (TLS cert), data/ (barrel_p2p's other defaults, as the VM runs
	// there) and console.log. It survives Restart. It must be visible at
	// the same path to the VM (it is, under the OS temp dir, with the
	// chroot wrapper described in interop/README.md).
	Dir string
	// DiscoveryDir is barrel_p2p's discovery_dir; Go nodes publish their
	// .endpoint files there.
	DiscoveryDir string
	// Port is the UDP dist port; 0 picks a free one once, kept across
	// restarts.
	Port int
	// Cookie is barrel_p2p's dist_cookie (also passed as -setcookie).
	Cookie string
	// AuthDisabled sets auth_enabled = false.
	AuthDisabled bool
	// TrustMode is auth_trust_mode ("tofu" when empty, or "strict").
	TrustMode string
	// ContactNodes are barrel_p2p's contact_nodes.
	ContactNodes []string
	// AppEnv are more barrel_p2p application variables, each value in
	// Erlang term syntax (e.g. "dist_gc_min_age_ms": "2000").
	AppEnv map[string]string
	// Args are extra erl arguments.
	Args []string
	// ReadyTimeout bounds boot (60 s when 0).
	ReadyTimeout time.Duration
}

// Node is a running (or stopped) barrel_p2p node.
type Node struct {
	env  Env
	opts Options
	name etf.Atom

	mu  sync.Mutex
	cur *instance
}

// instance is one boot of the VM.
type instance struct {
	cmd    *exec.Cmd
	ctl    *erlharness.Control
	log    *os.File
	exited chan struct{}
	err    error // Wait's result, set before exited closes
}

// Start boots a node and waits until barrel_p2p and the probe are up.
func Start(ctx context.Context, env Env, opts Options) (*Node, error) {
	if opts.Name == "" || opts.Dir == "" || opts.DiscoveryDir == "" {
		return nil, errors.New("barrelharness: Name, Dir and DiscoveryDir are required")
	}
	if opts.Cookie == "" {
		opts.Cookie = "barrel_p2p"
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	if opts.Port == 0 {
		p, err := FreeUDPPort()
		if err != nil {
			return nil, err
		}
		opts.Port = p
	}
	for _, d := range []string{opts.Dir, opts.DiscoveryDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("barrelharness: %w", err)
		}
	}
	if err := copyProbe(opts.Dir); err != nil {
		return nil, err
	}
	n := &Node{env: env, opts: opts, name: etf.Atom(opts.Name)}
	if err := n.boot(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

// StartT is Start for tests: the node is killed in t.Cleanup and its
// console is logged if the test failed.
func StartT(t testing.TB, opts Options) *Node {
	t.Helper()
	env := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	n, err := Start(ctx, env, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Kill()
		if t.Failed() {
			t.Logf("console of %s (tail):\n%s", n.Name(), n.ConsoleTail(16<<10))
		}
	})
	return n
}

// copyProbe puts the probe's source in the node's directory: the VM
// compiles it at boot, so whatever erl the environment names compiles it
// for its own release, and only Dir has to be visible to it.
func copyProbe(dir string) error {
	src, err := erlharness.TestAppSrc()
	if err != nil {
		return fmt.Errorf("barrelharness: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(src, ProbeModule+".erl"))
	if err != nil {
		return fmt.Errorf("barrelharness: probe source: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ProbeModule+".erl"), b, 0o644); err != nil {
		return fmt.Errorf("barrelharness: %w", err)
	}
	return nil
}

// Name is the node name.
func (n *Node) Name() etf.Atom { return n.name }

// Port is the node's UDP dist port.
func (n *Node) Port() int { return n.opts.Port }

// Options returns the options the node runs with (Port filled in).
func (n *Node) Options() Options { return n.opts }

// KeyDir is barrel_p2p's auth_key_dir of this node.
func (n *Node) KeyDir() string { return filepath.Join(n.opts.Dir, "keys") }

// CertDir is the node's TLS cert directory (-barrel_p2p_dist_cert_dir).
func (n *Node) CertDir() string { return filepath.Join(n.opts.Dir, "quic") }

// args is the erl command line: how barrel_p2p is booted (transport.md
// §6 and Appendix C, auth.md §9/§16).
func (n *Node) args(ctlPort int) []string {
	o := n.opts
	a := []string{
		"-name", o.Name, "-setcookie", o.Cookie, "-noinput",
		"-proto_dist", "barrel_p2p", "-epmd_module", "barrel_p2p_epmd", "-start_epmd", "false",
		"-barrel_p2p_dist_port", strconv.Itoa(o.Port),
		"-barrel_p2p_dist_cert_dir", n.CertDir(),
		// barrel_p2p sets this after global has started, where it has no
		// effect (transport.md Appendix C.5); operators set it up front.
		"-kernel", "prevent_overlapping_partitions", "false",
	}
	trust := o.TrustMode
	if trust == "" {
		trust = "tofu"
	}
	env := map[string]string{
		"dist_cookie":     quoteAtom(o.Cookie),
		"auth_enabled":    strconv.FormatBool(!o.AuthDisabled),
		"auth_trust_mode": trust,
		"auth_key_dir":    strconv.Quote(n.KeyDir()),
		"discovery_dir":   strconv.Quote(o.DiscoveryDir),
	}
	if len(o.ContactNodes) > 0 {
		q := make([]string, len(o.ContactNodes))
		for i, c := range o.ContactNodes {
			q[i] = quoteAtom(c)
		}
		env["contact_nodes"] = "[" + strings.Join(q, ",") + "]"
	}
	for k, v := range o.AppEnv {
		env[k] = v
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a = append(a, "-barrel_p2p", k, env[k])
	}
	a = append(a, o.Args...)
	src := strconv.Quote(filepath.Join(o.Dir, ProbeModule+".erl"))
	a = append(a, "-eval", fmt.Sprintf(
		`{ok,M,B}=compile:file(%s,[binary,report]),{module,M}=code:load_binary(M,%s,B),%s:start(%d)`,
		src, src, ProbeModule, ctlPort))
	return a
}

// quoteAtom writes s as an Erlang atom literal.
func quoteAtom(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func (n *Node) boot(ctx context.Context) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("barrelharness: control listener: %w", err)
	}
	defer ln.Close()
	logf, err := os.OpenFile(filepath.Join(n.opts.Dir, "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("barrelharness: %w", err)
	}
	fmt.Fprintf(logf, "==== boot %s at %s\n", n.opts.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(n.env.Erl, n.args(ln.Addr().(*net.TCPAddr).Port)...)
	cmd.Dir = n.opts.Dir
	cmd.Env = append(os.Environ(), "ERL_LIBS="+n.env.Libs, "ERL_CRASH_DUMP_SECONDS=0")
	cmd.Stdout, cmd.Stderr = logf, logf
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("barrelharness: start %s: %w", n.env.Erl, err)
	}
	in := &instance{cmd: cmd, log: logf, exited: make(chan struct{})}
	go func() {
		in.err = cmd.Wait()
		close(in.exited)
	}()
	fail := func(err error) error {
		killGroup(cmd)
		<-in.exited
		logf.Close()
		return fmt.Errorf("barrelharness: boot %s: %w\n%s", n.opts.Name, err, tail(filepath.Join(n.opts.Dir, "console.log"), 8<<10))
	}
	ctx, cancel := context.WithTimeout(ctx, n.opts.ReadyTimeout)
	defer cancel()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	var c net.Conn
	select {
	case a := <-ch:
		if a.err != nil {
			return fail(a.err)
		}
		c = a.c
	case <-in.exited:
		return fail(fmt.Errorf("erl exited: %v", in.err))
	case <-ctx.Done():
		ln.Close()
		if a := <-ch; a.c != nil {
			a.c.Close()
		}
		return fail(ctx.Err())
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	hello, err := erlharness.ReadControlFrame(c)
	if err != nil {
		c.Close()
		return fail(fmt.Errorf("ready frame: %w", err))
	}
	_ = c.SetReadDeadline(time.Time{})
	t, err := etf.Decode(hello)
	if tup, ok := t.(etf.Tuple); err != nil || !ok || len(tup) != 2 || tup[0] != etf.Atom("ready") || tup[1] != n.name {
		c.Close()
		return fail(fmt.Errorf("unexpected ready frame %s (%v)", etf.Format(t), err))
	}
	in.ctl = erlharness.NewControl(c)
	n.mu.Lock()
	n.cur = in
	n.mu.Unlock()
	return nil
}

// CallError is an exception raised by the called function on the node.
type CallError struct {
	Class, Reason etf.Term
}

func (e *CallError) Error() string {
	return fmt.Sprintf("barrelharness: %s:%s", etf.Format(e.Class), etf.Format(e.Reason))
}

// Call applies Module:Function(Args...) on the node, in a fresh process,
// and returns its result. An exception comes back as *CallError.
func (n *Node) Call(ctx context.Context, module, function string, args ...etf.Term) (etf.Term, error) {
	n.mu.Lock()
	in := n.cur
	n.mu.Unlock()
	if in == nil {
		return nil, fmt.Errorf("barrelharness: %s is not running", n.name)
	}
	ok, val, err := in.ctl.Request(ctx, func(id int64) etf.Term {
		return etf.Tuple{id, etf.Atom(module), etf.Atom(function), etf.List(args)}
	})
	if err != nil {
		return nil, fmt.Errorf("barrelharness: %s:%s on %s: %w", module, function, n.name, err)
	}
	if !ok {
		ce := &CallError{Class: val, Reason: etf.Atom("unknown")}
		if t, ok := val.(etf.Tuple); ok && len(t) == 2 {
			ce.Class, ce.Reason = t[0], t[1]
		}
		return nil, ce
	}
	return val, nil
}

// Probe calls a barrel_probe function.
func (n *Node) Probe(ctx context.Context, function string, args ...etf.Term) (etf.Term, error) {
	return n.Call(ctx, ProbeModule, function, args...)
}

// Pid is the OS pid of the running VM, 0 when not running.
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cur == nil {
		return 0
	}
	return n.cur.cmd.Process.Pid
}

// Exited is closed when the current VM exits (nil when not running).
func (n *Node) Exited() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cur == nil {
		return nil
	}
	return n.cur.exited
}

// Kill sends SIGKILL to the VM (kill -9: no QUIC CONNECTION_CLOSE reaches
// its peers) and reaps it and anything it started. Safe to call when the
// node is not running.
func (n *Node) Kill() {
	n.mu.Lock()
	in := n.cur
	n.cur = nil
	n.mu.Unlock()
	if in == nil {
		return
	}
	_ = in.cmd.Process.Kill()
	<-in.exited
	killGroup(in.cmd)
	in.ctl.Close()
	in.log.Close()
}

// Stop asks the VM to stop (init:stop/0) and waits for it; it is killed if
// it does not exit before ctx ends.
func (n *Node) Stop(ctx context.Context) error {
	n.mu.Lock()
	in := n.cur
	n.mu.Unlock()
	if in == nil {
		return nil
	}
	_, _ = n.Call(ctx, "init", "stop")
	select {
	case <-in.exited:
	case <-ctx.Done():
	}
	n.Kill()
	return nil
}

// Restart boots the node again with the same options and directory (same
// name, keys, cert and port). The current VM, if any, is killed first.
func (n *Node) Restart(ctx context.Context) error {
	n.Kill()
	return n.boot(ctx)
}

// ConsoleTail returns the last max bytes of everything the node's VMs
// wrote to stdout and stderr.
func (n *Node) ConsoleTail(max int) string {
	return tail(filepath.Join(n.opts.Dir, "console.log"), max)
}

func tail(path string, max int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// FreeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func FreeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("barrelharness: free udp port: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// UniqueName returns prefix plus a random suffix, a node alive part no
// other test run uses.
func UniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
