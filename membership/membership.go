// Package membership makes a barrelgo node a member of a barrel_p2p
// cluster: HyParView views, Plumtree broadcast and the service registry,
// served as Go processes under the registered names Erlang peers send to.
// The protocol logic lives in the pure state machines of its sub-packages;
// this package drives them with real time and real connections.
package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/hyparview"
	"github.com/barrelgo/barrelgo/membership/plumtree"
	"github.com/barrelgo/barrelgo/membership/registry"
	"github.com/barrelgo/barrelgo/node"
)

// Config configures membership on a node.
type Config struct {
	// HyParView holds the view parameters (hyparview.DefaultConfig() when
	// zero), including ContactNodes to join through.
	HyParView hyparview.Config
	// Address and Port are what this node advertises in its #peer{}
	// record: the IP and the QUIC dist port Erlang peers dial.
	Address netip.Addr
	Port    int
	// Logger receives membership logs (the node's when nil).
	Logger *slog.Logger
	// Metrics receives counters; nil disables them.
	Metrics *Metrics
	// DistGCSweepPeriod and DistGCMinAge drive the idle dist-channel GC
	// (dist_gc_sweep_period_ms, dist_gc_min_age_ms; 60 s and 300 s when
	// zero). A negative sweep period disables it.
	DistGCSweepPeriod time.Duration
	DistGCMinAge      time.Duration
	// HeartbeatPeriod is how often this node broadcasts its member
	// heartbeat (2 s, as barrel_p2p, when zero; negative disables), and
	// HeartbeatTimeout how long a member may stay silent before its
	// services are forgotten (15 s when zero).
	HeartbeatPeriod  time.Duration
	HeartbeatTimeout time.Duration
}

// EventType tells membership events apart.
type EventType int

// Membership events, as barrel_p2p's {barrel_p2p_event, Event}.
const (
	PeerUp EventType = iota + 1
	PeerDown
	Left
	ServiceUp
	ServiceDown
)

func (t EventType) String() string {
	switch t {
	case PeerUp:
		return "peer_up"
	case PeerDown:
		return "peer_down"
	case Left:
		return "left"
	case ServiceUp:
		return "service_up"
	case ServiceDown:
		return "service_down"
	}
	return fmt.Sprintf("event(%d)", int(t))
}

// Event is a membership or service event.
type Event struct {
	Type EventType
	Node etf.Atom
	// Reason is why a peer went down: nodedown, connect_failed, graceful,
	// dropped or blocked.
	Reason etf.Atom
	// Service is set for service events.
	Service etf.Term
}

// Membership is the running membership of one node.
type Membership struct {
	n    *node.Node
	cfg  Config
	log  *slog.Logger
	main *node.Process

	hv   *hyparview.State
	bc   broadcastState
	gc   distGC
	live liveness

	subsMu sync.Mutex
	subs   map[int]func(Event)
	subSeq int

	timersMu sync.Mutex
	timers   map[*time.Timer]struct{}
	stopped  bool

	unsubscribe func()
	wg          sync.WaitGroup
}

// call runs fn on the membership goroutine and waits for it.
type call struct {
	fn   func()
	done chan struct{}
}

// Internal mailbox messages; they never leave the node.
type (
	nodeEvent     node.Event
	connectResult struct {
		node etf.Atom
		ok   bool
	}
	hvTimer hyparview.Timer
)

