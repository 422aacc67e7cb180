package sim

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/plumtree"
	"github.com/barrelgo/barrelgo/membership/registry"
)

// ScenarioOptions configures Run: the cluster, then the phases of the
// standard scenario. Zero fields take the documented defaults.
type ScenarioOptions struct {
	Options
	// JoinDeadline bounds the wait for a connected overlay (300 s).
	JoinDeadline time.Duration
	// Early is run after the overlay first connects before the first
	// snapshot (60 s); Settle is run after that, before the measurements
	// (DistGCMinAge plus two sweep periods, 420 s by default, so that the
	// dist GC has reaped the join's idle connections; 60 s without GC).
	Early, Settle time.Duration
	// WarmBroadcasts shape the Plumtree tree before RMRBroadcasts are
	// measured (10 and 20), one every BroadcastGap (2 s).
	WarmBroadcasts, RMRBroadcasts int
	BroadcastGap                  time.Duration
	// CrashFraction of the live nodes is killed at once (0.5).
	CrashFraction float64
	// AfterCrashRounds is how many shuffle periods after the crash a
	// broadcast is sent again (3).
	AfterCrashRounds int
	// RemovalWait is how long the service removal is watched after its node
	// crashes (60 s).
	RemovalWait time.Duration
}

func (o ScenarioOptions) withDefaults() ScenarioOptions {
	o.Options = o.Options.withDefaults()
	if o.JoinDeadline <= 0 {
		o.JoinDeadline = 300 * time.Second
	}
	if o.Early <= 0 {
		o.Early = 60 * time.Second
	}
	if o.Settle <= 0 {
		o.Settle = 60 * time.Second
		if o.DistGCSweepPeriod > 0 {
			o.Settle = o.DistGCMinAge + 2*o.DistGCSweepPeriod
		}
	}
	if o.WarmBroadcasts <= 0 {
		o.WarmBroadcasts = 10
	}
	if o.RMRBroadcasts <= 0 {
		o.RMRBroadcasts = 20
	}
	if o.BroadcastGap <= 0 {
		o.BroadcastGap = 2 * time.Second
	}
	if o.CrashFraction <= 0 || o.CrashFraction >= 1 {
		o.CrashFraction = 0.5
	}
	if o.AfterCrashRounds <= 0 {
		o.AfterCrashRounds = 3
	}
	if o.RemovalWait <= 0 {
		o.RemovalWait = 60 * time.Second
	}
	return o
}

// Results are the figures of one scenario run. Durations of events that
// did not happen are -1.
type Results struct {
	Nodes int
	Seed  uint64

	// ConnectedAt is when the overlay of all nodes first formed one
	// component, since the first start; ConnectedAfterLast is the same
	// since the last node started.
	ConnectedAt, ConnectedAfterLast time.Duration
	// AllJoinedAt is when every node first had a non-empty active view.
	AllJoinedAt time.Duration
	// ShufflePeriod is the base shuffle period, the unit of "rounds".
	ShufflePeriod time.Duration
	// Early and EarlyReach describe the overlay Early after it connected,
	// before the dist GC reaps anything.
	Early      Overlay
	EarlyReach Reach
	// EarlyAt and SettledAt are when the Early and Stable snapshots were
	// taken.
	EarlyAt, SettledAt time.Duration
	// Stable are the overlay and views after Settle.
	Stable      Overlay
	StableViews Views
	// StableHops and StableDiameter are Sim.Hops(16) after Settle.
	StableHops     float64
	StableDiameter int
	// StableReach is Sim.ActiveReach(32) after Settle.
	StableReach Reach
	// FirstDelivery is the fraction of nodes the first broadcast after
	// Settle reached; WarmDelivery the lowest over the warm-up broadcasts.
	FirstDelivery, WarmDelivery float64
	// FirstRMR is the redundancy of that first broadcast, before pruning.
	FirstRMR float64

	// RMR is the mean relative message redundancy of the measured
	// broadcasts on the settled overlay, RMRMax the worst;
	// RMRDelivery the lowest fraction of nodes one of them reached.
	RMR, RMRMax, RMRDelivery float64
	// RMRLatency is the mean time from a measured broadcast to its last
	// delivery.
	RMRLatency time.Duration
	// RMRGrafts counts GRAFTs sent during the measured broadcasts.
	RMRGrafts                     uint64
	WarmBroadcasts, RMRBroadcasts int

	// EarlyServiceVisible is the fraction of nodes that see a service
	// registered at EarlyAt 5 s later, EarlyServiceSettled at SettledAt.
	EarlyServiceVisible, EarlyServiceSettled float64
	// ServiceConverged is how long a registration took to become visible
	// (Whereis) on every live node; ServiceVisible is the fraction of
	// live nodes seeing it when the wait ended.
	ServiceConverged time.Duration
	ServiceVisible   float64
	// RemovalNeighbours is how many nodes had the service's node in their
	// active view when it crashed; RemovalNeighboursDone is when all of
	// them had dropped the service; RemovalStale is the fraction of live
	// nodes still resolving it to the dead node after RemovalWait;
	// RemovalGone is when no node resolved it any more.
	RemovalNeighbours     int
	RemovalNeighboursDone time.Duration
	RemovalStale          float64
	RemovalGone           time.Duration

	// Crashed nodes in the mass crash; CrashDelivery[k] is the fraction of
	// the survivors that delivered the broadcast sent k shuffle periods
	// after it (k = 0: at once), each given one period to spread.
	Crashed       int
	CrashDelivery []float64
	// CrashReconnected is when the survivors' overlay became one component
	// again, since the crash; CrashIsolated is the number of survivors
	// with an empty active view one period after the crash.
	CrashReconnected time.Duration
	CrashIsolated    int
	AfterCrash       Overlay
	// AfterCrashReach is Sim.PushReach(32) at the end.
	AfterCrashReach Reach
	AfterCrashViews Views

	MaxActive, MaxPassive int
	Violations            []string
	ViolationCount        int
	Stats                 NetStats
	OpenConnections       int
	Virtual, Wall         time.Duration
}

