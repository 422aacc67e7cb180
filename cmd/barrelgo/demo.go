package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/node"
)

// cmdDemo runs a local demo cluster on loopback and narrates it.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dur := fs.Duration("duration", 0, "stop after this long (default: run until Ctrl-C)")
	noErl := fs.Bool("no-erl", false, "do not start an erl node even when erl is installed")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	// Libraries that log through slog.Default (certificate generation)
	// follow the demo's level.
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(demoLogger(stderr))
	return runDemo(ctx, &narrator{w: stdout}, stderr, !*noErl)
}

// narrator prints timestamped lines from any goroutine.
type narrator struct {
	mu sync.Mutex
	w  io.Writer
}

func (n *narrator) say(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fmt.Fprintf(n.w, "[%s] %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// demoCookie is the cookie of both demo clusters.
const demoCookie = "barrelgo_demo"

func runDemo(ctx context.Context, out *narrator, stderr io.Writer, withErl bool) error {
	var stops []func()
	defer func() {
		for _, stop := range slices.Backward(stops) {
			stop()
		}
	}()
	root, err := os.MkdirTemp("", "barrelgo-demo-")
	if err != nil {
		return err
	}
	stops = append(stops, func() {
		os.RemoveAll(root)
		out.say("stopped every node; removed %s", root)
	})
	var wg sync.WaitGroup
	stops = append(stops, wg.Wait) // the narrating goroutines
	err = demoQUIC(ctx, out, stderr, root, &stops, &wg)
	if err == nil {
		err = demoTCP(ctx, out, stderr, withErl, &stops, &wg)
	}
	if err != nil {
		if ctx.Err() != nil {
			out.say("stopping the demo")
			return nil // interrupted while setting up
		}
		return err
	}
	out.say("cluster up; Ctrl-C to stop")
	<-ctx.Done()
	out.say("stopping the demo")
	return nil
}

// narrate prints rt's connection and membership events until ctx ends.
func narrate(ctx context.Context, out *narrator, rt *runtime, stops *[]func(), wg *sync.WaitGroup) {
	lines, cancel := rt.watch()
	done := make(chan struct{})
	*stops = append(*stops, func() { cancel(); close(done) })
	short := shortName(rt.n.Name())
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case l := <-lines:
				if strings.HasPrefix(l, "peer_") && rt.m != nil {
					l += fmt.Sprintf("; active view now %s", shortNames(rt.m.ActiveView()))
				}
				out.say("%s: %s", short, l)
			}
		}
	}()
}

func shortName(n etf.Atom) string {
	s, _, _ := strings.Cut(string(n), "@")
	return s
}

