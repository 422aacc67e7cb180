package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	return runDemo(ctx, stdout, stderr, !*noErl)
}

func say(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "[%s] %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func runDemo(ctx context.Context, stdout, stderr io.Writer, withErl bool) error {
	cookie := "barrelgo_demo"
	// A private EPMD port keeps the demo away from any system epmd: the
	// first Go node embeds one.
	port, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	epmdAddr := "127.0.0.1:" + strconv.Itoa(port)
	say(stdout, "starting Go node demo_a@127.0.0.1 (TCP distribution, embedded EPMD on %s)", epmdAddr)
	start := func(alive string) (*node.Node, error) {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return node.Start(sctx, node.Options{Name: alive + "@127.0.0.1", Cookie: cookie, EPMDAddr: epmdAddr, Logger: demoLogger(stderr)})
	}
	a, err := start("demo_a")
	if err != nil {
		return err
	}
	defer a.Stop()
	b, err := start("demo_b")
	if err != nil {
		return err
	}
	defer b.Stop()
	say(stdout, "started Go node demo_b@127.0.0.1")

	// A service on b that a and Erlang call.
	_, err = b.StartServer("greeter", node.ServerFuncs{
		Call: func(_ context.Context, from node.From, req etf.Term) (etf.Term, error) {
			return etf.Tuple{etf.Atom("hello"), req, etf.Atom(b.Name())}, nil
		},
	})
	if err != nil {
		return err
	}
	b.RegisterFunc("demo", "add", func(_ context.Context, args []etf.Term) (etf.Term, error) {
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
	say(stdout, "demo_b serves gen_server 'greeter' and function demo:add/2")

	events := make(chan node.Event, 16)
	defer a.Subscribe(events)()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := a.Call(cctx, etf.Tuple{etf.Atom("greeter"), b.Name()}, etf.Atom("go"))
	if err != nil {
		return fmt.Errorf("demo_a -> greeter call: %w", err)
	}
	say(stdout, "demo_a: gen_server:call({greeter, demo_b@127.0.0.1}, go) -> %s", etf.Format(res))

	if withErl {
		stopErl, err := demoErl(cctx, stdout, a, b, epmdAddr, cookie)
		if err != nil {
			say(stdout, "erl part skipped: %v", err)
		}
		defer stopErl()
	}
	say(stdout, "cluster up; Ctrl-C to stop")
	for {
		select {
		case <-ctx.Done():
			say(stdout, "stopping the demo")
			return nil
		case ev := <-events:
			say(stdout, "demo_a sees %s %s", ev.Kind, ev.Node)
		}
	}
}

// demoErl starts a stock erl node on the same EPMD and has each side call
// the other. The returned function stops the erl node.
func demoErl(ctx context.Context, stdout io.Writer, a, b *node.Node, epmdAddr, cookie string) (stop func(), err error) {
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
	cmd := exec.Command(erl, "-name", name, "-setcookie", cookie, "-noshell", "-noinput")
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+port, "ERL_CRASH_DUMP="+filepath.Join(dir, "erl_crash.dump"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return fail(err)
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); os.RemoveAll(dir) }
	say(stdout, "started Erlang node %s (stock OTP)", name)
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
		return fail(fmt.Errorf("connect to %s: %w (%s)", name, connErr, out.String()))
	}
	rel, err := a.RPC(ctx, etf.Atom(name), "erlang", "system_info", etf.Atom("otp_release"))
	if err != nil {
		return fail(err)
	}
	say(stdout, "demo_a: rpc:call(%s, erlang, system_info, [otp_release]) -> %s", name, etf.Format(rel))
	res, err := a.RPC(ctx, etf.Atom(name), "gen_server", "call", etf.Tuple{etf.Atom("greeter"), b.Name()}, etf.Atom("erlang"))
	if err != nil {
		return fail(err)
	}
	say(stdout, "%s: gen_server:call({greeter, demo_b@127.0.0.1}, erlang) -> %s", name, etf.Format(res))
	sum, err := a.RPC(ctx, etf.Atom(name), "rpc", "call", b.Name(), etf.Atom("demo"), etf.Atom("add"), etf.List{int64(20), int64(22)})
	if err != nil {
		return fail(err)
	}
	say(stdout, "%s: rpc:call(demo_b@127.0.0.1, demo, add, [20, 22]) -> %s", name, etf.Format(sum))
	ping, err := a.RPC(ctx, etf.Atom(name), "net_adm", "ping", b.Name())
	if err != nil {
		return fail(err)
	}
	say(stdout, "%s: net_adm:ping(demo_b@127.0.0.1) -> %s", name, etf.Format(ping))
	return stop, nil
}
