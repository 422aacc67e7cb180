package interop

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/discovery"
	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/interop/barrelharness"
	"github.com/barrelgo/barrelgo/node"
	"github.com/barrelgo/barrelgo/protodist"
	"github.com/barrelgo/barrelgo/protodist/auth"
	"github.com/barrelgo/barrelgo/protodist/certs"
)

// bpCookie is the dist_cookie of every barrel_p2p test cluster.
const bpCookie = "bp_interop_cookie"

// bpCluster is barrel_p2p nodes and barrelgo QUIC nodes that find each
// other through one shared discovery directory, the way barrel_p2p nodes
// on one host do (transport.md §6.3).
type bpCluster struct {
	t    *testing.T
	disc string
	log  *slog.Logger
}

func newBPCluster(t *testing.T) *bpCluster {
	t.Helper()
	barrelharness.Require(t)
	level := slog.LevelWarn
	if os.Getenv("BARREL_INTEROP_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return &bpCluster{
		t:    t,
		disc: filepath.Join(t.TempDir(), "discovery"),
		log:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
}

// startErl boots a barrel_p2p node; mod adjusts its options.
func (c *bpCluster) startErl(prefix string, mod ...func(*barrelharness.Options)) *barrelharness.Node {
	c.t.Helper()
	o := barrelharness.Options{
		Name:         barrelharness.UniqueName(prefix) + "@127.0.0.1",
		Dir:          c.t.TempDir(),
		DiscoveryDir: c.disc,
		Cookie:       bpCookie,
	}
	for _, m := range mod {
		m(&o)
	}
	return barrelharness.StartT(c.t, o)
}

// goNode is a barrelgo node on the QUIC carrier with barrel_p2p's config.
type goNode struct {
	*node.Node
	cfg  protodist.Config
	auth auth.Authenticator
	rec  *recordingAuth
	tr   *protodist.Transport
	port int
	dir  string
}

// pins is the Go node's trust store.
func (g *goNode) pins() *auth.Pins { return g.auth.(*auth.Ed25519).Pins() }

// recordingAuth keeps the outcome of every exchange the Go node ran, so
// tests can check the server side too (the carrier only logs it).
type recordingAuth struct {
	auth.Authenticator
	mu      sync.Mutex
	results []authResult
}

type authResult struct {
	role auth.Role
	peer string
	err  error
}

func (r *recordingAuth) Authenticate(ctx context.Context, role auth.Role, dialed string, s *auth.Streams) (string, error) {
	peer, err := r.Authenticator.Authenticate(ctx, role, dialed, s)
	r.mu.Lock()
	r.results = append(r.results, authResult{role, peer, err})
	r.mu.Unlock()
	return peer, err
}

// last returns the outcomes recorded so far.
func (r *recordingAuth) all() []authResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]authResult(nil), r.results...)
}

// goOpts adjust a Go node before it starts.
type goOpts struct {
	cfg      func(*protodist.Config)
	tickTime time.Duration
	dataDir  string
	cookie   string
}

// startGo starts a Go node named prefix+random@127.0.0.1 and publishes
// its endpoint file.
func (c *bpCluster) startGo(prefix string, mod ...func(*goOpts)) *goNode {
	c.t.Helper()
	o := goOpts{dataDir: c.t.TempDir()}
	for _, m := range mod {
		m(&o)
	}
	return c.startGoNamed(barrelharness.UniqueName(prefix)+"@127.0.0.1", o)
}

func (c *bpCluster) startGoNamed(name string, o goOpts) *goNode {
	c.t.Helper()
	cfg := protodist.DefaultConfig(o.dataDir)
	cfg.DistCookie = bpCookie
	cfg.DiscoveryDir = c.disc
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	cookie := cfg.DistCookie
	if o.cookie != "" {
		cookie = o.cookie
	}
	a, err := cfg.NewAuthenticator(name, c.log, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	rec := &recordingAuth{Authenticator: a}
	var carried auth.Authenticator = rec
	if _, ok := a.(*auth.Ed25519); !ok {
		// The carrier special-cases auth.Disabled; keep it visible.
		carried = a
	}
	cred, err := certs.EnsureWith(cfg.QUICCertDir, name, certs.Options{Logger: c.log})
	if err != nil {
		c.t.Fatal(err)
	}
	tr, err := protodist.NewTransport(protodist.TransportOptions{
		ListenAddr:    "127.0.0.1:0",
		Certificate:   cred.Certificate,
		Authenticator: carried,
		// barrel_p2p's chain minus static: endpoint files, then the host
		// part on the default port.
		Resolver: discovery.Chain{discovery.File{Dir: c.disc}, discovery.DNS{Port: discovery.DefaultPort}},
		TickTime: o.tickTime,
		Logger:   c.log,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := node.Start(ctx, node.Options{Name: name, Cookie: cookie, Transport: tr, TickTime: o.tickTime, Logger: c.log})
	if err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	c.t.Cleanup(func() { n.Stop() })
	port := tr.Addr().(*net.UDPAddr).Port
	if err := (discovery.File{Dir: c.disc}).Publish(name, "127.0.0.1", port); err != nil {
		c.t.Fatal(err)
	}
	return &goNode{Node: n, cfg: cfg, auth: a, rec: rec, tr: tr, port: port, dir: o.dataDir}
}

// ctx is a deadline for one scenario.
func (c *bpCluster) ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	c.t.Cleanup(cancel)
	return ctx
}

// probe calls a barrel_probe function and fails the test on error.
func probe(t *testing.T, ctx context.Context, e *barrelharness.Node, fn string, args ...etf.Term) etf.Term {
	t.Helper()
	r, err := e.Probe(ctx, fn, args...)
	if err != nil {
		t.Fatalf("%s:%s on %s: %v", barrelharness.ProbeModule, fn, e.Name(), err)
	}
	return r
}

// authResults are the barrel_p2p auth callback outcomes traced on e, as
// {Side, Result} terms.
func authResults(t *testing.T, ctx context.Context, e *barrelharness.Node) []etf.Tuple {
	t.Helper()
	var out []etf.Tuple
	for _, r := range probe(t, ctx, e, "auth_results").(etf.List) {
		out = append(out, r.(etf.Tuple))
	}
	return out
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return errors.Join(errors.New("timed out waiting for "+what), err)
			}
			return errors.New("timed out waiting for " + what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// bpGoConnect dials e from g and fails the test, with barrel_p2p's view of
// the link, if that does not work.
func bpGoConnect(t *testing.T, ctx context.Context, e *barrelharness.Node, g *goNode) {
	t.Helper()
	err := g.Connect(ctx, e.Name())
	if err == nil {
		return
	}
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dbg, derr := e.Probe(dctx, "dist_debug")
	res, rerr := e.Probe(dctx, "auth_results")
	t.Fatalf("Go dialing %s: %v\nbarrel_p2p auth outcomes: %s (%v)\nbarrel_p2p dist controllers: %.4000s (%v)",
		e.Name(), err, etf.Format(res), rerr, etf.Format(dbg), derr)
}
