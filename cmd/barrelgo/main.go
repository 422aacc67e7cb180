// Command barrelgo runs a barrelgo node and talks to Erlang nodes from the
// shell: ping, send, call and rpc with terms written in Erlang syntax.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/node"
)

const usage = `barrelgo: a Go node for BEAM clusters

Usage:
  barrelgo node [flags]                 run a node until interrupted
  barrelgo ping [flags] NODE            net_adm:ping NODE
  barrelgo send [flags] NODE NAME TERM  send TERM to {NAME, NODE}
  barrelgo call [flags] NODE NAME TERM  gen_server:call({NAME, NODE}, TERM)
  barrelgo rpc  [flags] NODE MOD FUN ARGS  rpc:call(NODE, MOD, FUN, ARGS)
  barrelgo demo [flags]                 a local demo cluster on loopback

Terms are Erlang syntax: '{ok, <<"hi">>, [1,2]}', 'hello', '#{a => 1}'.
Run 'barrelgo COMMAND -h' for the flags of a command.
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "barrelgo:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, rest := args[0], args[1:]
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "node":
		return cmdNode(ctx, rest, stdout, stderr)
	case "ping":
		return cmdClient(ctx, cmd, rest, 1, stdout, stderr)
	case "send", "call":
		return cmdClient(ctx, cmd, rest, 3, stdout, stderr)
	case "rpc":
		return cmdClient(ctx, cmd, rest, 4, stdout, stderr)
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr)
	case "keys":
		return cmdKeys(ctx, rest, stdout, stderr)
	case "cert":
		return cmdCert(ctx, rest, stdout, stderr)
	case "view":
		return cmdView(ctx, rest, stdout, stderr)
	case "services":
		return cmdServices(ctx, rest, stdout, stderr)
	case "status":
		return cmdStatus(ctx, rest, stdout, stderr)
	case "doctor":
		return cmdDoctor(ctx, rest, stdout, stderr)
	}
	return usageError{fmt.Sprintf("unknown command %q\n\n%s", cmd, usage)}
}

// common holds the flags every command shares.
type common struct {
	name     string
	cookie   string
	epmd     string
	hidden   bool
	timeout  time.Duration
	logLevel string
	logJSON  bool
}

func (c *common) register(fs *flag.FlagSet, defaultName string, hidden bool) {
	fs.StringVar(&c.name, "name", defaultName, "node name, alive@host")
	fs.StringVar(&c.cookie, "cookie", "", "distribution cookie (default: $ERLANG_COOKIE or ~/.erlang.cookie)")
	fs.StringVar(&c.epmd, "epmd", "", "EPMD address host:port (default 127.0.0.1:$ERL_EPMD_PORT or 4369)")
	fs.BoolVar(&c.hidden, "hidden", hidden, "run as a hidden node")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long to wait for the remote node")
	fs.StringVar(&c.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	fs.BoolVar(&c.logJSON, "log-json", false, "log as JSON lines")
}

func (c *common) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, usageError{fmt.Sprintf("invalid -log-level %q: want debug, info, warn or error", c.logLevel)}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if c.logJSON {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

func (c *common) resolveCookie() (string, error) {
	if c.cookie != "" {
		return c.cookie, nil
	}
	if v := os.Getenv("ERLANG_COOKIE"); v != "" {
		return v, nil
	}
	home, err := os.UserHomeDir()
	if err == nil {
		b, err := os.ReadFile(home + "/.erlang.cookie")
		if err == nil && len(strings.TrimSpace(string(b))) > 0 {
			return strings.TrimSpace(string(b)), nil
		}
	}
	return "", usageError{"no cookie: pass -cookie, set ERLANG_COOKIE, or create ~/.erlang.cookie"}
}

func (c *common) start(ctx context.Context, stderr io.Writer) (*node.Node, error) {
	cookie, err := c.resolveCookie()
	if err != nil {
		return nil, err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return node.Start(sctx, node.Options{Name: c.name, Cookie: cookie, Hidden: c.hidden, EPMDAddr: c.epmd, Logger: log})
}

func cmdNode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	host, _ := os.Hostname()
	c.register(fs, "barrelgo@"+host, false)
	c.logLevel = "info"
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	n, err := c.start(ctx, stderr)
	if err != nil {
		return err
	}
	defer n.Stop()
	fmt.Fprintf(stdout, "%s is up (creation %d); Ctrl-C to stop\n", n.Name(), n.Creation())
	events := make(chan node.Event, 16)
	cancel := n.Subscribe(events)
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "stopping")
			return nil
		case ev := <-events:
			fmt.Fprintf(stdout, "%s %s\n", ev.Kind, ev.Node)
		}
	}
}

// cmdClient runs a short-lived hidden node for one request.
func cmdClient(ctx context.Context, cmd string, args []string, nargs int, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs, fmt.Sprintf("barrelgo_cli_%d@127.0.0.1", os.Getpid()), true)
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != nargs {
		return usageError{fmt.Sprintf("%s takes %d arguments, got %d\n\n%s", cmd, nargs, fs.NArg(), usage)}
	}
	a := fs.Args()
	peer := etf.Atom(a[0])
	if !strings.Contains(a[0], "@") {
		return usageError{fmt.Sprintf("%q is not a node name (name@host)", a[0])}
	}
	// Parse terms before starting anything, so typos fail fast.
	var terms []etf.Term
	for _, s := range a[1:] {
		t, err := etf.Parse(s)
		if err != nil {
			return usageError{fmt.Sprintf("cannot parse %q: %v", s, err)}
		}
		terms = append(terms, t)
	}
	n, err := c.start(ctx, stderr)
	if err != nil {
		return err
	}
	defer n.Stop()
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	switch cmd {
	case "ping":
		if err := n.Connect(rctx, peer); err != nil {
			fmt.Fprintln(stdout, "pang")
			return err
		}
		fmt.Fprintln(stdout, "pong")
		return nil
	case "send":
		name, ok := terms[0].(etf.Atom)
		if !ok {
			return usageError{"NAME must be an atom"}
		}
		if err := n.Send(rctx, etf.Tuple{name, peer}, terms[1]); err != nil {
			return err
		}
		// Give the message time to leave before the node stops.
		_, err := n.Call(rctx, etf.Tuple{etf.Atom("net_kernel"), peer}, etf.Tuple{etf.Atom("is_auth"), n.Name()})
		return err
	case "call":
		name, ok := terms[0].(etf.Atom)
		if !ok {
			return usageError{"NAME must be an atom"}
		}
		res, err := n.Call(rctx, etf.Tuple{name, peer}, terms[1])
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, etf.Format(res))
		return nil
	case "rpc":
		mod, ok1 := terms[0].(etf.Atom)
		fun, ok2 := terms[1].(etf.Atom)
		if !ok1 || !ok2 {
			return usageError{"MOD and FUN must be atoms"}
		}
		var argv []etf.Term
		switch l := terms[2].(type) {
		case etf.List:
			argv = l
		case etf.ByteList:
			for _, b := range l {
				argv = append(argv, int64(b))
			}
		default:
			return usageError{"ARGS must be a list, e.g. '[1, 2]'"}
		}
		res, err := n.RPC(rctx, peer, mod, fun, argv...)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, etf.Format(res))
		return nil
	}
	return nil
}
