package erlharness

import (
	"context"
	_ "embed"
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
	"sync"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/epmd"
	"github.com/barrelgo/barrelgo/etf"
)

// Environment variables naming the barrel_p2p Erlang (OTP 27 or later with
// barrel_p2p and its dependencies on ERL_LIBS), shared with barrelharness.
const (
	EnvBarrelErl  = "BARREL_P2P_ERL"
	EnvBarrelLibs = "BARREL_P2P_ERL_LIBS"
)

// probeModule is compiled by every Node at boot, from source, so that any
// erl release runs it.
const probeModule = "erlharness_node_probe"

//go:embed erlharness_node_probe.erl
var probeSource []byte

// NodeOptions describe a distributed Erlang node for a Go test.
type NodeOptions struct {
	// Name is the long node name; "erlh<random>@127.0.0.1" when empty.
	Name string
	// Cookie is the distribution cookie (required).
	Cookie string
	// Hidden starts the node with -hidden.
	Hidden bool
	// EPMDPort is the EPMD the node registers with (ERL_EPMD_PORT). An EPMD
	// must already listen there: a Go node's embedded one, epmd.Start, or
	// the system epmd on 4369. When 0, the Node starts a private EPMD on a
	// free loopback port and closes it on Stop; Go nodes reach it at
	// EPMDAddr.
	EPMDPort int
	// Erl is the erl to run. Empty means erl on PATH, else $BARREL_P2P_ERL
	// (with $BARREL_P2P_ERL_LIBS as ERL_LIBS) when set.
	Erl string
	// ErlLibs is ERL_LIBS for the VM (applications it can start).
	ErlLibs string
	// CodePaths are added with -pa (ebin directories, e.g. from Compile).
	CodePaths []string
	// Args are extra erl arguments (e.g. "-kernel", "net_ticktime", "10").
	Args []string
	// Env are extra environment variables, "KEY=value".
	Env []string
	// Dir is the VM's working directory; a fresh temporary directory when
	// empty (removed on Stop). Modules loaded from source are copied there,
	// so it must be visible to the VM at the same path.
	Dir string
	// ReadyTimeout bounds boot (30 s when 0).
	ReadyTimeout time.Duration
}

// Node is a running distributed Erlang VM driven from Go over a private
// control socket.
type Node struct {
	name    etf.Atom
	release string
	dir     string
	ownDir  bool
	epmd    *epmd.Server
	port    int
	cmd     *exec.Cmd
	ctl     net.Conn
	out     tailBuffer
	outDone chan struct{}
	exited  chan struct{}
	waitErr error

	control *Control // once the node is ready

	stopOnce sync.Once
}

// ErlError is an exception raised on the node by an Apply, Eval or Load.
type ErlError struct {
	Class      etf.Atom // error, exit or throw
	Reason     etf.Term
	Stacktrace etf.Term
}

func (e *ErlError) Error() string {
	return fmt.Sprintf("erlharness: %s:%s", e.Class, etf.Format(e.Reason))
}

// FindErl returns the erl a Node runs by default and the ERL_LIBS that goes
// with it: erl on PATH, else the barrel_p2p environment.
func FindErl() (erl, libs string, err error) {
	if p, err := ErlPath(); err == nil {
		return p, "", nil
	}
	if e := os.Getenv(EnvBarrelErl); e != "" {
		return e, os.Getenv(EnvBarrelLibs), nil
	}
	return "", "", fmt.Errorf("erlharness: no erl on PATH and %s is not set", EnvBarrelErl)
}

// BarrelErl returns the barrel_p2p environment's erl and ERL_LIBS, ok false
// unless both variables are set.
func BarrelErl() (erl, libs string, ok bool) {
	erl, libs = os.Getenv(EnvBarrelErl), os.Getenv(EnvBarrelLibs)
	return erl, libs, erl != "" && libs != ""
}