// probeTag is the Plumtree tag of the scenario's broadcasts.
const probeTag etf.Atom = "sim_probe"

type probe struct {
	delivered   []bool
	count       int
	gossip      int
	first, last time.Duration // first and last delivery
}

type tracker struct {
	s      *Sim
	probes map[plumtree.ID]*probe
}

func newTracker(s *Sim) *tracker {
	t := &tracker{s: s, probes: map[plumtree.ID]*probe{}}
	s.OnDeliver = func(n *Node, d plumtree.Deliver) {
		if d.Tag != probeTag {
			return
		}
		p := t.get(d.ID)
		if !p.delivered[n.id] {
			p.delivered[n.id] = true
			if p.count == 0 {
				p.first = s.now
			}
			p.count++
			p.last = s.now
		} else {
			s.violation("%s: delivered %v twice", n.name, d.ID)
		}
	}
	s.OnGossip = func(n *Node, g plumtree.Gossip) {
		if g.Tag == probeTag {
			t.get(g.ID).gossip++
		}
	}
	return t
}

func (t *tracker) get(id plumtree.ID) *probe {
	p := t.probes[id]
	if p == nil {
		p = &probe{delivered: make([]bool, len(t.s.nodes))}
		t.probes[id] = p
	}
	return p
}

// reach is the fraction of live nodes that delivered id.
func (t *tracker) reach(id plumtree.ID) float64 {
	p := t.get(id)
	alive, got := 0, 0
	for _, n := range t.s.nodes {
		if n.alive {
			alive++
			if p.delivered[n.id] {
				got++
			}
		}
	}
	if alive == 0 {
		return 0
	}
	return float64(got) / float64(alive)
}

// rmr is m/(n-1) - 1 with m the GOSSIP messages received and n the nodes
// that delivered.
func (t *tracker) rmr(id plumtree.ID) float64 {
	p := t.get(id)
	if p.count < 2 {
		return 0
	}
	return float64(p.gossip)/float64(p.count-1) - 1
}

func (s *Sim) randomAlive() *Node {
	alive := s.Alive()
	return alive[s.rng.IntN(len(alive))]
}

