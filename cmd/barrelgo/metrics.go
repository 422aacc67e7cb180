package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/barrelgo/barrelgo/node"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Names of the node-level instruments barrelgo adds to barrel_p2p's.
const (
	metricConnUp    = "barrelgo_node_connections_up_total"
	metricConnDown  = "barrelgo_node_connections_down_total"
	metricConnected = "barrelgo_node_connected_nodes"
	metricMessages  = "barrelgo_node_dist_messages_total"
)

// registerNodeMetrics registers the connection counters, fed by the
// node's events until the returned function is called, and the Go runtime
// and process collectors.
func registerNodeMetrics(reg *prometheus.Registry, n *node.Node) (stop func()) {
	up := prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricConnUp,
		Help: "Distribution connections established (nodeup), by peer kind."}, []string{"hidden"})
	down := prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricConnDown,
		Help: "Distribution connections lost (nodedown), by peer kind."}, []string{"hidden"})
	connected := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: metricConnected,
		Help: "Nodes connected now, hidden ones included."}, func() float64 { return float64(len(n.Peers())) })
	messages := func(direction string, count func(node.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: metricMessages,
			Help:        "Distribution messages (signals included, ticks not) over every connection, by direction.",
			ConstLabels: prometheus.Labels{"direction": direction}},
			func() float64 { return float64(count(n.Stats())) })
	}
	reg.MustRegister(up, down, connected,
		messages("in", func(s node.Stats) uint64 { return s.MessagesIn }),
		messages("out", func(s node.Stats) uint64 { return s.MessagesOut }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Both label values exist from the start, so dashboards see zeros.
	for _, h := range []string{"false", "true"} {
		up.WithLabelValues(h)
		down.WithLabelValues(h)
	}
	return n.SubscribeFunc(func(ev node.Event) {
		h := strconv.FormatBool(ev.Hidden)
		switch ev.Kind {
		case node.NodeUp:
			up.WithLabelValues(h).Inc()
		case node.NodeDown:
			down.WithLabelValues(h).Inc()
		}
	})
}

// metricsServer serves /metrics and /healthz.
type metricsServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// startMetrics listens on addr (port 0 picks one) and serves reg's
// metrics and health's report. The server stops before the node, so
// /healthz answers 200 whenever it answers.
func startMetrics(addr string, reg *prometheus.Registry, health func() any) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics_addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(health())
	})
	s := &metricsServer{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // http.ErrServerClosed after Close
	}()
	return s, nil
}

// URL is the metrics page.
func (s *metricsServer) URL() string { return "http://" + s.ln.Addr().String() + "/metrics" }

// HealthURL is the health report.
func (s *metricsServer) HealthURL() string { return "http://" + s.ln.Addr().String() + "/healthz" }

// Close stops serving and waits for the server goroutine.
func (s *metricsServer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.done
}
