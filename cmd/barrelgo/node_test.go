package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/internal/syncbuf"
)

// startNodeCommand runs `barrelgo node args...` until the test ends and
// returns its stdout and a function that stops it and returns its error.
func startNodeCommand(t *testing.T, args ...string) (*syncbuf.Buffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errb := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"node"}, args...), out, errb) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { stop() })
	waitUntil(t, "the node command is up", func() bool {
		select {
		case err := <-done:
			t.Fatalf("node exited: %v\n%s\n%s", err, out.String(), errb.String())
		default:
		}
		return strings.Contains(out.String(), "Ctrl-C to stop")
	})
	return out, stop
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	http.DefaultClient.CloseIdleConnections()
	return resp.StatusCode, string(b)
}

func TestNodeCommandQUICWithMetrics(t *testing.T) {
	c := newQUICCluster(t)
	seed := c.start("seed", nil)
	data := filepath.Join(c.root, "n1")
	out, stop := startNodeCommand(t, "-proto", "quic", "-name", "n1@127.0.0.1", "-cookie", c.cookie,
		"-data-dir", data, "-discovery-dir", filepath.Join(c.root, "discovery"),
		"-contact", string(seed.n.Name()), "-metrics-addr", "127.0.0.1:0", "-log-format", "json")
	mustContain(t, "start banner", out.String(), "n1@127.0.0.1 is up on quic udp 127.0.0.1:", "membership on (contact nodes: seed@127.0.0.1)")
	// The endpoint file barrel_p2p nodes dial it by.
	endpoint := filepath.Join(c.root, "discovery", "n1@127.0.0.1.endpoint")
	if b, err := os.ReadFile(endpoint); err != nil || !strings.HasPrefix(string(b), `{"127.0.0.1",`) {
		t.Fatalf("endpoint file: %v %q", err, b)
	}
	waitUntil(t, "peer_up printed", func() bool { return strings.Contains(out.String(), "peer_up seed@127.0.0.1") })
	mustContain(t, "events", out.String(), "nodeup seed@127.0.0.1")

	// A client's status call authenticates (auth metrics) as a hidden node.
	mustContain(t, "status", runOK(t, c.client("status", "n1@127.0.0.1")...), "seed@127.0.0.1")
	waitUntil(t, "the hidden client's nodeup and nodedown printed", func() bool {
		return regexp.MustCompile(`nodeup barrelgo_cli_\d+@127.0.0.1 \(hidden\)`).MatchString(out.String()) &&
			regexp.MustCompile(`nodedown barrelgo_cli_\d+@127.0.0.1 \(hidden\)`).MatchString(out.String())
	})

	m := regexp.MustCompile(`metrics at (http://\S+/metrics), health at (http://\S+/healthz)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no metrics URL in %q", out.String())
	}
	want := []string{
		`barrel_p2p_dist_auth_attempts_total{outcome="ok",role="incoming"}`,
		`barrel_p2p_dist_auth_attempts_total{outcome="ok",role="outgoing"}`,
		`barrel_p2p_dist_auth_duration_ms_bucket{outcome="ok",role="incoming",le=`,
		"barrel_p2p_hyparview_peer_up_total 1",
		"barrel_p2p_hyparview_left_total 0",
		"barrel_p2p_hyparview_pending_timeout_total",
		"barrel_p2p_plumtree_delivered_total",
		"barrel_p2p_plumtree_gossip_sent_total",
		`barrelgo_node_connections_up_total{hidden="true"} 1`,
		`barrelgo_node_connections_up_total{hidden="false"} 1`,
		`barrelgo_node_connections_down_total{hidden="true"} 1`,
		"barrelgo_node_connected_nodes 1",
		`barrelgo_node_dist_messages_total{direction="in"}`,
		`barrelgo_node_dist_messages_total{direction="out"}`,
		"go_goroutines", "process_resident_memory_bytes",
	}
	var body string
	missing := func() []string {
		var out []string
		for _, name := range want {
			if !strings.Contains(body, name) {
				out = append(out, name)
			}
		}
		return out
	}
	// The client's nodedown reaches the counters just after the printer.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var code int
		if code, body = httpGet(t, m[1]); code != http.StatusOK {
			t.Fatalf("/metrics: %d", code)
		}
		if len(missing()) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, name := range missing() {
		t.Errorf("/metrics lacks %s", name)
	}
	// Every barrelgo and barrel_p2p family is in the example's table.
	example, err := os.ReadFile(filepath.Join("..", "..", "barrelgo.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range regexp.MustCompile(`(?m)^# TYPE ((?:barrel_p2p|barrelgo)_\w+) `).FindAllStringSubmatch(body, -1) {
		if !bytes.Contains(example, []byte("#   "+fam[1]+" ")) {
			t.Errorf("barrelgo.example.toml's metrics table lacks %s", fam[1])
		}
	}

	code, body := httpGet(t, m[2])
	var h nodeStatus
	if err := json.Unmarshal([]byte(body), &h); err != nil || code != http.StatusOK {
		t.Fatalf("/healthz: %d %v %s", code, err, body)
	}
	if h.Node != "n1@127.0.0.1" || h.Proto != "quic" || len(h.Connected) != 1 || h.Connected[0] != "seed@127.0.0.1" ||
		len(h.ActiveView) != 1 || h.ActiveView[0] != "seed@127.0.0.1" || !h.Auth.Enabled {
		t.Fatalf("/healthz: %s", body)
	}

	if err := stop(); err != nil {
		t.Fatalf("node command: %v", err)
	}
	mustContain(t, "stop", out.String(), "stopping")
	if _, err := os.Stat(endpoint); !os.IsNotExist(err) {
		t.Fatalf("the endpoint file outlived the node: %v", err)
	}
}

func TestNodeCommandTCP(t *testing.T) {
	port, err := freeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	epmd := "127.0.0.1:" + strconv.Itoa(port)
	out, stop := startNodeCommand(t, "-name", "tcpn@127.0.0.1", "-cookie", "c", "-epmd", epmd)
	mustContain(t, "banner", out.String(), "tcpn@127.0.0.1 is up on tcp port ")
	if strings.Contains(out.String(), "membership on") || strings.Contains(out.String(), "metrics at") {
		t.Fatalf("tcp node without contacts or metrics_addr runs them:\n%s", out.String())
	}
	mustContain(t, "ping", runOK(t, "ping", "-cookie", "c", "-epmd", epmd, "tcpn@127.0.0.1"), "pong")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "events", out.String(), "(hidden)", "stopping")
}
