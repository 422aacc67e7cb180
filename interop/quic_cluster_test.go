package interop

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/hyparview"
	"github.com/barrelgo/barrelgo/node"
	"github.com/barrelgo/barrelgo/protodist"
)

// procCluster runs barrelgo nodes as OS processes (`barrelgo node --proto
// quic`, auth on with TOFU, one data dir each, a shared discovery dir) and
// queries them through an in-process hidden QUIC node.
type procCluster struct {
	t      *testing.T
	bin    string
	root   string
	disc   string
	prefix string
	procs  []*clusterProc
	client *node.Node
}

type clusterProc struct {
	name etf.Atom
	cmd  *exec.Cmd
	log  string
	dead bool
}

func newProcCluster(t *testing.T) *procCluster {
	t.Helper()
	root := t.TempDir()
	bin := filepath.Join(root, "barrelgo")
	build := exec.Command("go", "build", "-o", bin, "github.com/barrelgo/barrelgo/cmd/barrelgo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build barrelgo: %v\n%s", err, out)
	}
	c := &procCluster{t: t, bin: bin, root: root, disc: filepath.Join(root, "discovery"), prefix: uniq("qc") + "_"}
	t.Cleanup(c.stopAll)
	cfg := protodist.DefaultConfig(filepath.Join(root, "client"))
	cfg.DiscoveryDir = c.disc
	cfg.DistCookie = testCookie
	cfg.ListenPort = 0
	name := c.prefix + "client@127.0.0.1"
	quiet := slog.New(slog.DiscardHandler)
	tr, err := protodist.NewFromConfig(cfg, name, 0, quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c.client, err = node.Start(ctx, node.Options{Name: name, Cookie: testCookie, Hidden: true, Transport: tr, Logger: quiet})
	if err != nil {
		tr.Close()
		t.Fatal(err)
	}
	return c
}

// nodeConfig keeps every timer short so the overlay settles in seconds.
const nodeConfig = `name = %q
cookie = %q
proto = "quic"
data_dir = %q
net_ticktime = 4

[log]
level = "info"

[quic]
listen_port = 0
address = "127.0.0.1"
auth_enabled = true
auth_trust_mode = "tofu"
discovery_dir = %q
dist_gc_sweep_period_ms = 1000
dist_gc_min_age_ms = 3000

[membership]
contact_nodes = [%q]
contact_retry_ms = 500
shuffle_period = 1000
base_backoff_ms = 200
pending_timeout_ms = 5000
heartbeat_period_ms = 300
heartbeat_timeout_ms = 3000
`

// start launches n more nodes; the first node of the cluster is everyone's
// contact.
func (c *procCluster) start(n int) {
	c.t.Helper()
	for range n {
		i := len(c.procs)
		alive := fmt.Sprintf("%sn%d", c.prefix, i)
		name := etf.Atom(alive + "@127.0.0.1")
		contact := c.prefix + "n0@127.0.0.1"
		dir := filepath.Join(c.root, alive)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			c.t.Fatal(err)
		}
		cfgPath := filepath.Join(dir, "barrelgo.toml")
		cfg := fmt.Sprintf(nodeConfig, name, testCookie, dir, c.disc, contact)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			c.t.Fatal(err)
		}
		logPath := filepath.Join(dir, "node.log")
		logf, err := os.Create(logPath)
		if err != nil {
			c.t.Fatal(err)
		}
		cmd := exec.Command(c.bin, "node", "-config", cfgPath, "-proto", "quic")
		cmd.Env = append(os.Environ(), "BARRELGO_TEST_API=1")
		cmd.Stdout, cmd.Stderr = logf, logf
		err = cmd.Start()
		logf.Close()
		if err != nil {
			c.t.Fatal(err)
		}
		c.procs = append(c.procs, &clusterProc{name: name, cmd: cmd, log: logPath})
	}
}