// Run executes the standard scenario: join, settle, Plumtree redundancy,
// registry convergence and removal, then a mass crash with broadcasts over
// the following shuffle periods.
func Run(opts ScenarioOptions) (*Results, error) {
	opts = opts.withDefaults()
	start := time.Now()
	s, err := New(opts.Options)
	if err != nil {
		return nil, err
	}
	tr := newTracker(s)
	r := &Results{Nodes: opts.Nodes, Seed: opts.Seed, ShufflePeriod: opts.HyParView.ShufflePeriod,
		WarmBroadcasts: opts.WarmBroadcasts, RMRBroadcasts: opts.RMRBroadcasts}
	// tick is the resolution of the connectivity timings; checkEvery is how
	// often every node's views are read from its state machines (bounds,
	// disjointness, agreement with its events), on top of the per-input
	// checks.
	const tick, checkEvery = 100 * time.Millisecond, 5 * time.Second
	check := func(v Views) {
		r.MaxActive = max(r.MaxActive, v.MaxActive)
		r.MaxPassive = max(r.MaxPassive, v.MaxPassive)
	}
	var nextCheck time.Duration
	maybeCheck := func() {
		if s.now >= nextCheck {
			check(s.CheckViews())
			nextCheck = s.now + checkEvery
		}
	}

	// Figure 1, join: every node starts within StartSpread and bootstraps through
	// the contacts.
	r.ConnectedAt, r.ConnectedAfterLast, r.AllJoinedAt = -1, -1, -1
	for s.now < opts.JoinDeadline {
		s.RunFor(tick)
		maybeCheck()
		o := s.Overlay()
		if o.Alive < opts.Nodes {
			continue
		}
		if r.AllJoinedAt < 0 && o.Isolated == 0 {
			r.AllJoinedAt = s.now
		}
		if o.Connected() && r.AllJoinedAt >= 0 {
			r.ConnectedAt = s.now
			r.ConnectedAfterLast = s.now - s.LastStart()
			break
		}
	}
	for end := s.now + opts.Early; s.now < end; {
		s.RunFor(checkEvery)
		check(s.CheckViews())
	}
	r.EarlyAt = s.now
	r.Early = s.Overlay()
	r.EarlyReach = s.ActiveReach(32)
	// A registration made now, while the join's one-sided entries last;
	// the registry has no anti-entropy, so whoever misses the delta only
	// learns it from a full_sync on a later peer_up with the owner.
	earlySvc := registry.AtomName("sim_early_service")
	earlyOwner := s.randomAlive()
	if _, err := earlyOwner.RegisterService(earlySvc, 2); err != nil {
		return nil, fmt.Errorf("sim: register: %w", err)
	}
	visible := func(svc registry.Name, owner *Node) float64 {
		hit, alive := 0, 0
		for _, n := range s.Alive() {
			alive++
			if loc, ok := n.reg.Whereis(svc); ok && (loc.Local || loc.Node == owner.name) {
				hit++
			}
		}
		return float64(hit) / float64(max(alive, 1))
	}
	s.RunFor(5 * time.Second)
	r.EarlyServiceVisible = visible(earlySvc, earlyOwner)
	for end := s.now + opts.Settle; s.now < end; {
		s.RunFor(checkEvery)
		check(s.CheckViews())
	}
	r.SettledAt = s.now
	r.EarlyServiceSettled = visible(earlySvc, earlyOwner)
	r.Stable = s.Overlay()
	r.StableViews = s.CheckViews()
	r.StableReach = s.ActiveReach(32)
	r.StableHops, r.StableDiameter = s.Hops(16)

	// Figure 3, Plumtree redundancy on the settled overlay.
	var rmrs []float64
	r.RMRDelivery, r.WarmDelivery = 1, 1
	for i := range opts.WarmBroadcasts + opts.RMRBroadcasts {
		grafts := s.Stats.Graft
		id := s.randomAlive().Broadcast(probeTag, int64(i))
		s.RunFor(opts.BroadcastGap)
		if i == 0 {
			r.FirstDelivery = tr.reach(id)
			r.FirstRMR = tr.rmr(id)
		}
		if i < opts.WarmBroadcasts {
			r.WarmDelivery = min(r.WarmDelivery, tr.reach(id))
			continue
		}
		rmrs = append(rmrs, tr.rmr(id))
		p := tr.get(id)
		r.RMRLatency += (p.last - p.first) / time.Duration(opts.RMRBroadcasts)
		r.RMRDelivery = min(r.RMRDelivery, tr.reach(id))
		r.RMRGrafts += s.Stats.Graft - grafts
	}
	for _, x := range rmrs {
		r.RMR += x / float64(len(rmrs))
		r.RMRMax = max(r.RMRMax, x)
	}
	check(s.CheckViews())

	// Figure 4, registry: register on one node, watch it spread; crash the node,
	// watch it go.
	svc := registry.AtomName("sim_service")
	owner := s.randomAlive()
	if _, err := owner.RegisterService(svc, 1); err != nil {
		return nil, fmt.Errorf("sim: register: %w", err)
	}
	regAt := s.now
	r.ServiceConverged = -1
	resolves := func() (hit, alive int) {
		for _, n := range s.nodes {
			if !n.alive {
				continue
			}
			alive++
			if loc, ok := n.reg.Whereis(svc); ok && (loc.Local || loc.Node == owner.name) {
				hit++
			}
		}
		return hit, alive
	}
	for s.now < regAt+30*time.Second {
		s.RunFor(10 * time.Millisecond)
		if hit, alive := resolves(); hit == alive {
			r.ServiceConverged = s.now - regAt
			break
		}
	}
	s.RunFor(time.Second)
	hit, alive := resolves()
	r.ServiceVisible = float64(hit) / float64(alive)

	var neighbours []*Node
	for _, n := range s.Alive() {
		if slices.Contains(n.activeIDs, int32(owner.id)) {
			neighbours = append(neighbours, n)
		}
	}
	r.RemovalNeighbours = len(neighbours)
	s.Crash(owner)
	crashAt := s.now
	r.RemovalNeighboursDone, r.RemovalGone = -1, -1
	for s.now < crashAt+opts.RemovalWait {
		s.RunFor(10 * time.Millisecond)
		if r.RemovalNeighboursDone < 0 {
			done := true
			for _, n := range neighbours {
				if _, ok := n.reg.Whereis(svc); n.alive && ok {
					done = false
					break
				}
			}
			if done {
				r.RemovalNeighboursDone = s.now - crashAt
			}
		}
		if hit, _ := resolves(); hit == 0 && r.RemovalGone < 0 {
			r.RemovalGone = s.now - crashAt
		}
	}
	hit, alive = resolves()
	r.RemovalStale = float64(hit) / float64(alive)
	check(s.CheckViews())

	// Figure 2, mass crash, then a broadcast at once and after each of the next
	// shuffle periods.
	live := s.Alive()
	s.rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	victims := live[:int(float64(len(live))*opts.CrashFraction)]
	r.Crashed = len(victims)
	s.CrashMany(victims)
	crashAt = s.now
	r.CrashReconnected = -1
	period := opts.HyParView.ShufflePeriod
	for k := 0; k <= opts.AfterCrashRounds; k++ {
		id := s.randomAlive().Broadcast(probeTag, int64(1_000_000+k))
		for end := s.now + period; s.now < end; {
			s.RunFor(tick)
			if r.CrashReconnected < 0 && s.Overlay().Connected() {
				r.CrashReconnected = s.now - crashAt
			}
			maybeCheck()
		}
		if k == 0 {
			r.CrashIsolated = s.Overlay().Isolated
		}
		r.CrashDelivery = append(r.CrashDelivery, tr.reach(id))
	}
	for s.now < crashAt+opts.JoinDeadline && r.CrashReconnected < 0 {
		s.RunFor(tick)
		if s.Overlay().Connected() {
			r.CrashReconnected = s.now - crashAt
		}
	}
	r.AfterCrash = s.Overlay()
	r.AfterCrashReach = s.PushReach(32)
	r.AfterCrashViews = s.CheckViews()
	check(r.AfterCrashViews)

	r.Violations, r.ViolationCount = s.Violations()
	r.Stats = s.Stats
	r.OpenConnections = s.Connections()
	r.Virtual = s.now
	r.Wall = time.Since(start)
	return r, nil
}

