package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/interop/barrelharness"
)

// `barrelgo node` joins a real barrel_p2p node, and the CLI reads the
// Erlang node's views and services with barrel_p2p's own functions. Skips
// unless BARREL_P2P_ERL and BARREL_P2P_ERL_LIBS are set.
func TestCLIAgainstBarrelP2P(t *testing.T) {
	barrelharness.Require(t)
	c := newQUICCluster(t)
	c.cookie = "cli_barrel"
	disc := filepath.Join(c.root, "discovery")
	e := barrelharness.StartT(t, barrelharness.Options{Name: barrelharness.UniqueName("clierl") + "@127.0.0.1",
		Dir: filepath.Join(c.root, "erl"), DiscoveryDir: disc, Cookie: c.cookie})
	erl := string(e.Name())
	out, stop := startNodeCommand(t, "-proto", "quic", "-name", "cligo@127.0.0.1", "-cookie", c.cookie,
		"-data-dir", filepath.Join(c.root, "go"), "-discovery-dir", disc, "-contact", erl)
	waitUntil(t, "peer_up of the Erlang node", func() bool { return strings.Contains(out.String(), "peer_up "+erl) })

	if _, err := e.Call(t.Context(), "barrel_p2p", "start_service_holder", etf.Atom("erl_svc")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "erl_svc replicated to the Go node", func() bool {
		return strings.Contains(runOK(t, c.client("services", "cligo@127.0.0.1")...), "erl_svc")
	})
	mustContain(t, "view of the Erlang node", squash(runOK(t, c.client("view", erl)...)), "active cligo@127.0.0.1")
	svcs := runOK(t, c.client("services", erl)...)
	mustContain(t, "services of the Erlang node", svcs, "erl_svc", erl, "#{}")
	if strings.Count(svcs, "erl_svc") != 1 {
		t.Errorf("erl_svc listed more than once:\n%s", svcs)
	}
	mustContain(t, "status of the Erlang node", squash(runOK(t, c.client("status", erl)...)),
		"node "+erl, "connected cligo@127.0.0.1", "active view cligo@127.0.0.1", "services erl_svc on "+erl)
	// Erlang calls the Go node's barrel_p2p functions.
	mustContain(t, "rpc from Erlang", runOK(t, c.client("rpc", erl, "rpc", "call", "['cligo@127.0.0.1', barrel_p2p, active_view, []]")...),
		"['"+erl+"']")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
