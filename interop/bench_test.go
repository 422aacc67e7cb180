package interop

// Distribution benchmarks. Every comparison is made against a baseline
// measured in the same `go test` invocation, never against a constant:
//
//   - BenchmarkDistErl: ErlErl is two stock erl nodes (the baseline), ErlGo
//     the same Erlang driver (dist_bench.erl, timed in Erlang) against a Go
//     peer, GoErl a Go driver (timed in Go) against an Erlang peer.
//   - BenchmarkDistGoGo: two Go nodes over TCP (the baseline), over QUIC
//     without auth, and over QUIC with barrel_p2p's Ed25519 auth.
//
// scripts/bench_dist.sh runs both and prints the ratios.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	rand2 "math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/epmd"
	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/internal/syncbuf"
	"github.com/barrelgo/barrelgo/interop/erlharness"
	"github.com/barrelgo/barrelgo/node"
	"github.com/barrelgo/barrelgo/protodist"
	"github.com/barrelgo/barrelgo/protodist/auth"
)

// benchRunTimeout bounds one measured run (one b.N), whoever drives it.
const benchRunTimeout = 5 * time.Minute

// The messages of the benchmarks; dist_bench:msg/1 builds the same terms.
var (
	benchSmall    = etf.Tuple{etf.Atom("bench"), int64(1), []byte(strings.Repeat("0123456789abcdef", 2))}
	benchBig      = []byte(strings.Repeat("0123456789abcdef", 65536)) // 1 MiB
	benchBigBytes = len(benchBig)
)

// benchLogger keeps node logs off the benchmark lines: only errors show.
func benchLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// benchEPMD starts a private EPMD and returns its port.
func benchEPMD(b *testing.B, log *slog.Logger) int {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := epmd.Start(ctx, "127.0.0.1:0", epmd.WithLogger(log))
	if err != nil {
		b.Fatalf("start epmd: %v", err)
	}
	b.Cleanup(func() { srv.Close() })
	return srv.Port()
}

func benchTCPNode(b *testing.B, epmdPort int, log *slog.Logger, alive string, busyPoll time.Duration) *node.Node {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := node.Start(ctx, node.Options{
		Name:           alive + strconv.Itoa(rand2.IntN(1e6)) + "@127.0.0.1",
		Cookie:         testCookie,
		EPMDAddr:       "127.0.0.1:" + strconv.Itoa(epmdPort),
		NoEmbeddedEPMD: true,
		BusyPoll:       busyPoll,
		Logger:         log,
	})
	if err != nil {
		b.Fatalf("start go node: %v", err)
	}
	b.Cleanup(func() { n.Stop() })
	return n
}