// Start starts membership on n: it registers barrel_p2p's names and, when
// ContactNodes are set, joins through them.
func Start(ctx context.Context, n *node.Node, cfg Config) (*Membership, error) {
	if cfg.HyParView.ActiveSize == 0 {
		contacts := cfg.HyParView.ContactNodes
		cfg.HyParView = hyparview.DefaultConfig()
		cfg.HyParView.ContactNodes = contacts
	}
	if err := cfg.HyParView.Validate(); err != nil {
		return nil, fmt.Errorf("membership: %w", err)
	}
	if !cfg.Address.IsValid() {
		cfg.Address = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DistGCSweepPeriod == 0 {
		cfg.DistGCSweepPeriod = DefaultDistGCSweepPeriod
	}
	if cfg.DistGCMinAge == 0 {
		cfg.DistGCMinAge = DefaultDistGCMinAge
	}
	if cfg.HeartbeatPeriod == 0 {
		cfg.HeartbeatPeriod = DefaultHeartbeatPeriod
	}
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	self := hyparview.SelfPeer(n.Name(), cfg.Address, cfg.Port)
	hv, err := hyparview.New(self, cfg.HyParView, rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
	if err != nil {
		return nil, fmt.Errorf("membership: %w", err)
	}
	m := &Membership{
		n: n, cfg: cfg, hv: hv,
		log:    cfg.Logger.With("node", string(n.Name()), "component", "membership"),
		subs:   map[int]func(Event){},
		timers: map[*time.Timer]struct{}{},
	}
	ready := make(chan error, 1)
	main, err := n.Spawn(func(p *node.Process) error {
		m.main = p
		ready <- nil
		return m.loop(p)
	})
	if err != nil {
		return nil, err
	}
	<-ready
	m.main = main
	// The state every handler uses exists before the names and the node
	// events below can reach the loop: a peer that still counts this node
	// as a neighbour (a membership restarted on a running node) may send
	// gossip at once. Timers and the overlay start after them.
	m.do(m.initState)
	// Erlang peers send to these names; each forwards into the main loop.
	for _, name := range registeredNames {
		if err := m.forwarder(name); err != nil {
			main.Exit(node.Shutdown)
			return nil, err
		}
	}
	m.unsubscribe = n.SubscribeFunc(func(ev node.Event) {
		if !ev.Hidden {
			m.main.Send(context.Background(), m.main.Pid(), nodeEvent(ev))
		}
	})
	m.do(func() {
		now := time.Now()
		m.gcStart(now)
		m.startBroadcast(now)
		m.livenessStart()
		m.apply(m.hv.Start(now))
	})
	return m, nil
}

// registeredNames are the names barrel_p2p peers send membership traffic
// to (membership.md §1.2). Names of subsystems barrelgo does not implement
// are served too, so their messages are accepted and dropped.
var registeredNames = []etf.Atom{
	hyparview.BridgeName,
	"barrel_p2p_plumtree",
	"barrel_p2p_registry_replica",
	"barrel_p2p_members_replica",
	"barrel_p2p_reminder_replica",
	"barrel_p2p_leader_replica",
	"barrel_p2p_router",
}

func (m *Membership) forwarder(name etf.Atom) error {
	ready := make(chan error, 1)
	_, err := m.n.Spawn(func(p *node.Process) error {
		if err := p.Register(name); err != nil {
			ready <- fmt.Errorf("membership: register %s: %w", name, err)
			return nil
		}
		ready <- nil
		for {
			msg, err := p.Receive(p.Context())
			if err != nil {
				return nil
			}
			m.main.Send(p.Context(), m.main.Pid(), inbound{name: name, msg: msg})
		}
	})
	if err != nil {
		return err
	}
	return <-ready
}

type inbound struct {
	name etf.Atom
	msg  etf.Term
}

// do runs fn on the membership goroutine.
func (m *Membership) do(fn func()) bool {
	c := call{fn: fn, done: make(chan struct{})}
	if err := m.main.Send(context.Background(), m.main.Pid(), c); err != nil {
		return false
	}
	select {
	case <-c.done:
		return true
	case <-m.main.Context().Done():
		return false
	}
}

func (m *Membership) loop(p *node.Process) error {
	defer m.stopTimers()
	for {
		msg, err := p.Receive(p.Context())
		if err != nil {
			return nil
		}
		now := time.Now()
		switch v := msg.(type) {
		case call:
			v.fn()
			close(v.done)
		case inbound:
			m.handleInbound(now, v)
		case heartbeatTick:
			m.heartbeat(now)
		case gcSweep:
			m.gcSweepNow(now)
			m.after(m.cfg.DistGCSweepPeriod, gcSweep{})
		case nodeEvent:
			m.gcNodeEvent(now, v)
			switch v.Kind {
			case node.NodeUp:
				m.apply(m.hv.NodeUp(now, v.Node))
			case node.NodeDown:
				m.apply(m.hv.NodeDown(now, v.Node))
			}
		case connectResult:
			m.apply(m.hv.ConnectResult(now, v.node, v.ok))
		case hvTimer:
			m.apply(m.hv.TimerFired(now, hyparview.Timer(v)))
		case ptTimer:
			m.applyPT(m.bc.pt.Fire(now, plumtree.Timer(v)))
		case regTimer:
			m.applyReg(m.bc.reg.Fire(now, registry.Timer(v)))
		default:
			m.handleDirect(now, msg)
		}
	}
}

func (m *Membership) handleInbound(now time.Time, in inbound) {
	switch in.name {
	case hyparview.BridgeName:
		env, err := hyparview.DecodeEnvelope(in.msg)
		if err != nil {
			m.malformed(in.name, err)
			return
		}
		m.apply(m.hv.HandleMessage(now, env.Msg))
	default:
		m.handleOther(now, in)
	}
}

func (m *Membership) malformed(name etf.Atom, err error) {
	m.log.Warn("malformed membership message dropped", "to", string(name), "err", err)
	m.cfg.Metrics.malformed(name)
}

// apply performs the actions of the HyParView state machine.
func (m *Membership) apply(actions []hyparview.Action) {
	for _, a := range actions {
		switch a := a.(type) {
		case hyparview.Send:
			m.main.SendNoConnect(context.Background(), etf.Tuple{hyparview.BridgeName, a.To},
				hyparview.EncodeEnvelope(m.n.Name(), a.Msg))
		case hyparview.Connect:
			node := a.Node
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				ctx, cancel := context.WithTimeout(m.main.Context(), 10*time.Second)
				defer cancel()
				err := m.n.Connect(ctx, node)
				if err != nil {
					m.log.Debug("hyparview connect failed", "peer", string(node), "err", err)
				}
				m.main.Send(context.Background(), m.main.Pid(), connectResult{node: node, ok: err == nil})
			}()
		case hyparview.SetTimer:
			t := hvTimer(a.Timer)
			m.after(a.After, t)
		case hyparview.Event:
			m.cfg.Metrics.hyparviewEvent(a)
			ev := Event{Node: a.Node, Reason: etf.Atom(string(a.Reason))}
			switch a.Type {
			case hyparview.EventPeerUp:
				ev.Type = PeerUp
				m.log.Info("peer_up", "peer", string(a.Node))
				m.peerUp(a.Node)
			case hyparview.EventPeerDown:
				ev.Type = PeerDown
				m.log.Info("peer_down", "peer", string(a.Node), "reason", string(a.Reason))
				m.peerDown(a.Node, a.Reason)
			case hyparview.EventLeft:
				ev.Type = Left
			}
			m.publish(ev)
		case hyparview.PendingTimeout:
			m.cfg.Metrics.pendingTimeout()
		}
	}
}

// after delivers msg to the main loop after d.
func (m *Membership) after(d time.Duration, msg any) {
	m.timersMu.Lock()
	defer m.timersMu.Unlock()
	if m.stopped {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		m.timersMu.Lock()
		delete(m.timers, t)
		m.timersMu.Unlock()
		m.main.Send(context.Background(), m.main.Pid(), msg)
	})
	m.timers[t] = struct{}{}
}

