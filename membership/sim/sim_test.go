package sim

import (
	"bytes"
	"encoding/binary"
	"os"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/internal/raceflag"
	"github.com/barrelgo/barrelgo/membership/hyparview"
	"github.com/barrelgo/barrelgo/membership/plumtree"
	"github.com/barrelgo/barrelgo/membership/registry"
)

// nodesFor picks the cluster size: BARRELGO_SIM_NODES when set, else def,
// scaled down under -short and the race detector.
func nodesFor(t testing.TB, def int) int {
	if v := os.Getenv("BARRELGO_SIM_NODES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 {
			t.Fatalf("BARRELGO_SIM_NODES=%q: want an integer >= 2", v)
		}
		return n
	}
	if testing.Short() || raceflag.Enabled {
		return min(def, 100)
	}
	return def
}

// TestSimulation runs the standard scenario and checks the targets with
// generous bounds; the figures are logged.
func TestSimulation(t *testing.T) {
	n := nodesFor(t, 200)
	var buf bytes.Buffer
	r, err := Report(&buf, ScenarioOptions{Options: Options{Nodes: n, CheckEveryInput: n <= 200}})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + buf.String())
	period := r.ShufflePeriod

	// 1. Join: connected within three shuffle periods of the last start,
	// views within their bounds throughout.
	if r.ConnectedAt < 0 || r.ConnectedAfterLast > 3*period {
		t.Errorf("overlay connected %v after the last start, want <= %v", r.ConnectedAfterLast, 3*period)
	}
	if r.MaxActive > 5 || r.MaxPassive > 30 {
		t.Errorf("views reached active %d, passive %d; bounds 5 and 30", r.MaxActive, r.MaxPassive)
	}
	if !r.Stable.Connected() || r.Stable.Isolated != 0 {
		t.Errorf("settled overlay %+v, want one component, no isolated node", r.Stable)
	}
	if r.ViolationCount != 0 {
		t.Errorf("%d invariant violations: %v", r.ViolationCount, r.Violations)
	}
	if r.Stats.Malformed != 0 {
		t.Errorf("%d inbound messages refused by the decoders", r.Stats.Malformed)
	}
	if r.Stats.Results+r.Stats.Abandoned != r.Stats.Connects {
		t.Errorf("%d connects, %d results, %d abandoned: a connect without exactly one result", r.Stats.Connects, r.Stats.Results, r.Stats.Abandoned)
	}

	// 2. After the mass crash, the broadcast sent three shuffle periods
	// later reaches (nearly) every survivor. 100% is the target; one
	// starved node (see Reach) is tolerated at these sizes.
	if len(r.CrashDelivery) != 4 {
		t.Fatalf("CrashDelivery = %v, want 4 figures", r.CrashDelivery)
	}
	if d := r.CrashDelivery[3]; d < 0.99 {
		t.Errorf("broadcast three periods after the crash reached %.1f%% of the survivors, want >= 99%%", 100*d)
	}
	if r.CrashReconnected < 0 || r.CrashReconnected > 3*period {
		t.Errorf("survivors reconnected after %v, want <= %v", r.CrashReconnected, 3*period)
	}

	// 3. Plumtree redundancy once the tree has formed.
	if r.RMR > 0.1 {
		t.Errorf("RMR %.3f on the settled tree, want <= 0.1", r.RMR)
	}
	if r.RMRDelivery < 0.99 {
		t.Errorf("a settled-tree broadcast reached only %.1f%%", 100*r.RMRDelivery)
	}

	// 4. Registry: a registration reaches (nearly) everyone within
	// seconds; after its node crashes its neighbours forget it at once,
	// and (barrel_p2p semantics, membership.md §4.5) the others keep it.
	if r.ServiceVisible < 0.99 {
		t.Errorf("registration visible on %.1f%% of the nodes", 100*r.ServiceVisible)
	}
	switch {
	case r.ServiceConverged > 10*time.Second:
		t.Errorf("registration took %v to reach every node, want <= 10s", r.ServiceConverged)
	case r.ServiceConverged < 0:
		// A node no live node holds in its active view hears no
		// broadcast (TestKnownIssueOneSidedActiveEntry).
		t.Logf("registration never reached every node (%.1f%%); starved nodes: %d", 100*r.ServiceVisible, r.StableReach.Starved)
	}
	if r.RemovalNeighbours == 0 || r.RemovalNeighboursDone < 0 || r.RemovalNeighboursDone > time.Second {
		t.Errorf("%d neighbours of the crashed service node forgot it after %v, want within 1s",
			r.RemovalNeighbours, r.RemovalNeighboursDone)
	}
}

