package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/barrelgo/barrelgo/membership"
	"github.com/barrelgo/barrelgo/node"
)

// cmdNode runs a node until ctx ends, printing its connections and
// membership changes.
func cmdNode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addConfigFlags(fs, false)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{fmt.Sprintf("node takes no arguments, got %q", pos)}
	}
	cfg, err := loadConfig(cf.Path(), cf)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	// Libraries that log through slog.Default (certificate generation)
	// follow the node's level and format.
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(log)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	rt, err := startRuntime(sctx, cfg, log)
	cancel()
	if err != nil {
		return err
	}
	defer rt.Stop()
	fmt.Fprintln(stdout, rt.describe())
	if rt.m != nil {
		fmt.Fprintf(stdout, "membership on (contact nodes: %s)\n", joinOrNone(atomStrings(cfg.Membership.ContactNodes)))
	}
	if rt.http != nil {
		fmt.Fprintf(stdout, "metrics at %s, health at %s\n", rt.http.URL(), rt.http.HealthURL())
	}
	fmt.Fprintln(stdout, "Ctrl-C to stop")
	lines, stop := rt.watch()
	defer stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "stopping")
			return nil
		case l := <-lines:
			fmt.Fprintln(stdout, l)
		}
	}
}

// watch reports the node's connections and membership changes as lines:
// "nodeup NODE", "nodedown NODE (reason)", "peer_up NODE", "peer_down
// NODE (reason)". Lines are dropped rather than blocking the node when
// nobody reads.
func (r *runtime) watch() (<-chan string, func()) {
	ch := make(chan string, 256)
	emit := func(s string) {
		select {
		case ch <- s:
		default:
		}
	}
	cancelNode := r.n.SubscribeFunc(func(ev node.Event) {
		s := fmt.Sprintf("%s %s", ev.Kind, ev.Node)
		if ev.Hidden {
			s += " (hidden)"
		}
		if ev.Kind == node.NodeDown && ev.Reason != nil {
			s += fmt.Sprintf(" (%v)", ev.Reason)
		}
		emit(s)
	})
	cancelM := func() {}
	if r.m != nil {
		cancelM = r.m.Subscribe(func(ev membership.Event) {
			switch ev.Type {
			case membership.PeerUp:
				emit(fmt.Sprintf("peer_up %s", ev.Node))
			case membership.PeerDown:
				emit(fmt.Sprintf("peer_down %s (%s)", ev.Node, ev.Reason))
			case membership.Left:
				emit("left the overlay")
			}
		})
	}
	return ch, func() { cancelNode(); cancelM() }
}