func (m *Membership) stopTimers() {
	m.timersMu.Lock()
	defer m.timersMu.Unlock()
	m.stopped = true
	for t := range m.timers {
		t.Stop()
	}
	m.timers = nil
}

func (m *Membership) publish(ev Event) {
	m.subsMu.Lock()
	defer m.subsMu.Unlock()
	for _, fn := range m.subs {
		fn(ev)
	}
}

// Subscribe calls fn for every membership and service event until the
// returned function is called; fn must not block.
func (m *Membership) Subscribe(fn func(Event)) (cancel func()) {
	m.subsMu.Lock()
	m.subSeq++
	id := m.subSeq
	m.subs[id] = fn
	m.subsMu.Unlock()
	return func() {
		m.subsMu.Lock()
		delete(m.subs, id)
		m.subsMu.Unlock()
	}
}

// ErrStopped is returned by calls on stopped membership.
var ErrStopped = errors.New("membership: stopped")

// Join joins the overlay through contact (barrel_p2p:join/1).
func (m *Membership) Join(contact etf.Atom) error {
	var err error
	if !m.do(func() {
		var acts []hyparview.Action
		acts, err = m.hv.Join(time.Now(), contact)
		m.apply(acts)
	}) {
		return ErrStopped
	}
	return err
}

// Leave leaves the overlay gracefully (barrel_p2p:leave/0).
func (m *Membership) Leave() error {
	if !m.do(func() { m.apply(m.hv.Leave(time.Now())) }) {
		return ErrStopped
	}
	return nil
}

// ActiveView lists the active view (barrel_p2p:active_view/0).
func (m *Membership) ActiveView() []etf.Atom {
	var out []etf.Atom
	m.do(func() { out = m.hv.ActiveNodes() })
	return out
}

// PassiveView lists the passive view (barrel_p2p:passive_view/0).
func (m *Membership) PassiveView() []etf.Atom {
	var out []etf.Atom
	m.do(func() { out = m.hv.PassiveNodes() })
	return out
}

// Block makes the node refuse and drop the given peers (barrel_p2p's
// block_peers test seam, for partition tests); Unblock lifts it.
func (m *Membership) Block(nodes ...etf.Atom) {
	m.do(func() { m.apply(m.hv.Block(time.Now(), nodes...)) })
}

// Unblock lifts every block.
func (m *Membership) Unblock() {
	m.do(func() { m.apply(m.hv.Unblock(time.Now())) })
}

// Stop stops membership (without leaving: peers see the node go when its
// connections close).
func (m *Membership) Stop() {
	if m.unsubscribe != nil {
		m.unsubscribe()
	}
	m.main.Exit(node.Shutdown)
	for _, name := range registeredNames {
		if p := m.n.Whereis(name); p != nil {
			p.Exit(node.Shutdown)
		}
	}
	m.stopTimers()
	m.wg.Wait()
}

// initState makes the maps and state machines the loop's handlers use
// (the GC's map is made by its first gcTrack).
func (m *Membership) initState() {
	m.live.lastBeat = map[etf.Atom]time.Time{}
	m.initBroadcast()
}