// benchErl starts a stock erl node running dist_bench and waits until its
// names exist and it is registered with EPMD. ERL_FLAGS from the
// environment reaches it, so scheduler options can be tried without code
// changes.
func benchErl(b *testing.B, epmdPort int, ebin string) etf.Atom {
	b.Helper()
	alive := "erlb" + strconv.Itoa(rand2.IntN(1e6))
	cmd := exec.Command("erl", "-name", alive+"@127.0.0.1", "-setcookie", testCookie, "-noshell", "-noinput",
		"-start_epmd", "false", "-pa", ebin, "-s", "dist_bench", "start")
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(epmdPort), "ERL_CRASH_DUMP_SECONDS=0")
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start erl: %v", err)
	}
	b.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	cl := epmd.NewClient("127.0.0.1:" + strconv.Itoa(epmdPort))
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cl.PortPlease(ctx, alive)
		cancel()
		if err == nil && strings.Contains(out.String(), "dist_bench ready") {
			return etf.Atom(alive + "@127.0.0.1")
		}
		if time.Now().After(deadline) {
			b.Fatalf("erl %s never got ready (epmd: %v)\n%s", alive, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// benchRPC runs dist_bench:fun(args...) on an Erlang node.
func benchRPC(b *testing.B, from *node.Node, on etf.Atom, fun string, args ...etf.Term) etf.Term {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchRunTimeout)
	defer cancel()
	res, err := from.RPC(ctx, on, "dist_bench", etf.Atom(fun), args...)
	if err != nil {
		b.Fatalf("rpc dist_bench:%s on %s: %v", fun, on, err)
	}
	return res
}

func benchPid(b *testing.B, what string, t etf.Term) etf.Pid {
	b.Helper()
	p, ok := t.(etf.Pid)
	if !ok {
		b.Fatalf("%s = %s, want a pid", what, etf.Format(t))
	}
	return p
}

// spawnBenchEcho starts a Go echo process: {From, Msg} -> From ! Msg.
func spawnBenchEcho(b testing.TB, n *node.Node) etf.Pid {
	b.Helper()
	p, err := n.Spawn(func(p *node.Process) error {
		ctx := p.Context()
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return nil
			}
			if t, ok := m.(etf.Tuple); ok && len(t) == 2 {
				if from, ok := t[0].(etf.Pid); ok {
					if err := p.Send(ctx, from, t[1]); err != nil {
						return nil
					}
				}
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	return p.Pid()
}

// spawnBenchSink starts a Go sink: {bench_sink, ReplyTo, N}, then N
// messages, then ReplyTo ! {bench_sink_done, N}.
func spawnBenchSink(b *testing.B, n *node.Node) etf.Pid {
	b.Helper()
	p, err := n.Spawn(func(p *node.Process) error {
		ctx := p.Context()
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return nil
			}
			t, ok := m.(etf.Tuple)
			if !ok || len(t) != 3 || t[0] != etf.Atom("bench_sink") {
				continue
			}
			replyTo, _ := t[1].(etf.Pid)
			count, _ := t[2].(int64)
			for range count {
				if _, err := p.Receive(ctx); err != nil {
					return nil
				}
			}
			if err := p.Send(ctx, replyTo, etf.Tuple{etf.Atom("bench_sink_done"), count}); err != nil {
				return nil
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	return p.Pid()
}

// percentile is the nearest-rank percentile of sorted samples, as
// dist_bench:pct/2 takes it.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(1, min(len(sorted), i))-1]
}

// cpuTime is the CPU time this process has used, user and system. Both
// ends of a Go<->Go benchmark run here, so its growth per operation is the
// whole cost of the transport under test, a figure a busy machine disturbs
// less than wall-clock rates; with an Erlang peer it is the Go side's
// share (and next to nothing for ErlErl, where Go only makes the rpc).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64((cpuTime()-since).Nanoseconds())/1e3/float64(b.N), "cpu-us/op")
}

func reportRTT(b *testing.B, total, p50, p99 time.Duration) {
	b.ReportMetric(float64(b.N)/total.Seconds(), "roundtrips/s")
	b.ReportMetric(float64(p50.Nanoseconds())/1e3, "p50-us")
	b.ReportMetric(float64(p99.Nanoseconds())/1e3, "p99-us")
}

func reportOneway(b *testing.B, total time.Duration, msgBytes int) {
	b.ReportMetric(float64(b.N)/total.Seconds(), "msgs/s")
	if msgBytes > 0 {
		b.ReportMetric(float64(b.N)*float64(msgBytes)/1e6/total.Seconds(), "MB/s")
	}
}

// goPingPong: a Go process on from sends {Self, Msg} to echo and waits for
// Msg, b.N times, timing each round trip.
func goPingPong(b *testing.B, from *node.Node, echo etf.Pid) {
	p, err := from.NewProcess()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Exit(node.Normal)
	ctx, cancel := context.WithTimeout(context.Background(), benchRunTimeout)
	defer cancel()
	req := etf.Tuple{p.Pid(), benchSmall}
	samples := make([]time.Duration, b.N)
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	for i := range samples {
		t0 := time.Now()
		if err := p.Send(ctx, echo, req); err != nil {
			b.Fatal(err)
		}
		m, err := p.Receive(ctx)
		if err != nil {
			b.Fatalf("round trip %d: %v", i, err)
		}
		samples[i] = time.Since(t0)
		if t, ok := m.(etf.Tuple); !ok || len(t) != 3 {
			b.Fatalf("echo returned %s", etf.Format(m))
		}
	}
	total := time.Since(start)
	b.StopTimer()
	reportCPU(b, cpu0)
	slices.Sort(samples)
	reportRTT(b, total, percentile(samples, 50), percentile(samples, 99))
}

// goOneway: a Go process on from sends b.N copies of msg to sink, timed
// until the sink reports it has them all.
func goOneway(b *testing.B, from *node.Node, sink etf.Pid, msg etf.Term, msgBytes int) {
	p, err := from.NewProcess()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Exit(node.Normal)
	ctx, cancel := context.WithTimeout(context.Background(), benchRunTimeout)
	defer cancel()
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	if err := p.Send(ctx, sink, etf.Tuple{etf.Atom("bench_sink"), p.Pid(), int64(b.N)}); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		if err := p.Send(ctx, sink, msg); err != nil {
			b.Fatal(err)
		}
	}
	m, err := p.Receive(ctx)
	total := time.Since(start)
	b.StopTimer()
	reportCPU(b, cpu0)
	if err != nil {
		b.Fatalf("sink never reported: %v", err)
	}
	if want := (etf.Tuple{etf.Atom("bench_sink_done"), int64(b.N)}); !etf.Equal(m, want) {
		b.Fatalf("sink reported %s, want %s", etf.Format(m), etf.Format(want))
	}
	reportOneway(b, total, msgBytes)
}

// erlPingPong runs dist_bench:pingpong on driver against echo; the timing
// is Erlang's and replaces ns/op.
func erlPingPong(b *testing.B, rpcFrom *node.Node, driver etf.Atom, echo etf.Pid) {
	b.ResetTimer()
	cpu0 := cpuTime()
	res := benchRPC(b, rpcFrom, driver, "pingpong", echo, int64(b.N), etf.Atom("small"))
	b.StopTimer()
	reportCPU(b, cpu0)
	t, ok := res.(etf.Tuple)
	if !ok || len(t) != 3 {
		b.Fatalf("pingpong = %s", etf.Format(res))
	}
	ns := func(x etf.Term) time.Duration { v, _ := x.(int64); return time.Duration(v) }
	total := ns(t[0])
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/op")
	reportRTT(b, total, ns(t[1]), ns(t[2]))
}

// erlOneway runs dist_bench:oneway on driver towards sink.
func erlOneway(b *testing.B, rpcFrom *node.Node, driver etf.Atom, sink etf.Pid, kind string, msgBytes int) {
	b.ResetTimer()
	cpu0 := cpuTime()
	res := benchRPC(b, rpcFrom, driver, "oneway", sink, int64(b.N), etf.Atom(kind))
	b.StopTimer()
	reportCPU(b, cpu0)
	v, ok := res.(int64)
	if !ok {
		b.Fatalf("oneway = %s", etf.Format(res))
	}
	total := time.Duration(v)
	b.ReportMetric(float64(v)/float64(b.N), "ns/op")
	reportOneway(b, total, msgBytes)
}

// BenchmarkDistErl compares Go<->Erlang with Erlang<->Erlang over TCP.
func BenchmarkDistErl(b *testing.B) {
	erlharness.RequireErl(b)
	log := benchLogger()
	port := benchEPMD(b, log)
	ebin := erlharness.CompileTestApp(b)
	g := benchTCPNode(b, port, log, "gob", 0)
	gp := benchTCPNode(b, port, log, "gobpoll", benchBusyPoll)
	erlA := benchErl(b, port, ebin)
	erlB := benchErl(b, port, ebin)

	if r := benchRPC(b, g, erlA, "connect", erlB); r != etf.Atom("true") {
		b.Fatalf("connect %s -> %s = %s", erlA, erlB, etf.Format(r))
	}
	erlEcho := benchPid(b, "echo on B", benchRPC(b, g, erlB, "start_echo"))
	erlSink := benchPid(b, "sink on B", benchRPC(b, g, erlB, "start_sink"))
	goEcho := spawnBenchEcho(b, g)
	goSink := spawnBenchSink(b, g)
	pollEcho := spawnBenchEcho(b, gp)
	pollSink := spawnBenchSink(b, gp)

	// ErlErl: erl A drives, erl B answers. ErlGo: erl A drives, the Go
	// node answers. GoErl: the Go node drives, erl B answers.
	b.Run("ErlErl/pingpong", func(b *testing.B) { erlPingPong(b, g, erlA, erlEcho) })
	b.Run("ErlGo/pingpong", func(b *testing.B) { erlPingPong(b, g, erlA, goEcho) })
	b.Run("GoErl/pingpong", func(b *testing.B) { goPingPong(b, g, erlEcho) })
	b.Run("ErlErl/oneway_small", func(b *testing.B) { erlOneway(b, g, erlA, erlSink, "small", 0) })
	b.Run("ErlGo/oneway_small", func(b *testing.B) { erlOneway(b, g, erlA, goSink, "small", 0) })
	b.Run("GoErl/oneway_small", func(b *testing.B) { goOneway(b, g, erlSink, benchSmall, 0) })
	b.Run("ErlErl/oneway_1MiB", func(b *testing.B) { erlOneway(b, g, erlA, erlSink, "big", benchBigBytes) })
	b.Run("ErlGo/oneway_1MiB", func(b *testing.B) { erlOneway(b, g, erlA, goSink, "big", benchBigBytes) })
	b.Run("GoErl/oneway_1MiB", func(b *testing.B) { goOneway(b, g, erlSink, benchBig, benchBigBytes) })

	// The same against a Go node in the low-latency profile of
	// docs/troubleshooting.md: BusyPoll, and GOMAXPROCS=1 while it runs
	// (this process holds only the Go nodes; the erl nodes keep theirs).
	b.Run("ErlGoPoll/pingpong", oneProc(func(b *testing.B) { erlPingPong(b, g, erlA, pollEcho) }))
	b.Run("GoErlPoll/pingpong", oneProc(func(b *testing.B) { goPingPong(b, gp, erlEcho) }))
	b.Run("ErlGoPoll/oneway_small", oneProc(func(b *testing.B) { erlOneway(b, g, erlA, pollSink, "small", 0) }))
	b.Run("GoErlPoll/oneway_small", oneProc(func(b *testing.B) { goOneway(b, gp, erlSink, benchSmall, 0) }))
	b.Run("ErlGoPoll/oneway_1MiB", oneProc(func(b *testing.B) { erlOneway(b, g, erlA, pollSink, "big", benchBigBytes) }))
	b.Run("GoErlPoll/oneway_1MiB", oneProc(func(b *testing.B) { goOneway(b, gp, erlSink, benchBig, benchBigBytes) }))
}

// benchBusyPoll is the low-latency profile's node.Options.BusyPoll.
const benchBusyPoll = 100 * time.Microsecond

// oneProc runs a benchmark with GOMAXPROCS=1.
func oneProc(f func(b *testing.B)) func(b *testing.B) {
	return func(b *testing.B) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		f(b)
	}
}

// benchResolver is a fixed name table, written before any dial.
type benchResolver struct {
	mu sync.Mutex
	m  map[string]string
}

func (r *benchResolver) Resolve(_ context.Context, node string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.m[node]; ok {
		return a, nil
	}
	return "", fmt.Errorf("bench: no address for %s", node)
}

func benchCert(b *testing.B) tls.Certificate {
	b.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(rand2.Int64N(1 << 62)),
		Subject:      pkix.Name{CommonName: "barrel_p2p-node"},
		NotBefore:    time.Now().Add(-5 * time.Minute),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// benchQUICNode starts a Go node on the QUIC carrier, with barrel_p2p's
// Ed25519 authenticator (in-memory key and TOFU pins) when withAuth.
func benchQUICNode(b *testing.B, r *benchResolver, log *slog.Logger, alive string, withAuth bool) *node.Node {
	b.Helper()
	name := alive + strconv.Itoa(rand2.IntN(1e6)) + "@127.0.0.1"
	var a auth.Authenticator
	if withAuth {
		kp, err := auth.GenerateKeyPair(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		ed, err := auth.New(auth.Config{LocalName: name, Identity: kp, Pins: auth.NewMemoryPins(log), Logger: log})
		if err != nil {
			b.Fatal(err)
		}
		a = ed
	}
	tr, err := protodist.NewTransport(protodist.TransportOptions{
		ListenAddr:    "127.0.0.1:0",
		Certificate:   benchCert(b),
		Authenticator: a,
		Resolver:      r,
		Logger:        log,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := node.Start(ctx, node.Options{Name: name, Cookie: testCookie, Transport: tr, Logger: log})
	if err != nil {
		b.Fatalf("start %s: %v", name, err)
	}
	b.Cleanup(func() { n.Stop() })
	r.mu.Lock()
	r.m[name] = tr.Addr().String()
	r.mu.Unlock()
	return n
}

// goConnect times from.Connect(to): transport set-up (EPMD lookup and TCP,
// or QUIC, TLS and auth) plus the distribution handshake. Tear-down is not
// timed: each iteration waits until to has seen the old connection go.
func goConnect(b *testing.B, from, to *node.Node) {
	events := make(chan node.Event, 64)
	stop := to.Subscribe(events)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), benchRunTimeout)
	defer cancel()
	waitFor := func(kind node.EventKind) {
		for {
			select {
			case ev := <-events:
				if ev.Kind == kind && ev.Node == from.Name() {
					return
				}
			case <-ctx.Done():
				b.Fatalf("%s never saw %s: %v", to.Name(), kind, from.Name())
			}
		}
	}
	if from.Disconnect(to.Name()) {
		waitFor(node.NodeDown)
	}
	samples := make([]time.Duration, b.N)
	b.ResetTimer()
	var total time.Duration
	for i := range samples {
		t0 := time.Now()
		if err := from.Connect(ctx, to.Name()); err != nil {
			b.Fatalf("connect %d: %v", i, err)
		}
		samples[i] = time.Since(t0)
		total += samples[i]
		b.StopTimer()
		// The initiator's Connect can return before the acceptor has
		// registered the connection; closing it then would leave the
		// acceptor nothing to report down.
		waitFor(node.NodeUp)
		from.Disconnect(to.Name())
		waitFor(node.NodeDown)
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(samples)
	b.ReportMetric(float64(percentile(samples, 50).Nanoseconds())/1e3, "p50-us")
	b.ReportMetric(float64(percentile(samples, 99).Nanoseconds())/1e3, "p99-us")
	b.ReportMetric(float64(b.N)/total.Seconds(), "connects/s")
}

// BenchmarkDistGoGo compares the QUIC carrier (without and with auth)
// with TCP, Go node to Go node. Each pair runs alone: the previous pair
// is stopped first, so no transport measures in another's leftovers.
func BenchmarkDistGoGo(b *testing.B) {
	log := benchLogger()
	port := benchEPMD(b, log)
	res := &benchResolver{m: map[string]string{}}
	pairs := []struct {
		name  string
		start func() (*node.Node, *node.Node)
	}{
		{"TCP", func() (*node.Node, *node.Node) {
			return benchTCPNode(b, port, log, "gta", 0), benchTCPNode(b, port, log, "gtz", 0)
		}},
		{"QUIC", func() (*node.Node, *node.Node) {
			return benchQUICNode(b, res, log, "gqa", false), benchQUICNode(b, res, log, "gqz", false)
		}},
		{"QUIC_auth", func() (*node.Node, *node.Node) {
			return benchQUICNode(b, res, log, "gaa", true), benchQUICNode(b, res, log, "gaz", true)
		}},
	}
	for _, pr := range pairs {
		a, z := pr.start()
		echo := spawnBenchEcho(b, z)
		sink := spawnBenchSink(b, z)
		b.Run(pr.name+"/connect", func(b *testing.B) { goConnect(b, a, z) })
		b.Run(pr.name+"/pingpong", func(b *testing.B) { goPingPong(b, a, echo) })
		b.Run(pr.name+"/oneway_small", func(b *testing.B) { goOneway(b, a, sink, benchSmall, 0) })
		b.Run(pr.name+"/oneway_1MiB", func(b *testing.B) { goOneway(b, a, sink, benchBig, benchBigBytes) })
		a.Stop()
		z.Stop()
		runtime.GC()
	}
}

// The Erlang driver's percentiles (from a histogram) agree with Go's
// nearest rank over the sorted samples to within half a bucket, so the
// ErlErl, ErlGo and GoErl rows report the same statistic.
func TestDistBenchPercentiles(t *testing.T) {
	c := newCluster(t)
	alive := "erlp" + strconv.Itoa(rand2.IntN(1e6))
	e := c.startVM(alive, "erl", []string{"-name", alive + "@127.0.0.1", "-setcookie", testCookie,
		"-noshell", "-noinput", "-pa", c.ebin, "-s", "dist_bench", "start"}, "dist_bench ready")
	const halfBucket = 125 * time.Nanosecond
	ps := []int{1, 50, 90, 99, 100}
	for _, n := range []int{1, 7, 5000} {
		samples := make([]time.Duration, n)
		list := make(etf.List, n)
		for i := range samples {
			// Mostly tens of microseconds, with a tail into milliseconds.
			d := time.Duration(20e3 + rand2.ExpFloat64()*30e3)
			if rand2.IntN(50) == 0 {
				d += time.Duration(rand2.IntN(5e6))
			}
			samples[i], list[i] = d, int64(d)
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		res, err := c.go1.RPC(ctx, e.name, "dist_bench", "percentiles", list, etf.List{int64(1), int64(50), int64(90), int64(99), int64(100)})
		cancel()
		if err != nil {
			t.Fatalf("dist_bench:percentiles: %v", err)
		}
		got, ok := res.(etf.List)
		if !ok || len(got) != len(ps) {
			t.Fatalf("dist_bench:percentiles = %s", etf.Format(res))
		}
		slices.Sort(samples)
		for i, p := range ps {
			g, _ := got[i].(int64)
			want := percentile(samples, p)
			if d := time.Duration(g) - want; d < -halfBucket || d > halfBucket {
				t.Errorf("%d samples: p%d = %v from Erlang, %v from Go", n, p, time.Duration(g), want)
			}
		}
	}
}