func (c *procCluster) stopAll() {
	for _, p := range c.procs {
		c.kill(p)
	}
	if c.client != nil {
		c.client.Stop()
	}
	if c.t.Failed() {
		for _, p := range c.procs {
			b, _ := os.ReadFile(p.log)
			c.t.Logf("---- %s log (last 3000 bytes):\n%s", p.name, tail(b, 3000))
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// kill sends SIGKILL: no leave, no goodbye, as a crash.
func (c *procCluster) kill(p *clusterProc) {
	if p.dead {
		return
	}
	p.dead = true
	_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
	_ = p.cmd.Wait()
}

func (c *procCluster) alive() []*clusterProc {
	var out []*clusterProc
	for _, p := range c.procs {
		if !p.dead {
			out = append(out, p)
		}
	}
	return out
}

func names(ps []*clusterProc) []etf.Atom {
	var out []etf.Atom
	for _, p := range ps {
		out = append(out, p.name)
	}
	return out
}

func (c *procCluster) rpc(to etf.Atom, mod, fun etf.Atom, args ...etf.Term) (etf.Term, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.client.RPC(ctx, to, mod, fun, args...)
	if err != nil {
		return nil, fmt.Errorf("%s:%s on %s: %w", mod, fun, to, err)
	}
	return res, nil
}

func (c *procCluster) mustRPC(to etf.Atom, mod, fun etf.Atom, args ...etf.Term) etf.Term {
	c.t.Helper()
	res, err := c.rpc(to, mod, fun, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return res
}

// atoms reads a list of atoms (a view, list_services' atom names).
func atoms(t etf.Term) ([]etf.Atom, error) {
	var l etf.List
	switch v := t.(type) {
	case etf.List:
		l = v
	case nil:
	default:
		return nil, fmt.Errorf("not a list: %s", etf.Format(t))
	}
	var out []etf.Atom
	for _, e := range l {
		a, ok := e.(etf.Atom)
		if !ok {
			return nil, fmt.Errorf("not an atom: %s", etf.Format(e))
		}
		out = append(out, a)
	}
	slices.Sort(out)
	return out, nil
}

func (c *procCluster) view(of etf.Atom, which etf.Atom) ([]etf.Atom, error) {
	res, err := c.rpc(of, "barrel_p2p", which)
	if err != nil {
		return nil, err
	}
	return atoms(res)
}

// eventually polls cond until it returns nil; the last error fails the test
// at the deadline.
func eventually(t *testing.T, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	start := time.Now()
	for {
		err := cond()
		if err == nil {
			t.Logf("%s after %s", what, time.Since(start).Round(10*time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// overlay checks the union of the members' active views: every entry is a
// member, sizes within bounds, and the undirected graph is connected.
func (c *procCluster) overlay(members []etf.Atom, maxActive, maxPassive int) error {
	views := map[etf.Atom][]etf.Atom{}
	for _, m := range members {
		act, err := c.view(m, "active_view")
		if err != nil {
			return err
		}
		pas, err := c.view(m, "passive_view")
		if err != nil {
			return err
		}
		if len(act) == 0 || len(act) > maxActive || len(pas) > maxPassive {
			return fmt.Errorf("%s: active %v, passive %d entries", m, act, len(pas))
		}
		for _, a := range act {
			if !slices.Contains(members, a) {
				return fmt.Errorf("%s: active view holds %s, not a member of %v", m, a, members)
			}
		}
		views[m] = act
	}
	seen := hyparview.Reachable(views, members[0])
	if len(seen) != len(members) {
		return fmt.Errorf("overlay not connected: %d of %d members reachable from %s", len(seen), len(members), members[0])
	}
	return nil
}

// waitUp waits until every node answers (it registered its endpoint and
// runs membership).
func (c *procCluster) waitUp(within time.Duration) {
	c.t.Helper()
	eventually(c.t, within, "all nodes answer", func() error {
		for _, p := range c.alive() {
			// Dialled before its endpoint file exists, a name falls back
			// to DNS discovery and the rpc waits out its timeout.
			if _, err := os.Stat(filepath.Join(c.disc, string(p.name)+".endpoint")); err != nil {
				return err
			}
			if _, err := c.view(p.name, "active_view"); err != nil {
				return err
			}
		}
		return nil
	})
}

// settled waits until the active views stop changing for three polls in a
// row.
func (c *procCluster) settled(members []etf.Atom) {
	c.t.Helper()
	var last string
	stable := 0
	eventually(c.t, 30*time.Second, "active views settled", func() error {
		var b strings.Builder
		for _, m := range members {
			act, err := c.view(m, "active_view")
			if err != nil {
				return err
			}
			fmt.Fprintln(&b, m, act)
		}
		if b.String() == last {
			stable++
		} else {
			last, stable = b.String(), 0
		}
		if stable < 3 {
			return fmt.Errorf("views changed %d polls ago:\n%s", stable, last)
		}
		return nil
	})
}

func svcName(n etf.Atom) etf.Atom {
	alive, _, _ := strings.Cut(string(n), "@")
	return etf.Atom("svc_" + alive)
}

// services checks that every member's list_services is exactly want.
func (c *procCluster) services(members []etf.Atom, want []etf.Atom) error {
	want = slices.Sorted(slices.Values(want))
	for _, m := range members {
		res, err := c.rpc(m, "barrel_p2p", "list_services")
		if err != nil {
			return err
		}
		got, err := atoms(res)
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("%s lists %v, want %v", m, got, want)
		}
	}
	return nil
}

func TestQUICClusterThree(t *testing.T) {
	c := newProcCluster(t)
	c.start(3)
	c.waitUp(30 * time.Second)
	members := names(c.procs)
	eventually(t, 30*time.Second, "exact views of 3 nodes", func() error {
		for _, m := range members {
			act, err := c.view(m, "active_view")
			if err != nil {
				return err
			}
			want := slices.DeleteFunc(slices.Clone(members), func(x etf.Atom) bool { return x == m })
			slices.Sort(want)
			if !slices.Equal(act, want) {
				return fmt.Errorf("%s: active view %v, want %v", m, act, want)
			}
		}
		return nil
	})
}

func TestQUICClusterTwenty(t *testing.T) {
	if testing.Short() {
		t.Skip("20 barrelgo processes: skipped with -short")
	}
	c := newProcCluster(t)
	c.start(20)
	c.waitUp(60 * time.Second)
	members := names(c.procs)

	t.Run("overlay", func(t *testing.T) {
		eventually(t, 45*time.Second, "20-node overlay connected", func() error {
			return c.overlay(members, 5, 30)
		})
	})

	t.Run("broadcast", func(t *testing.T) {
		tag := etf.Atom(c.prefix + "bcast")
		for _, m := range members {
			c.mustRPC(m, "barrelgo", "received", tag) // starts recording
		}
		payload := etf.Tuple{etf.Atom("hello"), int64(42)}
		c.mustRPC(members[7], "barrelgo", "broadcast", tag, payload)
		eventually(t, 30*time.Second, "broadcast delivered to all 20", func() error {
			for _, m := range members {
				res, err := c.rpc(m, "barrelgo", "received", tag)
				if err != nil {
					return err
				}
				l, _ := res.(etf.List)
				if !slices.ContainsFunc(l, func(x etf.Term) bool { return etf.Equal(x, payload) }) {
					return fmt.Errorf("%s received %s", m, etf.Format(res))
				}
			}
			return nil
		})
	})

	var svcs []etf.Atom
	t.Run("registry", func(t *testing.T) {
		// barrel_p2p deletes a node's services when it leaves the active
		// view (registry.PeerDown), and only a later peer_up resends them:
		// a registration made during join churn can be lost for good on a
		// node that had the registrant as a neighbour for a moment. So the
		// overlay settles first.
		c.settled(members)
		for _, m := range members {
			c.mustRPC(m, "barrelgo", "register_service", svcName(m))
			svcs = append(svcs, svcName(m))
		}
		eventually(t, 30*time.Second, "registry converged on 20", func() error {
			return c.services(members, svcs)
		})
	})

	t.Run("kill_a_third", func(t *testing.T) {
		if len(svcs) != len(members) {
			t.Skip("registry did not run")
		}
		// Every third node (7 of 20), sparing the contact node n0.
		var dead []etf.Atom
		for i := 1; i < len(c.procs); i += 3 {
			dead = append(dead, c.procs[i].name)
			c.kill(c.procs[i])
		}
		survivors := names(c.alive())
		// Only the dead nodes' services are checked: a survivor may also
		// drop a live node's services when view repair takes that node out
		// of its active view (barrel_p2p's registry.PeerDown).
		eventually(t, 30*time.Second, "dead nodes' services gone everywhere", func() error {
			for _, s := range survivors {
				res, err := c.rpc(s, "barrel_p2p", "list_services")
				if err != nil {
					return err
				}
				got, err := atoms(res)
				if err != nil {
					return err
				}
				for _, d := range dead {
					if slices.Contains(got, svcName(d)) {
						return fmt.Errorf("%s still lists %s", s, svcName(d))
					}
				}
			}
			return nil
		})
		eventually(t, 45*time.Second, "survivors' overlay healed", func() error {
			return c.overlay(survivors, 5, 30)
		})
		t.Logf("killed %v", dead)
	})
}

func TestQUICClusterPartition(t *testing.T) {
	c := newProcCluster(t)
	c.start(6)
	c.waitUp(30 * time.Second)
	members := names(c.procs)
	eventually(t, 30*time.Second, "6-node overlay connected", func() error {
		return c.overlay(members, 5, 30)
	})
	a, b := members[:3], members[3:]
	toList := func(l []etf.Atom) etf.List {
		out := etf.List{}
		for _, x := range l {
			out = append(out, x)
		}
		return out
	}
	for _, m := range a {
		c.mustRPC(m, "barrelgo", "block", toList(b))
	}
	for _, m := range b {
		c.mustRPC(m, "barrelgo", "block", toList(a))
	}
	halves := func() error {
		for _, half := range [][]etf.Atom{a, b} {
			if err := c.overlay(half, 5, 30); err != nil {
				return err
			}
			for _, m := range half {
				pas, err := c.view(m, "passive_view")
				if err != nil {
					return err
				}
				for _, x := range pas {
					if !slices.Contains(half, x) {
						return fmt.Errorf("%s: passive view holds %s across the partition", m, x)
					}
				}
			}
		}
		return nil
	}
	eventually(t, 30*time.Second, "each half sees only itself", halves)
	for _, m := range members {
		c.mustRPC(m, "barrelgo", "unblock")
	}
	// Unblock reconnects nothing by itself (barrel_p2p's seam): the halves
	// forgot each other, so one node rejoins through the contact, as an
	// operator would.
	if res := c.mustRPC(b[0], "barrel_p2p", "join", a[0]); res != etf.AtomOK {
		t.Fatalf("join: %s", etf.Format(res))
	}
	eventually(t, 30*time.Second, "overlay connected again after heal", func() error {
		return c.overlay(members, 5, 30)
	})
}