func shortNames(l []etf.Atom) string {
	var out []string
	for _, a := range l {
		out = append(out, shortName(a))
	}
	slices.Sort(out)
	return "[" + strings.Join(out, ", ") + "]"
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// demoQUIC starts three nodes over barrel_p2p's QUIC carrier with Ed25519
// auth and HyParView, then shows the registry and a broadcast.
func demoQUIC(ctx context.Context, out *narrator, stderr io.Writer, root string, stops *[]func(), wg *sync.WaitGroup) error {
	out.say("part 1: three Go nodes over QUIC with Ed25519 auth (tofu) and HyParView; data in %s", root)
	names := []string{"demo_q1", "demo_q2", "demo_q3"}
	var rts []*runtime
	for i, alive := range names {
		c := defaultConfig(false)
		c.Name = alive + "@127.0.0.1"
		c.Proto = "quic"
		c.DataDir = filepath.Join(root, alive)
		c.Cookie = demoCookie
		c.MetricsAddr = "127.0.0.1:0"
		c.Membership.ContactRetry = 300 * time.Millisecond
		c.Membership.ShufflePeriod = 2 * time.Second
		if i > 0 {
			c.Membership.ContactNodes = []etf.Atom{rts[0].n.Name()}
		}
		if errs := c.finish(); len(errs) > 0 {
			return errors.Join(errs...)
		}
		c.QUIC.DiscoveryDir = filepath.Join(root, "discovery") // shared: how they find each other
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		rt, err := startRuntime(sctx, c, demoLogger(stderr))
		cancel()
		if err != nil {
			return fmt.Errorf("start %s: %w", c.Name, err)
		}
		*stops = append(*stops, rt.Stop)
		rts = append(rts, rt)
		narrate(ctx, out, rt, stops, wg)
		k := rt.status().Auth.Fingerprint
		joins := "first node, the others join through it"
		if i > 0 {
			joins = "joins through " + shortName(rts[0].n.Name())
		}
		out.say("started %s on udp %s, key fingerprint %.16s..., %s", rt.n.Name(), rt.quic.Addr(), k, joins)
		out.say("%s: metrics at %s, health at %s", alive, rt.http.URL(), rt.http.HealthURL())
	}

	// HyParView: wait for the views to settle on "everyone else".
	vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := waitFor(vctx, func() bool {
		for _, rt := range rts {
			if len(rt.m.ActiveView()) != len(rts)-1 {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("hyparview views did not converge: %w", err)
	}
	var views []string
	for _, rt := range rts {
		views = append(views, fmt.Sprintf("%s=%s", shortName(rt.n.Name()), shortNames(rt.m.ActiveView())))
	}
	out.say("HyParView joined: every node has the other two in its active view: %s", strings.Join(views, " "))

	// The registry: a service on q3, found and called from q1.
	q1, q3 := rts[0], rts[2]
	svc, err := q3.n.StartServer("demo_greeter", node.ServerFuncs{
		Call: func(_ context.Context, _ node.From, req etf.Term) (etf.Term, error) {
			return etf.Tuple{etf.Atom("hello"), req, etf.Atom("from"), q3.n.Name()}, nil
		},
	})
	if err != nil {
		return err
	}
	meta := etf.Map{{Key: etf.Atom("version"), Value: int64(1)}}
	if err := q3.m.RegisterService(etf.Atom("demo_greeter"), svc.Pid(), meta); err != nil {
		return err
	}
	out.say("demo_q3: barrel_p2p:register_service(demo_greeter, %s, %s)", etf.Format(svc.Pid()), etf.Format(meta))
	var where etf.Atom
	var pid etf.Pid
	err = waitFor(vctx, func() bool {
		wctx, cancel := context.WithTimeout(vctx, 2*time.Second)
		defer cancel()
		var werr error
		where, pid, werr = q1.m.WhereisService(wctx, etf.Atom("demo_greeter"))
		return werr == nil
	})
	if err != nil {
		return fmt.Errorf("demo_greeter never reached demo_q1: %w", err)
	}
	out.say("demo_q1: barrel_p2p:whereis_service(demo_greeter) -> {ok, %s, %s}", where, etf.Format(pid))
	res, err := q1.n.Call(vctx, pid, etf.Atom("world"))
	if err != nil {
		return fmt.Errorf("demo_q1 -> demo_greeter: %w", err)
	}
	out.say("demo_q1: gen_server:call(%s, world) -> %s", etf.Format(pid), etf.Format(res))

	// Plumtree: one broadcast, delivered on every node.
	got := make(chan string, 8)
	for _, rt := range rts {
		name := shortName(rt.n.Name())
		cancel := rt.m.SubscribeBroadcast(etf.Atom("demo_news"), func(from etf.Atom, payload etf.Term) {
			select {
			case got <- fmt.Sprintf("%s delivered %s (last hop %s)", name, etf.Format(payload), shortName(from)):
			default:
			}
		})
		*stops = append(*stops, cancel)
	}
	payload := []byte("hello, cluster")
	if err := rts[1].m.Broadcast(etf.Atom("demo_news"), payload); err != nil {
		return err
	}
	out.say("demo_q2: broadcast demo_news %s over Plumtree", etf.Format(payload))
	for range rts {
		select {
		case l := <-got:
			out.say("broadcast: %s", l)
		case <-vctx.Done():
			return fmt.Errorf("broadcast did not reach every node: %w", vctx.Err())
		}
	}
	a := q1.status().Auth
	var att []string
	for _, x := range a.Attempts {
		att = append(att, fmt.Sprintf("%s %s %d", x.Role, x.Outcome, x.Count))
	}
	out.say("demo_q1: auth attempts %s (barrel_p2p_dist_auth_attempts_total on %s)", joinOrNone(att), q1.http.URL())
	return nil
}

// demoTCP starts two Go nodes on classic TCP distribution and, when erl is
// installed, a stock Erlang node that calls them.
func demoTCP(ctx context.Context, out *narrator, stderr io.Writer, withErl bool, stops *[]func(), wg *sync.WaitGroup) error {
	// A private EPMD port keeps the demo away from any system epmd: the
	// first Go node embeds one.
	port, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	epmdAddr := "127.0.0.1:" + strconv.Itoa(port)
	out.say("part 2: Go nodes on classic TCP distribution, embedded EPMD on %s", epmdAddr)
	start := func(alive string) (*runtime, error) {
		c := defaultConfig(false)
		c.Name = alive + "@127.0.0.1"
		c.Cookie = demoCookie
		c.TCP.EPMD = epmdAddr
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		rt, err := startRuntime(sctx, c, demoLogger(stderr))
		if err != nil {
			return nil, err
		}
		*stops = append(*stops, rt.Stop)
		return rt, nil
	}
	a, err := start("demo_a")
	if err != nil {
		return err
	}
	b, err := start("demo_b")
	if err != nil {
		return err
	}
	narrate(ctx, out, a, stops, wg)
	out.say("started Go nodes demo_a@127.0.0.1 and demo_b@127.0.0.1")

	// A service on b that a and Erlang call.
	_, err = b.n.StartServer("greeter", node.ServerFuncs{
		Call: func(_ context.Context, from node.From, req etf.Term) (etf.Term, error) {
			return etf.Tuple{etf.Atom("hello"), req, etf.Atom(b.n.Name())}, nil
		},
	})
	if err != nil {
		return err
	}
	b.n.RegisterFunc("demo", "add", func(_ context.Context, args []etf.Term) (etf.Term, error) {
		if len(args) != 2 {
			return nil, errors.New("demo:add/2 takes two integers")
		}
		x, ok1 := args[0].(int64)
		y, ok2 := args[1].(int64)
		if !ok1 || !ok2 {
			return nil, errors.New("demo:add/2 takes two integers")
		}
		return x + y, nil
	})
	out.say("demo_b serves gen_server 'greeter' and function demo:add/2")

	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := a.n.Call(cctx, etf.Tuple{etf.Atom("greeter"), b.n.Name()}, etf.Atom("go"))
	if err != nil {
		return fmt.Errorf("demo_a -> greeter call: %w", err)
	}
	out.say("demo_a: gen_server:call({greeter, demo_b@127.0.0.1}, go) -> %s", etf.Format(res))

	if withErl {
		stopErl, err := demoErl(cctx, out, a.n, b.n, epmdAddr)
		*stops = append(*stops, stopErl)
		if err != nil {
			out.say("erl part skipped: %v", err)
		}
	}
	return nil
}

// demoErl starts a stock erl node on the same EPMD and has each side call
// the other. The returned function stops the erl node.
func demoErl(ctx context.Context, out *narrator, a, b *node.Node, epmdAddr string) (stop func(), err error) {
	stop = func() {}
	fail := func(err error) (func(), error) { return stop, err }
	erl, err := exec.LookPath("erl")
	if err != nil {
		return fail(errors.New("erl is not installed (apt-get install erlang-nox)"))
	}
	_, port, _ := net.SplitHostPort(epmdAddr)
	name := "demo_erl@127.0.0.1"
	dir, err := os.MkdirTemp("", "barrelgo-demo")
	if err != nil {
		return fail(err)
	}
	// The demo's EPMD is the one its nodes use (embedded when none ran);
	// an epmd daemon of erl's own would outlive the demo.
	cmd := exec.Command(erl, "-name", name, "-setcookie", demoCookie, "-noshell", "-noinput", "-start_epmd", "false")
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+port, "ERL_CRASH_DUMP="+filepath.Join(dir, "erl_crash.dump"))
	var erlOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &erlOut, &erlOut
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return fail(err)
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); os.RemoveAll(dir) }
	out.say("started Erlang node %s (stock OTP)", name)
	var connErr error
	for range 100 {
		if connErr = a.Connect(ctx, etf.Atom(name)); connErr == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if connErr != nil {
		return fail(fmt.Errorf("connect to %s: %w (%s)", name, connErr, erlOut.String()))
	}
	rel, err := a.RPC(ctx, etf.Atom(name), "erlang", "system_info", etf.Atom("otp_release"))
	if err != nil {
		return fail(err)
	}
	out.say("demo_a: rpc:call(%s, erlang, system_info, [otp_release]) -> %s", name, etf.Format(rel))
	res, err := a.RPC(ctx, etf.Atom(name), "gen_server", "call", etf.Tuple{etf.Atom("greeter"), b.Name()}, etf.Atom("erlang"))
	if err != nil {
		return fail(err)
	}
	out.say("%s: gen_server:call({greeter, demo_b@127.0.0.1}, erlang) -> %s", name, etf.Format(res))
	sum, err := a.RPC(ctx, etf.Atom(name), "rpc", "call", b.Name(), etf.Atom("demo"), etf.Atom("add"), etf.List{int64(20), int64(22)})
	if err != nil {
		return fail(err)
	}
	out.say("%s: rpc:call(demo_b@127.0.0.1, demo, add, [20, 22]) -> %s", name, etf.Format(sum))
	ping, err := a.RPC(ctx, etf.Atom(name), "net_adm", "ping", b.Name())
	if err != nil {
		return fail(err)
	}
	out.say("%s: net_adm:ping(demo_b@127.0.0.1) -> %s", name, etf.Format(ping))
	st, err := a.RPC(ctx, etf.Atom(name), "rpc", "call", b.Name(), etf.Atom("barrelgo"), etf.Atom("status"), etf.List{})
	if err != nil {
		return fail(err)
	}
	if m, ok := st.(etf.Map); ok {
		c, _ := m.Get(etf.Atom("connected"))
		out.say("%s: rpc:call(demo_b@127.0.0.1, barrelgo, status, []) -> #{connected => %s, ...}", name, etf.Format(c))
	}
	return stop, nil
}
