package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/barrelgo/barrelgo/discovery"
	"github.com/barrelgo/barrelgo/epmd"
	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/handshake"
	"github.com/barrelgo/barrelgo/node"
	"github.com/barrelgo/barrelgo/protodist/auth"
)

// clientArgs is how many positional arguments each client command takes.
var clientArgs = map[string]int{"ping": 1, "send": 3, "call": 3, "rpc": 4, "view": 1, "services": 1, "status": 1}

// cmdClient runs a short-lived hidden node for one request to NODE.
func cmdClient(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addConfigFlags(fs, true)
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the remote node")
	a, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if want := clientArgs[cmd]; len(a) != want {
		return usageError{fmt.Sprintf("%s takes %d arguments, got %d\n\n%s", cmd, want, len(a), usage)}
	}
	peer := etf.Atom(a[0])
	if _, _, err := handshake.SplitNodeName(a[0]); err != nil {
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
	cfg, err := loadConfig(cf.Path(), cf)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(log) // certificate generation logs through it
	rctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rt, err := startRuntime(rctx, cfg, log)
	if err != nil {
		return err
	}
	defer rt.Stop()
	n := rt.n
	if err := n.Connect(rctx, peer); err != nil {
		if cmd == "ping" {
			fmt.Fprintln(stdout, "pang")
		}
		return explain(err, peer, cfg)
	}
	// net_adm:ping's own question; after a send, the answer also proves
	// the message left before the node stops.
	isAuth := func() error {
		_, err := n.Call(rctx, etf.Tuple{etf.Atom("net_kernel"), peer}, etf.Tuple{etf.Atom("is_auth"), n.Name()})
		return err
	}
	switch cmd {
	case "ping":
		if err := isAuth(); err != nil {
			fmt.Fprintln(stdout, "pang")
			return err
		}
		fmt.Fprintln(stdout, "pong")
	case "send":
		name, ok := terms[0].(etf.Atom)
		if !ok {
			return usageError{"NAME must be an atom"}
		}
		if err := n.Send(rctx, etf.Tuple{name, peer}, terms[1]); err != nil {
			return err
		}
		return isAuth()
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
	case "rpc":
		mod, ok1 := terms[0].(etf.Atom)
		fun, ok2 := terms[1].(etf.Atom)
		argv, ok3 := terms[2].(etf.List)
		if bl, ok := terms[2].(etf.ByteList); ok {
			argv, ok3 = list(bl), true
		}
		if !ok1 || !ok2 {
			return usageError{"MOD and FUN must be atoms"}
		}
		if !ok3 {
			return usageError{"ARGS must be a list, e.g. '[1, 2]'"}
		}
		res, err := n.RPC(rctx, peer, mod, fun, argv...)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, etf.Format(res))
	case "view":
		return printView(rctx, n, peer, stdout)
	case "services":
		return printServices(rctx, n, peer, stdout)
	case "status":
		return printStatus(rctx, n, peer, stdout)
	}
	return nil
}

// barrelCall calls barrel_p2p:fun(args...) on peer, naming the usual
// cause when the module is missing.
func barrelCall(ctx context.Context, n *node.Node, peer etf.Atom, fun etf.Atom, args ...etf.Term) (etf.Term, error) {
	res, err := n.RPC(ctx, peer, "barrel_p2p", fun, args...)
	if isUndef(err) {
		return nil, fmt.Errorf("%s does not run barrel_p2p membership: barrel_p2p:%s/%d is undef (a barrelgo node runs it with proto = \"quic\", contact_nodes or membership.enabled = true)",
			peer, fun, len(args))
	}
	return res, err
}

// isUndef reports an rpc that failed with undef: the module or function
// does not exist there.
func isUndef(err error) bool {
	var re *node.RPCError
	if !errors.As(err, &re) {
		return false
	}
	return strings.Contains(etf.Format(re.Reason), "undef")
}

func printView(ctx context.Context, n *node.Node, peer etf.Atom, w io.Writer) error {
	active, err := barrelCall(ctx, n, peer, "active_view")
	if err != nil {
		return err
	}
	passive, err := barrelCall(ctx, n, peer, "passive_view")
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VIEW\tNODE")
	for _, v := range []struct {
		name  string
		nodes []string
	}{{"active", strs(active)}, {"passive", strs(passive)}} {
		slices.Sort(v.nodes)
		if len(v.nodes) == 0 {
			fmt.Fprintf(tw, "%s\t-\n", v.name)
		}
		for _, nd := range v.nodes {
			fmt.Fprintf(tw, "%s\t%s\n", v.name, nd)
		}
	}
	return tw.Flush()
}