// StartNode boots a distributed erl VM and waits until it is registered
// with EPMD and its probe has connected back. ctx bounds the boot only;
// Stop ends the node.
func StartNode(ctx context.Context, opts NodeOptions) (*Node, error) {
	if opts.Cookie == "" {
		return nil, errors.New("erlharness: NodeOptions.Cookie is required")
	}
	if opts.Name == "" {
		opts.Name = fmt.Sprintf("erlh%d@127.0.0.1", rand.IntN(1e9))
	}
	if !strings.Contains(opts.Name, "@") {
		return nil, fmt.Errorf("erlharness: node name %q is not alive@host", opts.Name)
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	erl, libs := opts.Erl, opts.ErlLibs
	if erl == "" {
		var err error
		var found string
		if erl, found, err = FindErl(); err != nil {
			return nil, err
		}
		if libs == "" {
			libs = found
		}
	}
	n := &Node{name: etf.Atom(opts.Name), dir: opts.Dir,
		outDone: make(chan struct{}), exited: make(chan struct{})}
	fail := func(err error) (*Node, error) {
		n.cleanup()
		return nil, err
	}
	if n.dir == "" {
		d, err := os.MkdirTemp("", "erlharness-node-")
		if err != nil {
			return nil, fmt.Errorf("erlharness: %w", err)
		}
		n.dir, n.ownDir = d, true
	}
	n.port = opts.EPMDPort
	if n.port == 0 {
		srv, err := epmd.Start(ctx, "127.0.0.1:0")
		if err != nil {
			return fail(fmt.Errorf("erlharness: private epmd: %w", err))
		}
		n.epmd, n.port = srv, srv.Port()
	}
	probe := filepath.Join(n.dir, probeModule+".erl")
	if err := os.WriteFile(probe, probeSource, 0o644); err != nil {
		return fail(fmt.Errorf("erlharness: %w", err))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(fmt.Errorf("erlharness: control listener: %w", err))
	}
	defer ln.Close()

	args := []string{"-name", opts.Name, "-setcookie", opts.Cookie, "-noinput", "-start_epmd", "false"}
	if opts.Hidden {
		args = append(args, "-hidden")
	}
	for _, p := range opts.CodePaths {
		args = append(args, "-pa", p)
	}
	args = append(args, opts.Args...)
	src := strconv.Quote(probe)
	args = append(args, "-eval", fmt.Sprintf(
		`{ok,M,B}=compile:file(%s,[binary,report]),{module,M}=code:load_binary(M,%s,B),M:start(%d)`,
		src, src, ln.Addr().(*net.TCPAddr).Port))

	cmd := exec.Command(erl, args...)
	cmd.Dir = n.dir
	cmd.Env = append(erlEnv(), "ERL_EPMD_PORT="+strconv.Itoa(n.port))
	if libs != "" {
		cmd.Env = append(cmd.Env, "ERL_LIBS="+libs)
	}
	cmd.Env = append(cmd.Env, opts.Env...)
	outR, outW, err := os.Pipe()
	if err != nil {
		return fail(fmt.Errorf("erlharness: %w", err))
	}
	cmd.Stdout, cmd.Stderr = outW, outW
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		closeAll(outR, outW)
		return fail(fmt.Errorf("erlharness: start %s: %w", erl, err))
	}
	outW.Close()
	n.cmd = cmd
	go func() {
		defer close(n.outDone)
		_, _ = io.Copy(&n.out, outR)
		_ = outR.Close()
	}()
	go func() {
		n.waitErr = cmd.Wait()
		close(n.exited)
	}()

	bctx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
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
	select {
	case a := <-ch:
		if a.err != nil {
			return fail(fmt.Errorf("erlharness: boot %s: %w\n%s", opts.Name, a.err, n.Output()))
		}
		n.ctl = a.c
	case <-n.exited:
		ln.Close()
		<-ch
		<-n.outDone
		return fail(fmt.Errorf("erlharness: boot %s: erl exited (%v)\n%s", opts.Name, n.waitErr, n.Output()))
	case <-bctx.Done():
		ln.Close()
		if a := <-ch; a.c != nil {
			a.c.Close()
		}
		return fail(fmt.Errorf("erlharness: boot %s: %w\n%s", opts.Name, bctx.Err(), n.Output()))
	}
	_ = n.ctl.SetReadDeadline(time.Now().Add(opts.ReadyTimeout))
	hello, err := ReadControlFrame(n.ctl)
	_ = n.ctl.SetReadDeadline(time.Time{})
	if err != nil {
		return fail(fmt.Errorf("erlharness: boot %s: ready frame: %w\n%s", opts.Name, err, n.Output()))
	}
	t, err := etf.Decode(hello)
	tup, ok := t.(etf.Tuple)
	if err != nil || !ok || len(tup) != 3 || tup[0] != etf.Atom("ready") || tup[1] != n.name {
		return fail(fmt.Errorf("erlharness: boot %s: unexpected ready frame %s (%v)", opts.Name, etf.Format(t), err))
	}
	if rel, ok := tup[2].([]byte); ok {
		n.release = string(rel)
	}
	n.control = NewControl(n.ctl)
	return n, nil
}

// StartNodeT is StartNode for tests: it skips the test with SkipMessage
// when no erl is found, fails it when the node does not boot, stops the
// node in t.Cleanup and logs the VM's output if the test failed.
func StartNodeT(t testing.TB, opts NodeOptions) *Node {
	t.Helper()
	if opts.Erl == "" {
		if _, _, err := FindErl(); err != nil {
			t.Skip(SkipMessage)
			return nil
		}
	}
	n, err := StartNode(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		failed := t.Failed()
		_ = n.Stop()
		if failed {
			t.Logf("output of erl %s:\n%s", n.Name(), n.Output())
		}
	})
	return n
}

// Name is the node name.
func (n *Node) Name() etf.Atom { return n.name }

// OTPRelease is the node's erlang:system_info(otp_release), e.g. "25".
func (n *Node) OTPRelease() string { return n.release }

// EPMDPort is the port of the EPMD the node is registered with.
func (n *Node) EPMDPort() int { return n.port }

// EPMDAddr is that EPMD's address, for node.Options.EPMDAddr.
func (n *Node) EPMDAddr() string { return "127.0.0.1:" + strconv.Itoa(n.port) }

