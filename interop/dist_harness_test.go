package interop

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/epmd"
	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/internal/syncbuf"
	"github.com/barrelgo/barrelgo/interop/erlharness"
	"github.com/barrelgo/barrelgo/node"
)

const testCookie = "interop_cookie"

// waitLong bounds what a scenario waits for an event that must come (a
// reply, an EXIT, a DOWN): generous, so a loaded -race run does not flake,
// and never used as an assertion that something did not happen.
const waitLong = 30 * time.Second

// cluster is one EPMD on a private port, the Go nodes registered with it and
// the stock erl VMs that use it through ERL_EPMD_PORT, so tests never touch a
// system epmd and can run in parallel. The cluster owns the EPMD (rather
// than the first Go node embedding it) so a Go node can stop and start again
// without taking the Erlang nodes' registrations down with it.
type cluster struct {
	t        *testing.T
	epmd     *epmd.Server
	epmdPort int
	ebin     string
	go1      *node.Node
	log      *slog.Logger
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	erlharness.RequireErl(t)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := epmd.Start(ctx, "127.0.0.1:0", epmd.WithLogger(log))
	if err != nil {
		t.Fatalf("start epmd: %v", err)
	}
	// Registered first, so it runs after every node's cleanup.
	t.Cleanup(func() { srv.Close() })
	c := &cluster{t: t, epmd: srv, epmdPort: srv.Port(), ebin: erlharness.CompileTestApp(t), log: log}
	c.go1 = c.startGo("go" + strconv.Itoa(rand.IntN(1e6)))
	return c
}

func (c *cluster) startGo(alive string) *node.Node {
	c.t.Helper()
	return c.startGoLog(alive, c.log)
}

// startGoLog starts a Go node that logs to log.
func (c *cluster) startGoLog(alive string, log *slog.Logger) *node.Node {
	c.t.Helper()
	n, err := c.tryStartGo(alive, log)
	if err != nil {
		c.t.Fatalf("start go node: %v", err)
	}
	return n
}

func (c *cluster) tryStartGo(alive string, log *slog.Logger) (*node.Node, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := node.Start(ctx, node.Options{
		Name:           alive + "@127.0.0.1",
		Cookie:         testCookie,
		EPMDAddr:       "127.0.0.1:" + strconv.Itoa(c.epmdPort),
		NoEmbeddedEPMD: true,
		Logger:         log,
	})
	if err != nil {
		return nil, err
	}
	c.t.Cleanup(func() { n.Stop() })
	return n, nil
}

// erlNode is a stock erl VM with the dist_probe module loaded.
type erlNode struct {
	name etf.Atom
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	once sync.Once
}

func (c *cluster) startErl(extra ...string) *erlNode {
	c.t.Helper()
	alive := fmt.Sprintf("erl%d", rand.IntN(1e6))
	args := append([]string{"-name", alive + "@127.0.0.1", "-setcookie", testCookie, "-noshell", "-noinput",
		"-pa", c.ebin, "-s", "dist_probe", "start"}, extra...)
	return c.startVM(alive, "erl", args, "dist_probe ready")
}

