// Command join-barrel joins a barrel_p2p cluster as a full member: QUIC
// distribution with barrel_p2p's Ed25519 authentication, HyParView
// membership through a contact node, and a Go gen_server registered in
// barrel_p2p's service registry, where Erlang members find it with
// barrel_p2p:whereis_service/1.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership"
	"github.com/barrelgo/barrelgo/membership/hyparview"
	"github.com/barrelgo/barrelgo/node"
	"github.com/barrelgo/barrelgo/protodist"
)

func main() {
	var o Options
	flag.StringVar(&o.Name, "name", "gomember@127.0.0.1", "node name; its host part is where barrel_p2p nodes dial it")
	flag.StringVar(&o.DataDir, "data-dir", "data", "keys/, quic/ and (by default) discovery/ live here, as in barrel_p2p")
	flag.StringVar(&o.Cookie, "cookie", protodist.DefaultDistCookie, "barrel_p2p's dist_cookie")
	flag.StringVar(&o.DiscoveryDir, "discovery-dir", "", "barrel_p2p's discovery_dir, shared with the cluster (default DATA_DIR/discovery)")
	flag.IntVar(&o.Port, "port", 0, "UDP listen port (0: any; the endpoint file publishes it)")
	contacts := flag.String("contact", "", "contact node(s) to join through, comma-separated")
	flag.StringVar(&o.Service, "service", "go_greeter", "name to register the Go service under")
	flag.Parse()
	for c := range strings.SplitSeq(*contacts, ",") {
		if c = strings.TrimSpace(c); c != "" {
			o.Contacts = append(o.Contacts, etf.Atom(c))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m, err := Join(ctx, o)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Stop()
	fmt.Printf("%s joined through %v; service %s registered. From Erlang:\n", m.Node.Name(), o.Contacts, o.Service)
	fmt.Printf("  {ok, Node, Pid} = barrel_p2p:whereis_service(%s), gen_server:call(Pid, hello).\n", o.Service)
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fmt.Printf("active view: %v\n", m.Membership.ActiveView())
		}
	}
}

// snippet:join

// Options describe the member.
type Options struct {
	Name, DataDir, Cookie, DiscoveryDir string
	Port                                int
	Contacts                            []etf.Atom
	Service                             string
	Logger                              *slog.Logger
}

// Member is a running member of the cluster.
type Member struct {
	Node       *node.Node
	Membership *membership.Membership
	Service    *node.Process
}

// Join starts the node on barrel_p2p's QUIC carrier, joins the cluster and
// registers the service.
func Join(ctx context.Context, o Options) (*Member, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	// barrel_p2p's defaults (auth on, TOFU, data/keys, data/quic, ...) under
	// DataDir; the same keys a sys.config would set.
	cfg := protodist.DefaultConfig(o.DataDir)
	cfg.DistCookie = o.Cookie
	cfg.ListenPort = o.Port
	if o.DiscoveryDir != "" {
		cfg.DiscoveryDir = o.DiscoveryDir
	}
	// The transport generates the TLS certificate and the Ed25519 identity
	// on first use, resolves peers through discovery_dir then DNS, and
	// publishes this node's .endpoint file.
	tr, err := protodist.NewFromConfig(cfg, o.Name, 0, o.Logger, nil)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := node.Start(sctx, node.Options{Name: o.Name, Cookie: cfg.DistCookie, Transport: tr, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	hv := hyparview.DefaultConfig()
	hv.ContactNodes = o.Contacts
	m, err := membership.Start(sctx, n, membership.Config{
		HyParView: hv,
		Address:   cfg.Address,
		Port:      tr.Addr().(*net.UDPAddr).Port,
		Logger:    o.Logger,
	})
	if err != nil {
		n.Stop()
		return nil, err
	}
	svc, err := n.StartServer("", node.ServerFuncs{
		Call: func(_ context.Context, _ node.From, req etf.Term) (etf.Term, error) {
			return etf.Tuple{etf.Atom("hello"), req, n.Name()}, nil
		},
	})
	if err == nil {
		err = m.RegisterService(etf.Atom(o.Service), svc.Pid(), etf.Map{{Key: etf.Atom("lang"), Value: etf.Atom("go")}})
	}
	if err != nil {
		m.Stop()
		n.Stop()
		return nil, err
	}
	return &Member{Node: n, Membership: m, Service: svc}, nil
}

// Stop leaves the cluster and stops the node.
func (m *Member) Stop() {
	m.Membership.Stop()
	m.Node.Stop()
}

// end snippet