// TestDeterministic checks that a seed fixes the whole run.
func TestDeterministic(t *testing.T) {
	opts := ScenarioOptions{
		Options:        Options{Nodes: 40, Seed: 7, StartSpread: 2 * time.Second},
		Settle:         20 * time.Second,
		WarmBroadcasts: 2, RMRBroadcasts: 3,
		RemovalWait: 5 * time.Second,
	}
	a, err := Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	a.Wall, b.Wall = 0, 0
	if !reflect.DeepEqual(a, b) {
		t.Errorf("two runs with seed 7 differ:\n%+v\n%+v", a, b)
	}
	opts.Seed = 8
	c, err := Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.Stats.Events == a.Stats.Events && c.Stats.Sent == a.Stats.Sent {
		t.Errorf("seeds 7 and 8 gave the same run (%d events)", c.Stats.Events)
	}
}

// TestJoinTwoNodes follows one join through the model: the dial, the
// NodeUp at both ends, exactly one result, symmetric views.
func TestJoinTwoNodes(t *testing.T) {
	s, err := New(Options{Nodes: 2, Contacts: 1, CheckEveryInput: true})
	if err != nil {
		t.Fatal(err)
	}
	s.RunUntil(5 * time.Second)
	a, b := s.Node(0), s.Node(1)
	if !s.Connected(a, b) {
		t.Fatal("no connection after the join")
	}
	if !a.HyParView().IsActive(b.Name()) || !b.HyParView().IsActive(a.Name()) {
		t.Fatalf("views %v / %v, want each other", a.HyParView().ActiveNodes(), b.HyParView().ActiveNodes())
	}
	if s.Stats.Connections != 1 || s.Stats.Results != s.Stats.Connects {
		t.Errorf("stats %+v: want one connection and one result per connect", s.Stats)
	}
	if vs, n := s.Violations(); n != 0 {
		t.Errorf("violations: %v", vs)
	}
}

// TestNoConnect checks that a message to a node without a connection is
// dropped, as SendNoConnect does.
func TestNoConnect(t *testing.T) {
	s, err := New(Options{Nodes: 3, Contacts: 1})
	if err != nil {
		t.Fatal(err)
	}
	s.RunUntil(0) // start the contact only
	a, c := s.Node(0), s.Node(2)
	before := s.Stats
	s.send(a, c.Name(), hyparview.BridgeName, hyparview.EncodeEnvelope(a.Name(), &hyparview.Disconnect{Sender: a.HyParView().Self()}))
	if s.Stats.NoConnect != before.NoConnect+1 || s.Stats.Sent != before.Sent+1 {
		t.Errorf("send without a connection: %+v", s.Stats)
	}
}

// TestCrash checks that every peer of a crashed node sees NodeDown and
// that the survivors repair their views.
func TestCrash(t *testing.T) {
	s, err := New(Options{Nodes: 30, StartSpread: time.Second, CheckEveryInput: true})
	if err != nil {
		t.Fatal(err)
	}
	s.RunUntil(30 * time.Second)
	victim := s.Node(5)
	peers := len(s.peersOf(victim))
	if peers == 0 {
		t.Fatal("victim has no connections")
	}
	before := s.Stats.NodeDowns
	s.Crash(victim)
	s.RunFor(time.Second)
	if got := s.Stats.NodeDowns - before; got != uint64(peers) {
		t.Errorf("%d NodeDowns for a node with %d connections", got, peers)
	}
	for _, n := range s.Alive() {
		if n.HyParView().IsActive(victim.Name()) {
			t.Errorf("%s still holds the crashed node", n.Name())
		}
		if s.Connected(n, victim) {
			t.Errorf("%s still connected to the crashed node", n.Name())
		}
	}
	if o := s.Overlay(); !o.Connected() {
		t.Errorf("overlay after one crash: %+v", o)
	}
	if vs, n := s.Violations(); n != 0 {
		t.Errorf("violations: %v", vs)
	}
}