// Dir is the VM's working directory.
func (n *Node) Dir() string { return n.dir }

// Output returns the tail of what the VM wrote to stdout and stderr.
func (n *Node) Output() string { return n.out.String() }

// Exited is closed once the VM has exited.
func (n *Node) Exited() <-chan struct{} { return n.exited }

// Apply runs Module:Function(Args...) on the node in a fresh process and
// returns its value; an exception comes back as *ErlError.
func (n *Node) Apply(ctx context.Context, module, function string, args ...etf.Term) (etf.Term, error) {
	return n.request(ctx, fmt.Sprintf("%s:%s/%d", module, function, len(args)), func(id int64) etf.Term {
		return etf.Tuple{id, etf.Atom("apply"), etf.Atom(module), etf.Atom(function), etf.List(args)}
	})
}

// Bindings are variables given to Eval, by Erlang variable name.
type Bindings map[string]etf.Term

// Eval evaluates Erlang expressions on the node, like the shell does (the
// final period is optional), with vars bound, and returns the value of the
// last one: Eval(ctx, "gen_server:call({svc, Go}, ping)", Bindings{"Go":
// goNode.Name()}).
func (n *Node) Eval(ctx context.Context, exprs string, vars Bindings) (etf.Term, error) {
	bl := make(etf.List, 0, len(vars))
	for k, v := range vars {
		bl = append(bl, etf.Tuple{etf.Atom(k), v})
	}
	return n.request(ctx, "eval", func(id int64) etf.Term {
		return etf.Tuple{id, etf.Atom("eval"), []byte(exprs), bl}
	})
}

// Load loads modules into the node: a .erl file is copied into Dir and
// compiled there by the node itself (so it matches the node's release;
// -include files are searched in the source's own directory), a .beam file
// (e.g. from Compile) is loaded as it is. It returns the module names.
func (n *Node) Load(ctx context.Context, files ...string) ([]etf.Atom, error) {
	var mods []etf.Atom
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return mods, fmt.Errorf("erlharness: load %s: %w", f, err)
		}
		path := abs
		if filepath.Ext(abs) == ".erl" {
			b, err := os.ReadFile(abs)
			if err != nil {
				return mods, fmt.Errorf("erlharness: load: %w", err)
			}
			dir := filepath.Join(n.dir, "src")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return mods, fmt.Errorf("erlharness: load: %w", err)
			}
			path = filepath.Join(dir, filepath.Base(abs))
			if err := os.WriteFile(path, b, 0o644); err != nil {
				return mods, fmt.Errorf("erlharness: load: %w", err)
			}
		}
		incs := etf.List{[]byte(filepath.Dir(abs))}
		res, err := n.request(ctx, "load "+filepath.Base(f), func(id int64) etf.Term {
			return etf.Tuple{id, etf.Atom("load"), []byte(path), incs}
		})
		if err != nil {
			return mods, err
		}
		m, _ := res.(etf.Atom)
		mods = append(mods, m)
	}
	return mods, nil
}

// LoadDir loads every .erl file of dir (see Load).
func (n *Node) LoadDir(ctx context.Context, dir string) ([]etf.Atom, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.erl"))
	if err != nil {
		return nil, fmt.Errorf("erlharness: load %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("erlharness: load: no .erl files in %s", dir)
	}
	return n.Load(ctx, files...)
}

func (n *Node) request(ctx context.Context, what string, build func(id int64) etf.Term) (etf.Term, error) {
	ok, val, err := n.control.Request(ctx, build)
	if err != nil {
		return nil, fmt.Errorf("erlharness: %s on %s: %w", what, n.name, err)
	}
	if !ok {
		e := &ErlError{Class: "error", Reason: val}
		if t, ok := val.(etf.Tuple); ok && len(t) == 3 {
			c, _ := t[0].(etf.Atom)
			e.Class, e.Reason, e.Stacktrace = c, t[1], t[2]
		}
		return nil, e
	}
	return val, nil
}

// Stop ends the node: closing the control socket makes the probe halt the
// VM at once; whatever is left of its process group is killed. The private
// EPMD and temporary directory, if any, go too. Safe to call twice.
func (n *Node) Stop() error {
	n.stopOnce.Do(n.cleanup)
	return nil
}

// Kill ends the VM with SIGKILL, as a crash would: peers see the
// connection drop without a goodbye. Stop must still be called.
func (n *Node) Kill() {
	if n.cmd != nil {
		killProcessGroup(n.cmd)
		<-n.exited
	}
}

func (n *Node) cleanup() {
	if n.control != nil {
		n.control.Close()
	} else if n.ctl != nil {
		_ = n.ctl.Close()
	}
	if n.cmd != nil {
		select {
		case <-n.exited:
		case <-time.After(5 * time.Second):
		}
		// erl_child_setup may linger after the beam has halted.
		killProcessGroup(n.cmd)
		<-n.exited
		<-n.outDone
	}
	if n.epmd != nil {
		_ = n.epmd.Close()
	}
	if n.ownDir {
		_ = os.RemoveAll(n.dir)
	}
}
