package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/barrelgo/barrelgo/membership"
	"github.com/barrelgo/barrelgo/node"
	"github.com/barrelgo/barrelgo/protodist"
	"github.com/prometheus/client_golang/prometheus"
)

// runtime is one running barrelgo node: the distribution node on its
// carrier, membership (with the dist GC) when on, barrel_p2p's API and
// the metrics endpoint. Commands, clients and the demo all start nodes
// through it, so they behave the same.
type runtime struct {
	cfg  *fileConfig
	n    *node.Node
	quic *protodist.Transport   // nil with tcp
	m    *membership.Membership // nil when membership is off
	reg  *prometheus.Registry
	// unmeter stops the node-level counters.
	unmeter func()
	http    *metricsServer // nil without metrics_addr
	started time.Time
}

// startRuntime starts a node as cfg describes, within ctx's deadline.
func startRuntime(ctx context.Context, cfg *fileConfig, log *slog.Logger) (rt *runtime, err error) {
	cookie, err := cfg.distCookie()
	if err != nil {
		return nil, err
	}
	r := &runtime{cfg: cfg, reg: prometheus.NewRegistry(), started: time.Now()}
	defer func() {
		if err != nil {
			r.Stop()
		}
	}()
	opts := node.Options{Name: cfg.Name, Cookie: cookie, Hidden: cfg.Hidden, TickTime: cfg.NetTickTime, Logger: log}
	switch cfg.Proto {
	case "quic":
		r.quic, err = protodist.NewFromConfig(cfg.QUIC, cfg.Name, cfg.NetTickTime, log, r.reg)
		if err != nil {
			return nil, fmt.Errorf("quic carrier: %w", err)
		}
		opts.Transport = r.quic
	default:
		opts.ListenAddr, opts.EPMDAddr, opts.NoEmbeddedEPMD = cfg.TCP.Listen, cfg.TCP.EPMD, cfg.TCP.NoEmbeddedEPMD
		opts.BusyPoll = cfg.TCP.BusyPoll
	}
	r.n, err = node.Start(ctx, opts)
	if err != nil {
		if r.quic != nil {
			r.quic.Close()
		}
		return nil, err
	}
	r.unmeter = registerNodeMetrics(r.reg, r.n)
	if cfg.membershipOn() {
		mc := membership.Config{
			HyParView: cfg.Membership,
			Address:   cfg.QUIC.Address,
			Port:      r.port(),
			Logger:    log,
			Metrics:   membership.NewMetrics(r.reg),
			// The dist GC needs the active view, so membership runs it.
			DistGCSweepPeriod: cfg.QUIC.DistGCSweepPeriod,
			DistGCMinAge:      cfg.QUIC.DistGCMinAge,
			HeartbeatPeriod:   cfg.HeartbeatPeriod,
			HeartbeatTimeout:  cfg.HeartbeatTimeout,
		}
		r.m, err = membership.Start(ctx, r.n, mc)
		if err != nil {
			return nil, err
		}
	}
	r.registerAPI()
	if os.Getenv(envTestAPI) == "1" {
		r.registerTestAPI()
	}
	if cfg.MetricsAddr != "" {
		r.http, err = startMetrics(cfg.MetricsAddr, r.reg, r.health)
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

// port is the distribution listen port (UDP with quic).
func (r *runtime) port() int {
	if r.quic != nil {
		return r.quic.Addr().(*net.UDPAddr).Port
	}
	return r.n.ListenPort()
}

// endpointFile is the .endpoint file barrel_p2p nodes dial this one by,
// "" with tcp.
func (r *runtime) endpointFile() string {
	if r.quic == nil {
		return ""
	}
	return filepath.Join(r.cfg.QUIC.DiscoveryDir, r.cfg.Name+".endpoint")
}

// describe is the one line saying where the node listens.
func (r *runtime) describe() string {
	if r.quic != nil {
		return fmt.Sprintf("%s is up on quic udp %s (creation %d, endpoint file %s)", r.n.Name(), r.quic.Addr(), r.n.Creation(), r.endpointFile())
	}
	return fmt.Sprintf("%s is up on tcp port %d (creation %d)", r.n.Name(), r.n.ListenPort(), r.n.Creation())
}

// Stop stops everything startRuntime started, in reverse order.
func (r *runtime) Stop() {
	if r.http != nil {
		r.http.Close()
	}
	if r.m != nil {
		r.m.Stop()
	}
	if r.unmeter != nil {
		r.unmeter()
	}
	if r.n != nil {
		r.n.Stop()
	}
}

// newLogger builds the slog logger of cfg's log.level and log.format.
func newLogger(cfg *fileConfig, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