// startVM runs a BEAM VM (erl, or elixir, which execs it) that registers
// alive with the cluster's EPMD, and waits until it has printed ready.
func (c *cluster) startVM(alive, command string, args []string, ready string) *erlNode {
	c.t.Helper()
	cmd := exec.Command(command, args...)
	// -start_epmd false (through ERL_FLAGS, which elixir passes on too):
	// a VM booting while the cluster's EPMD is down, as in the restart
	// scenarios, would otherwise start an epmd daemon that outlives the test.
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(c.epmdPort), "ERL_CRASH_DUMP_SECONDS=0",
		"ERL_FLAGS=-start_epmd false "+os.Getenv("ERL_FLAGS"))
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start %s: %v", command, err)
	}
	e := &erlNode{name: etf.Atom(alive + "@127.0.0.1"), cmd: cmd, out: out}
	c.t.Cleanup(func() {
		e.kill()
		if c.t.Failed() {
			c.t.Logf("%s %s output:\n%s", command, e.name, out.String())
		}
	})
	// Wait until the probe has run (its names exist) and the node is
	// registered with EPMD (distribution is up).
	cl := epmd.NewClient("127.0.0.1:" + strconv.Itoa(c.epmdPort))
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cl.PortPlease(ctx, alive)
		cancel()
		if err == nil && strings.Contains(out.String(), ready) {
			return e
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s %s never got ready (epmd: %v)\n%s", command, alive, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the VM with SIGKILL (the "kill -9" of the fault scenarios).
func (e *erlNode) kill() {
	e.once.Do(func() {
		_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
		_ = e.cmd.Wait()
	})
}

// rpc runs dist_probe:F(Args...) on e through the Go node's connection.
func (c *cluster) rpc(t *testing.T, e *erlNode, fun string, args ...etf.Term) etf.Term {
	t.Helper()
	return c.rpcOn(t, c.go1, e, waitLong, fun, args...)
}

// rpcOn is rpc from a given Go node with a given timeout.
func (c *cluster) rpcOn(t *testing.T, n *node.Node, e *erlNode, timeout time.Duration, fun string, args ...etf.Term) etf.Term {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := n.RPC(ctx, e.name, "dist_probe", etf.Atom(fun), args...)
	if err != nil {
		t.Fatalf("rpc dist_probe:%s on %s: %v", fun, e.name, err)
	}
	return res
}

// agent starts a dist_probe agent on e: an Erlang process that traps exits
// and links, monitors and exits on request.
func (c *cluster) agent(t *testing.T, e *erlNode) etf.Pid {
	t.Helper()
	res := c.rpc(t, e, "spawn_agent")
	pid, ok := res.(etf.Pid)
	if !ok {
		t.Fatalf("spawn_agent on %s = %s, want a pid", e.name, etf.Format(res))
	}
	return pid
}

// agentDo runs one agent command ({link, P}, {monitor, T}, {exit, R}).
func (c *cluster) agentDo(t *testing.T, e *erlNode, agent etf.Pid, cmd etf.Tuple) etf.Term {
	t.Helper()
	return c.rpc(t, e, "agent", agent, cmd, int64(waitLong/time.Millisecond))
}

// agentEvents waits until agent has recorded n EXIT/DOWN messages and
// returns them in arrival order.
func (c *cluster) agentEvents(t *testing.T, e *erlNode, agent etf.Pid, n int) []etf.Term {
	t.Helper()
	res := c.rpc(t, e, "agent_wait", agent, int64(n), int64(waitLong/time.Millisecond))
	l, ok := res.(etf.List)
	if !ok || len(l) < n {
		t.Fatalf("agent %s: waited for %d events, got %s", etf.Format(agent), n, etf.Format(res))
	}
	return l
}

// receiveMatch is ReceiveMatch bounded by waitLong, failing the test on
// timeout.
func receiveMatch(t *testing.T, p *node.Process, what string, match func(etf.Term) bool) etf.Term {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	m, err := p.ReceiveMatch(ctx, match)
	if err != nil {
		t.Fatalf("%s never arrived at %s: %v", what, etf.Format(p.Pid()), err)
	}
	return m
}

// exitFrom matches {'EXIT', from, _}.
func exitFrom(from etf.Pid) func(etf.Term) bool {
	return func(m etf.Term) bool {
		t, ok := m.(etf.Tuple)
		return ok && len(t) == 3 && t[0] == etf.Atom("EXIT") && t[1] == from
	}
}

// downOf matches {'DOWN', ref, process, _, _}.
func downOf(ref etf.Ref) func(etf.Term) bool {
	return func(m etf.Term) bool {
		t, ok := m.(etf.Tuple)
		return ok && len(t) == 5 && t[0] == etf.Atom("DOWN") && t[1] == ref
	}
}

func mustTuple(t *testing.T, what string, x etf.Term, n int) etf.Tuple {
	t.Helper()
	tup, ok := x.(etf.Tuple)
	if !ok || len(tup) != n {
		t.Fatalf("%s = %s, want a %d-tuple", what, etf.Format(x), n)
	}
	return tup
}