// Report runs the scenario and writes its figures to w.
func Report(w io.Writer, opts ScenarioOptions) (*Results, error) {
	r, err := Run(opts)
	if err != nil {
		return nil, err
	}
	r.Write(w)
	return r, nil
}

func secs(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func rounds(d, period time.Duration) string {
	if d < 0 || period <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", d.Seconds()/period.Seconds())
}

// Write prints the figures.
func (r *Results) Write(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("barrel_p2p membership simulation: %d nodes, seed %d (virtual %s, wall %s, %d events)",
		r.Nodes, r.Seed, secs(r.Virtual), r.Wall.Round(time.Millisecond), r.Stats.Events)
	p("1. join: all nodes joined (active view non-empty) at %s; overlay connected at %s, %s after the last start (%s shuffle rounds of %s)",
		secs(r.AllJoinedAt), secs(r.ConnectedAt), secs(r.ConnectedAfterLast), rounds(r.ConnectedAfterLast, r.ShufflePeriod), secs(r.ShufflePeriod))
	p("   at %s: %d asymmetric active entries, %d nodes nobody holds; broadcast reach along active entries (holder to held): mean %.1f%%, min %.1f%% over 32 origins, %d nodes unreachable from the largest SCC",
		secs(r.EarlyAt), r.Early.Asymmetric, r.Early.Unheld, 100*r.EarlyReach.Mean, 100*r.EarlyReach.Min, r.EarlyReach.Starved)
	p("   settled at %s: %d components, %d isolated, %d unheld, %d asymmetric active entries; active mean %.2f (full on %d nodes), passive mean %.2f; plumtree eager max %d, lazy max %d",
		secs(r.SettledAt), r.Stable.Components, r.Stable.Isolated, r.Stable.Unheld, r.Stable.Asymmetric, r.StableViews.MeanActive, r.StableViews.FullActive, r.StableViews.MeanPassive, r.StableViews.MaxEager, r.StableViews.MaxLazy)
	p("   overlay distances: mean %.1f hops, longest %d (sampled from 16 nodes)", r.StableHops, r.StableDiameter)
	p("   settled broadcast reach along active entries: mean %.1f%%, min %.1f%% over 32 origins; %d nodes unreachable from the largest SCC",
		100*r.StableReach.Mean, 100*r.StableReach.Min, r.StableReach.Starved)
	p("   first broadcast reached %.1f%%, warm-up broadcasts at least %.1f%%", 100*r.FirstDelivery, 100*r.WarmDelivery)
	p("   view bounds over the whole run: active max %d, passive max %d", r.MaxActive, r.MaxPassive)
	p("2. broadcast after a %d-node crash: delivered to %s of the survivors (at once, then after each shuffle period); overlay reconnected after %s; %d isolated after one period",
		r.Crashed, fracs(r.CrashDelivery), secs(r.CrashReconnected), r.CrashIsolated)
	p("   after: %d components, %d isolated, %d unheld, %d stale active entries; active mean %.2f, passive mean %.2f; plumtree eager max %d",
		r.AfterCrash.Components, r.AfterCrash.Isolated, r.AfterCrash.Unheld, r.AfterCrash.Stale, r.AfterCrashViews.MeanActive, r.AfterCrashViews.MeanPassive, r.AfterCrashViews.MaxEager)
	p("   broadcast reach along plumtree sets at the end: mean %.1f%%, min %.1f%%, %d unreachable from the largest SCC",
		100*r.AfterCrashReach.Mean, 100*r.AfterCrashReach.Min, r.AfterCrashReach.Starved)
	p("3. plumtree RMR on the settled tree: mean %.4f, max %.4f over %d broadcasts after %d warm-up ones (first one: %.3f); min delivery %.1f%%, %d grafts; last delivery after %s on average",
		r.RMR, r.RMRMax, r.RMRBroadcasts, r.WarmBroadcasts, r.FirstRMR, 100*r.RMRDelivery, r.RMRGrafts, r.RMRLatency.Round(time.Millisecond))
	p("4. registry: registration visible on all nodes after %s (%.1f%% when the wait ended); after its node crashed, its %d active neighbours dropped it after %s, %.1f%% of survivors still resolved it after the wait (gone everywhere: %s)",
		secs(r.ServiceConverged), 100*r.ServiceVisible, r.RemovalNeighbours, secs(r.RemovalNeighboursDone), 100*r.RemovalStale, secs(r.RemovalGone))
	p("   a service registered at %s was visible on %.1f%% of the nodes 5 s later and on %.1f%% at %s",
		secs(r.EarlyAt), 100*r.EarlyServiceVisible, 100*r.EarlyServiceSettled, secs(r.SettledAt))
	st := r.Stats
	p("   network: %d sent, %d delivered, %d noconnect, %d cut, %d lost; %d connects (%d failed, %d results, %d abandoned), %d connections; gossip %d, ihave %d, graft %d, prune %d",
		st.Sent, st.Delivered, st.NoConnect, st.Cut, st.Lost, st.Connects, st.ConnectFailed, st.Results, st.Abandoned, st.Connections, st.Gossip, st.IHave, st.Graft, st.Prune)
	p("   hyparview: %d peer_up, peer_down %v, %d pending timeouts, %d nodedowns; %d connections open at the end, %d closed by dist GC",
		st.PeerUps, st.PeerDowns, st.PendingTimeo, st.NodeDowns, r.OpenConnections, st.DistGC)
	if st.Results+st.Abandoned != st.Connects {
		p("   connects without a result: %d", st.Connects-st.Results-st.Abandoned)
	}
	p("   invariant violations: %d", r.ViolationCount)
	for _, v := range r.Violations {
		p("     %s", v)
	}
}

func fracs(xs []float64) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += " / "
		}
		out += fmt.Sprintf("%.1f%%", 100*x)
	}
	return out
}