// TestPartitionHeal splits a cluster, checks that no active entry crosses
// the cut once it is detected, heals it and checks that the halves merge.
func TestPartitionHeal(t *testing.T) {
	s, err := New(Options{Nodes: 60, StartSpread: 2 * time.Second, PartitionDetect: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s.RunUntil(30 * time.Second)
	all := s.Alive()
	left, right := all[:30], all[30:]
	s.Partition(left, right)
	s.RunFor(20 * time.Second)
	side := map[etf.Atom]bool{}
	for _, n := range left {
		side[n.Name()] = true
	}
	for _, n := range all {
		for _, p := range n.HyParView().ActiveNodes() {
			if side[p] != side[n.Name()] {
				t.Errorf("%s holds %s across the partition", n.Name(), p)
			}
		}
	}
	if o := s.Overlay(); o.Components < 2 {
		t.Errorf("partitioned overlay has %d component(s)", o.Components)
	}
	s.Heal()
	deadline := s.Elapsed() + 10*time.Minute
	for s.Elapsed() < deadline && !s.Overlay().Connected() {
		s.RunFor(time.Second)
	}
	if o := s.Overlay(); !o.Connected() {
		t.Errorf("halves not merged 10 minutes after the heal: %+v", o)
	}
	if vs, n := s.Violations(); n != 0 {
		t.Errorf("violations: %v", vs)
	}
}

// TestFIFO checks that messages on one connection arrive in send order
// whatever their latency draws.
func TestFIFO(t *testing.T) {
	s, err := New(Options{Nodes: 2, Contacts: 1, MinLatency: time.Millisecond, MaxLatency: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.RunUntil(5 * time.Second)
	a, b := s.Node(0), s.Node(1)
	var got []int64
	s.OnGossip = func(n *Node, g plumtree.Gossip) {
		if n == b {
			got = append(got, g.Payload.(int64))
		}
	}
	for i := range 200 {
		id := make([]byte, 32)
		binary.BigEndian.PutUint64(id, uint64(i+1))
		g := plumtree.Gossip{ID: plumtree.BinaryID(id), Tag: probeTag, Payload: int64(i), Sender: a.Name()}
		s.send(a, b.Name(), plumtree.ProcessName, plumtree.Envelope(g))
	}
	s.RunFor(time.Second)
	if len(got) != 200 {
		t.Fatalf("%d of 200 messages arrived", len(got))
	}
	for i, v := range got {
		if v != int64(i) {
			t.Fatalf("message %d arrived in position %d", v, i)
		}
	}
}

// TestFindService exercises the overlay router: route requests hop by hop
// and the replies sent to the router pid.
func TestFindService(t *testing.T) {
	s, err := New(Options{Nodes: 30, StartSpread: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s.RunUntil(30 * time.Second)
	from := s.Node(20)
	active := from.ActiveIDs()
	if len(active) == 0 {
		t.Fatal("node 20 has an empty active view")
	}
	owner := s.Node(active[0])
	svc := registry.AtomName("routed")
	pid, err := owner.RegisterService(svc, 7)
	if err != nil {
		t.Fatal(err)
	}
	var results []registry.RouteResult
	if err := from.FindService(svc, func(r registry.RouteResult) { results = append(results, r) }); err != nil {
		t.Fatal(err)
	}
	s.RunFor(30 * time.Second)
	if len(results) != 1 {
		t.Fatalf("%d lookup results, want 1", len(results))
	}
	if r := results[0]; !r.Found || r.Node != owner.Name() || r.Pid != pid {
		t.Errorf("lookup result %+v, want found at %s %v", r, owner.Name(), pid)
	}
	results = nil
	if err := from.FindService(registry.AtomName("absent"), func(r registry.RouteResult) { results = append(results, r) }); err != nil {
		t.Fatal(err)
	}
	s.RunFor(60 * time.Second)
	if len(results) != 1 || results[0].Found {
		t.Errorf("lookup of an absent service: %+v, want one not-found result", results)
	}
	if vs, n := s.Violations(); n != 0 {
		t.Errorf("violations: %v", vs)
	}
}