// services asks peer's registry for every instance of every service
// (barrel_p2p:list_services/0, then lookup/1 per name).
func services(ctx context.Context, n *node.Node, peer etf.Atom) ([]serviceStatus, []string, error) {
	names, err := barrelCall(ctx, n, peer, "list_services")
	if err != nil {
		return nil, nil, err
	}
	var out []serviceStatus
	var metas []string
	for _, name := range list(names) {
		res, err := barrelCall(ctx, n, peer, "lookup", name)
		if err != nil {
			return nil, nil, err
		}
		t, ok := res.(etf.Tuple)
		if !ok || len(t) != 2 || t[0] != etf.AtomOK {
			continue // gone between the two calls
		}
		for _, e := range list(t[1]) {
			// #service_entry{name, pid, node, meta}
			se, ok := e.(etf.Tuple)
			if !ok || len(se) != 5 || se[0] != etf.Atom("service_entry") {
				continue
			}
			s := serviceStatus{Name: etf.Format(se[1]), Node: str(se[3]), Pid: etf.Format(se[2])}
			// barrel_p2p lists its own instance twice when its cache holds
			// the echo of its registration.
			if !slices.Contains(out, s) {
				out = append(out, s)
				metas = append(metas, etf.Format(se[4]))
			}
		}
	}
	return out, metas, nil
}

func printServices(ctx context.Context, n *node.Node, peer etf.Atom, w io.Writer) error {
	svcs, metas, err := services(ctx, n, peer)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tNODE\tPID\tMETA")
	if len(svcs) == 0 {
		fmt.Fprintln(tw, "-\t\t\t")
	}
	for i, s := range svcs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Node, s.Pid, metas[i])
	}
	return tw.Flush()
}

func printStatus(ctx context.Context, n *node.Node, peer etf.Atom, w io.Writer) error {
	var s nodeStatus
	res, err := n.RPC(ctx, peer, "barrelgo", "status")
	switch {
	case isUndef(err):
		// An Erlang node: what erlang and barrel_p2p tell.
		s, err = erlangStatus(ctx, n, peer)
		if err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if s, err = decodeStatus(res); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "node\t%s\n", s.Node)
	if s.Proto != "" {
		fmt.Fprintf(tw, "proto\t%s (creation %d, up %s)\n", s.Proto, s.Creation, (time.Duration(s.UptimeMS) * time.Millisecond).Round(time.Second))
	}
	fmt.Fprintf(tw, "connected\t%s\n", joinOrNone(s.Connected))
	fmt.Fprintf(tw, "hidden\t%s\n", joinOrNone(s.Hidden))
	if s.Proto != "" {
		fmt.Fprintf(tw, "messages\t%d in, %d out\n", s.Messages.In, s.Messages.Out)
	}
	if !s.Membership {
		fmt.Fprintf(tw, "membership\toff\n")
	} else {
		fmt.Fprintf(tw, "active view\t%s\n", joinOrNone(s.ActiveView))
		fmt.Fprintf(tw, "passive view\t%s\n", joinOrNone(s.PassiveView))
		var svcs []string
		for _, v := range s.Services {
			svcs = append(svcs, fmt.Sprintf("%s on %s %s", v.Name, v.Node, v.Pid))
		}
		fmt.Fprintf(tw, "services\t%s\n", joinOrNone(svcs))
	}
	if s.Proto != "" {
		if s.Auth.Enabled {
			var att []string
			for _, a := range s.Auth.Attempts {
				att = append(att, fmt.Sprintf("%s %s %d", a.Role, a.Outcome, a.Count))
			}
			fmt.Fprintf(tw, "auth\ton, trust %s, fingerprint %s\n", s.Auth.TrustMode, s.Auth.Fingerprint)
			fmt.Fprintf(tw, "auth attempts\t%s\n", joinOrNone(att))
		} else {
			fmt.Fprintf(tw, "auth\toff\n")
		}
		if s.DistGC.Enabled {
			fmt.Fprintf(tw, "dist gc\t%d reaps (sweep every %s, min age %s)\n", s.DistGC.Reaps,
				time.Duration(s.DistGC.SweepPeriodMS)*time.Millisecond, time.Duration(s.DistGC.MinAgeMS)*time.Millisecond)
		} else {
			fmt.Fprintf(tw, "dist gc\toff\n")
		}
	}
	return tw.Flush()
}

// erlangStatus builds what it can of a status from an Erlang node.
func erlangStatus(ctx context.Context, n *node.Node, peer etf.Atom) (nodeStatus, error) {
	s := nodeStatus{Node: string(peer)}
	visible, err := n.RPC(ctx, peer, "erlang", "nodes", etf.Atom("visible"))
	if err != nil {
		return s, err
	}
	hidden, err := n.RPC(ctx, peer, "erlang", "nodes", etf.Atom("hidden"))
	if err != nil {
		return s, err
	}
	s.Connected, s.Hidden = strs(visible), strs(hidden)
	active, err := n.RPC(ctx, peer, "barrel_p2p", "active_view")
	if isUndef(err) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	s.Membership = true
	s.ActiveView = strs(active)
	passive, err := n.RPC(ctx, peer, "barrel_p2p", "passive_view")
	if err != nil {
		return s, err
	}
	s.PassiveView = strs(passive)
	s.Services, _, err = services(ctx, n, peer)
	return s, err
}

