package main

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/node"
	"github.com/barrelgo/barrelgo/protodist/auth"
)

// quicCluster starts in-process barrelgo nodes over QUIC with auth and
// membership, sharing one discovery directory, as `barrelgo node` would.
type quicCluster struct {
	t      *testing.T
	root   string
	cookie string
}

func newQUICCluster(t *testing.T) *quicCluster {
	return &quicCluster{t: t, root: t.TempDir(), cookie: "clitest"}
}

func (c *quicCluster) start(alive string, mod func(*fileConfig)) *runtime {
	c.t.Helper()
	cfg := defaultConfig(false)
	cfg.Name = alive + "@127.0.0.1"
	cfg.Proto = "quic"
	cfg.Cookie = c.cookie
	cfg.DataDir = filepath.Join(c.root, alive)
	cfg.Membership.ContactRetry = 200 * time.Millisecond
	if errs := cfg.finish(); len(errs) > 0 {
		c.t.Fatal(errs)
	}
	cfg.QUIC.DiscoveryDir = filepath.Join(c.root, "discovery")
	if mod != nil {
		mod(cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rt, err := startRuntime(ctx, cfg, discardLogger())
	if err != nil {
		c.t.Fatalf("start %s: %v", cfg.Name, err)
	}
	c.t.Cleanup(rt.Stop)
	return rt
}

// client is the flags a CLI client of the cluster passes.
func (c *quicCluster) client(args ...string) []string {
	return append(args, "-proto", "quic", "-cookie", c.cookie,
		"-data-dir", filepath.Join(c.root, "cli"), "-discovery-dir", filepath.Join(c.root, "discovery"))
}

// squash collapses runs of spaces, so tables compare whatever their
// column widths.
func squash(s string) string {
	return regexp.MustCompile(` +`).ReplaceAllString(s, " ")
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s never happened", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// twoNodes starts a and b (joining through a) and waits for their views.
func twoNodes(t *testing.T) (*quicCluster, *runtime, *runtime) {
	c := newQUICCluster(t)
	a := c.start("cla", nil)
	b := c.start("clb", func(cfg *fileConfig) { cfg.Membership.ContactNodes = []etf.Atom{a.n.Name()} })
	waitUntil(t, "a and b in each other's active view", func() bool {
		return slices.Equal(a.m.ActiveView(), []etf.Atom{b.n.Name()}) && slices.Equal(b.m.ActiveView(), []etf.Atom{a.n.Name()})
	})
	return c, a, b
}

func TestViewServicesStatusOverQUIC(t *testing.T) {
	c, a, b := twoNodes(t)
	svc, err := b.n.StartServer("cli_svc", node.ServerFuncs{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.m.RegisterService(etf.Atom("cli_svc"), svc.Pid(), etf.Map{{Key: etf.Atom("zone"), Value: []byte("eu")}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a learns cli_svc", func() bool { return len(a.m.ListServices()) == 1 })

	out := runOK(t, c.client("view", "cla@127.0.0.1")...)
	mustContain(t, "view", out, "VIEW", "active   clb@127.0.0.1", "passive  -")

	out = runOK(t, c.client("services", "cla@127.0.0.1")...)
	mustContain(t, "services", out, "SERVICE", "cli_svc", "clb@127.0.0.1", etf.Format(svc.Pid()), `#{zone => <<"eu">>}`)

	out = squash(runOK(t, c.client("status", "cla@127.0.0.1")...))
	mustContain(t, "status", out,
		"node cla@127.0.0.1",
		"proto quic (creation",
		"connected clb@127.0.0.1",
		"hidden barrelgo_cli_",
		"active view clb@127.0.0.1",
		"passive view -",
		"services cli_svc on clb@127.0.0.1 "+etf.Format(svc.Pid()),
		"auth on, trust tofu, fingerprint ",
		"auth attempts incoming ok",
		"dist gc 0 reaps (sweep every 1m0s, min age 5m0s)")
	fp := a.status().Auth.Fingerprint
	if len(fp) != 64 || !strings.Contains(out, fp) {
		t.Errorf("status does not show a's fingerprint %s:\n%s", fp, out)
	}
}

// barrel_p2p's functions answer Erlang callers as barrel_p2p does.
func TestBarrelP2PFunctions(t *testing.T) {
	c, a, b := twoNodes(t)
	svc, err := b.n.StartServer("fn_svc", node.ServerFuncs{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.m.RegisterService(etf.Atom("fn_svc"), svc.Pid(), nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a learns fn_svc", func() bool { return len(a.m.ListServices()) == 1 })
	pid, bn := etf.Format(svc.Pid()), string(b.n.Name())
	for _, tc := range []struct {
		target, fun, args, want string
	}{
		{"cla@127.0.0.1", "active_view", "[]", "['clb@127.0.0.1']"},
		{"cla@127.0.0.1", "passive_view", "[]", "[]"},
		{"cla@127.0.0.1", "list_services", "[]", "[fn_svc]"},
		{"cla@127.0.0.1", "whereis_service", "[fn_svc]", "{ok,'" + bn + "'," + pid + "}"},
		{"clb@127.0.0.1", "whereis_service", "[fn_svc]", "{ok," + pid + "}"},
		{"cla@127.0.0.1", "whereis_service", "[fn_svc, #{retries => 0}]", "{ok,'" + bn + "'," + pid + "}"},
		{"cla@127.0.0.1", "whereis_service", "[nope]", "{error,not_found}"},
		{"cla@127.0.0.1", "lookup", "[fn_svc]", "{ok,[{service_entry,fn_svc," + pid + ",'" + bn + "',#{}}]}"},
		{"cla@127.0.0.1", "lookup", "[nope]", "{error,not_found}"},
		{"cla@127.0.0.1", "join", "['cla@127.0.0.1']", "{error,cannot_join_self}"},
	} {
		out := runOK(t, c.client("rpc", tc.target, "barrel_p2p", tc.fun, tc.args)...)
		if strings.TrimSpace(out) != tc.want {
			t.Errorf("barrel_p2p:%s(%s) on %s = %s, want %s", tc.fun, tc.args, tc.target, strings.TrimSpace(out), tc.want)
		}
	}
	// Another arity is undef, as for a missing Erlang function clause.
	mustContain(t, "wrong arity", runErr(t, c.client("rpc", "cla@127.0.0.1", "barrel_p2p", "active_view", "[x]")...), "undef")
	st := runOK(t, c.client("rpc", "cla@127.0.0.1", "barrelgo", "status", "[]")...)
	mustContain(t, "barrelgo:status/0", st, "node => 'cla@127.0.0.1'", "active_view => ['clb@127.0.0.1']", "dist_gc => #{")
}

// A TCP node without membership answers status; view names the cause.
func TestStatusAndViewOverTCP(t *testing.T) {
	port, err := freeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	epmd := "127.0.0.1:" + strconv.Itoa(port)
	cfg := defaultConfig(false)
	cfg.Name, cfg.Cookie, cfg.TCP.EPMD = "cltcp@127.0.0.1", "c", epmd
	if errs := cfg.finish(); len(errs) > 0 {
		t.Fatal(errs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rt, err := startRuntime(ctx, cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Stop()
	flags := []string{"-cookie", "c", "-epmd", epmd}
	out := squash(runOK(t, append([]string{"status", "cltcp@127.0.0.1"}, flags...)...))
	mustContain(t, "tcp status", out, "node cltcp@127.0.0.1", "proto tcp", "membership off", "auth off", "dist gc off")
	// The status request itself came in over distribution.
	if !regexp.MustCompile(`messages [1-9]\d* in, \d+ out`).MatchString(out) {
		t.Errorf("status does not count the request it answers: %q", out)
	}
	mustContain(t, "view without membership", runErr(t, append([]string{"view", "cltcp@127.0.0.1"}, flags...)...),
		"does not run barrel_p2p membership", "barrel_p2p:active_view/0 is undef")
	mustContain(t, "quic node over tcp", runErr(t, append([]string{"ping", "nobody@127.0.0.1"}, flags...)...),
		"not registered", "hint: no node nobody@127.0.0.1 is registered in EPMD", "-proto quic")
}

func TestClientErrorsNameTheCause(t *testing.T) {
	c := newQUICCluster(t)
	a := c.start("cle", nil)
	// The wrong cookie.
	wrong := &quicCluster{t: t, root: c.root, cookie: "wrong"}
	mustContain(t, "wrong cookie", runErr(t, wrong.client("ping", string(a.n.Name()), "-timeout", "5s")...), "hint:")
	// Strict trust on the node, and no pin for the client.
	s := c.start("cls", func(cfg *fileConfig) { cfg.QUIC.AuthTrustMode = auth.TrustStrict })
	k, err := auth.EnsureKeyPair(filepath.Join(c.root, "cli", "keys"), nil)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "untrusted", runErr(t, c.client("ping", string(s.n.Name()), "-timeout", "5s", "-name", "me@127.0.0.1")...),
		"untrusted_key", "cls@127.0.0.1 runs auth_trust_mode = \"strict\"",
		"barrelgo keys pins store me@127.0.0.1 "+hex.EncodeToString(k.Public))
	// Nobody at the address DNS discovery gives.
	mustContain(t, "nobody", runErr(t, c.client("ping", "nobody@127.0.0.1", "-timeout", "2s")...), "hint: nothing answered")
}