// explain adds to a connection error the likely cause, in the words
// operators search for (barrel_p2p's error terms).
func explain(err error, peer etf.Atom, cfg *fileConfig) error {
	hint := ""
	var ae *auth.Error
	if errors.As(err, &ae) {
		hint = explainAuth(ae, peer, cfg)
	}
	switch {
	case hint != "":
	case errors.Is(err, epmd.ErrNotRegistered):
		hint = fmt.Sprintf("no node %s is registered in EPMD at its host: is it running, and with proto = \"tcp\"? (a quic node needs -proto quic)", peer)
	case errors.Is(err, discovery.ErrNotFound):
		hint = fmt.Sprintf("no address for %s: no %s.endpoint in %s and no DNS answer; pass the cluster's -data-dir or -discovery-dir", peer, peer, cfg.QUIC.DiscoveryDir)
	case errors.Is(err, handshake.ErrCookieMismatch):
		hint = "cookie mismatch: both nodes need the same cookie (dist_cookie with barrel_p2p)"
	case errors.Is(err, io.EOF) || strings.Contains(err.Error(), "connection reset"):
		hint = "the peer closed the connection during the handshake: most often a cookie mismatch (set the cluster's cookie), or a node name it refuses"
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout"):
		endpoint := filepath.Join(cfg.QUIC.DiscoveryDir, string(peer)+".endpoint")
		switch {
		case cfg.Proto == "quic" && !exists(endpoint):
			hint = fmt.Sprintf("nothing answered: there is no %s, so DNS discovery dialed the host part on udp port %d; pass the cluster's -discovery-dir (or -data-dir)",
				endpoint, discovery.DefaultPort)
		case cfg.Proto == "quic":
			hint = fmt.Sprintf("nothing answered: is %s running with proto = \"quic\" at the address in %s (a stale file outlives a killed node), and is UDP open?", peer, endpoint)
		default:
			hint = fmt.Sprintf("nothing answered: is %s running, is its port reachable, or does it speak quic (then pass -proto quic)?", peer)
		}
	}
	if hint == "" {
		return err
	}
	return fmt.Errorf("%w\n  hint: %s", err, hint)
}

// explainAuth turns a failed Ed25519 exchange into what to do, on which
// side.
func explainAuth(ae *auth.Error, peer etf.Atom, cfg *fileConfig) string {
	kind := ae.Kind().Error()
	them := errors.Is(ae.Kind(), auth.ErrAuthRejected) && ae.FailReason != ""
	if them {
		kind = ae.FailReason // the peer's AUTH_FAIL reason
	}
	ours := "this client's key"
	if k, err := auth.LoadKeyPair(cfg.QUIC.AuthKeyDir); err == nil {
		ours = hex.EncodeToString(k.Public)
	}
	switch {
	case kind == "untrusted_key" && them:
		return fmt.Sprintf("untrusted_key: %s runs auth_trust_mode = \"strict\" and has no pin for %s; on %s run: barrelgo keys pins store %s %s (then restart it), or use its own -data-dir",
			peer, cfg.Name, peer, cfg.Name, ours)
	case kind == "untrusted_key":
		return fmt.Sprintf("untrusted_key: this client runs auth_trust_mode = \"strict\" and has no pin for %s: barrelgo keys pins store %s PUBHEX --dir %s ('barrelgo keys show' on %s prints PUBHEX)",
			peer, peer, cfg.QUIC.AuthKeyDir, peer)
	case kind == "key_mismatch" && them:
		return fmt.Sprintf("key_mismatch: %s pinned another key for %s (this client's identity changed); on %s: barrelgo keys pins delete %s",
			peer, cfg.Name, peer, cfg.Name)
	case kind == "key_mismatch":
		return fmt.Sprintf("key_mismatch: %s presented a key other than the one pinned in %s (its identity rotated, or it is not who it claims); if the rotation is expected: barrelgo keys pins delete %s --dir %s",
			peer, cfg.QUIC.AuthKeyDir, peer, cfg.QUIC.AuthKeyDir)
	case strings.Contains(kind, "signature"):
		return kind + ": a signature did not verify (a peer clock off by more than auth_timestamp_window, or tampering)"
	case strings.Contains(kind, "timeout"):
		return kind + ": authentication did not finish within auth_handshake_timeout (auth_enabled must be the same on both sides)"
	}
	return "peer authentication failed: " + kind
}
