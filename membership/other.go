package membership

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/hyparview"
	"github.com/barrelgo/barrelgo/membership/plumtree"
	"github.com/barrelgo/barrelgo/membership/registry"
	"github.com/barrelgo/barrelgo/node"
)

// Internal mailbox messages of the broadcast and registry layers.
type (
	ptTimer  plumtree.Timer
	regTimer registry.Timer
)

// broadcastState is the part of Membership that drives Plumtree and the
// registry; it lives on the membership goroutine.
type broadcastState struct {
	pt       *plumtree.State
	reg      *registry.Registry
	tagSubs  map[etf.Term]map[int]func(from etf.Atom, payload etf.Term)
	tagSeq   int
	monitors map[etf.Ref]etf.Pid
	lookups  map[uint64]chan registry.RouteResult
}

// initBroadcast makes the Plumtree and registry state; startBroadcast
// starts their timers and syncs.
func (m *Membership) initBroadcast() {
	b := &m.bc
	b.pt = plumtree.New(plumtree.Config{Self: m.n.Name()}, nil)
	b.reg = registry.New(registry.Config{Self: m.n.Name(), RouterPid: m.main.Pid(), MakeRef: m.n.MakeRef})
	b.tagSubs = map[etf.Term]map[int]func(etf.Atom, etf.Term){}
	b.monitors = map[etf.Ref]etf.Pid{}
	b.lookups = map[uint64]chan registry.RouteResult{}
}

func (m *Membership) startBroadcast(now time.Time) {
	b := &m.bc
	m.applyPT(b.pt.Start(now))
	m.applyReg(b.reg.Start(now, nil))
}

// handleOther serves the Plumtree, replica and router names.
func (m *Membership) handleOther(now time.Time, in inbound) {
	b := &m.bc
	switch {
	case in.name == plumtree.ProcessName:
		msg, err := plumtree.DecodeEnvelope(in.msg)
		if err != nil {
			m.malformed(in.name, err)
			return
		}
		m.cfg.Metrics.plumtreeReceived(msg)
		m.applyPT(b.pt.Receive(now, msg))
	case registry.IsReplicaInstance(in.name):
		m.applyReg(b.reg.HandleReplica(now, in.name, in.msg))
	case in.name == registry.RouterName:
		m.applyReg(b.reg.HandleRouteRequest(now, in.msg, m.hv.ActiveNodes()))
	default:
		m.log.Debug("membership message dropped", "to", string(in.name), "msg", etf.Format(in.msg))
	}
}

// handleDirect takes messages sent to the membership process itself: DOWNs
// of monitored services and route replies.
func (m *Membership) handleDirect(now time.Time, msg etf.Term) {
	b := &m.bc
	if t, ok := msg.(etf.Tuple); ok && len(t) == 5 && t[0] == etf.Atom("DOWN") {
		if ref, ok := t[1].(etf.Ref); ok {
			if pid, ok := b.monitors[ref]; ok {
				delete(b.monitors, ref)
				m.applyReg(b.reg.ServiceDown(now, pid, t[4]))
			}
		}
		return
	}
	m.applyReg(b.reg.HandleRouteReply(now, msg))
}

func (m *Membership) peerUp(node etf.Atom) {
	now := time.Now()
	m.applyPT(m.bc.pt.NeighborUp(now, node))
	m.applyReg(m.bc.reg.PeerUp(now, node))
}

func (m *Membership) peerDown(node etf.Atom, reason hyparview.Reason) {
	now := time.Now()
	m.applyPT(m.bc.pt.NeighborDown(now, node))
	if reason == hyparview.ReasonDropped {
		// barrel_p2p forgets a peer's services on every peer_down, even
		// when the peer was only evicted from a full active view and is
		// alive (membership.md §4.5): its services then stay invisible
		// until the two are neighbours again. barrelgo keeps them; member
		// heartbeats expire them if the node really dies.
		return
	}
	m.applyReg(m.bc.reg.PeerDown(now, node))
}

func (m *Membership) applyPT(actions []plumtree.Action) {
	for _, a := range actions {
		switch a := a.(type) {
		case plumtree.Send:
			m.cfg.Metrics.plumtreeSent(a.To, a.Msg)
			m.main.SendNoConnect(context.Background(), etf.Tuple{plumtree.ProcessName, a.To}, plumtree.Envelope(a.Msg))
		case plumtree.Deliver:
			m.cfg.Metrics.delivered()
			if a.Tag == membersTag {
				m.sawHeartbeat(time.Now(), a.Payload)
			}
			if subs := m.bc.tagSubs[normTag(a.Tag)]; subs != nil {
				for _, fn := range subs {
					fn(a.From, a.Payload)
				}
			}
			m.applyReg(m.bc.reg.HandleBroadcast(time.Now(), a.From, a.Tag, a.Payload))
		case plumtree.SetTimer:
			m.after(a.After, ptTimer(a.Timer))
		case plumtree.CancelTimer:
			// A stale firing is ignored by the state machine.
		}
	}
}

func (m *Membership) applyReg(actions []registry.Action) {
	for _, a := range actions {
		switch a := a.(type) {
		case registry.Broadcast:
			_, acts := m.bc.pt.Broadcast(time.Now(), a.Tag, a.Payload)
			m.applyPT(acts)
		case registry.SendReplica:
			m.main.SendNoConnect(context.Background(), etf.Tuple{a.Instance, a.To}, registry.ReplicaEnvelope(a.Msg))
		case registry.SendRoute:
			m.main.SendNoConnect(context.Background(), etf.Tuple{registry.RouterName, a.To}, a.Msg.Envelope())
		case registry.ReplyRoute:
			m.main.SendNoConnect(context.Background(), a.To, a.Msg.Term())
		case registry.SetTimer:
			m.after(a.After, regTimer(a.Timer))
		case registry.CancelTimer:
		case registry.Event:
			ev := Event{Node: a.Node, Service: a.Name.Term()}
			switch a.Kind {
			case registry.EventRegistered:
				ev.Type = ServiceUp
			default:
				ev.Type = ServiceDown
			}
			m.publish(ev)
		case registry.Monitor:
			ref, err := m.main.Monitor(context.Background(), a.Pid)
			if err == nil {
				m.bc.monitors[ref] = a.Pid
			}
		case registry.Demonitor:
			for ref, pid := range m.bc.monitors {
				if pid == a.Pid {
					_ = m.main.Demonitor(context.Background(), ref)
					delete(m.bc.monitors, ref)
				}
			}
		case registry.Rejected:
			m.log.Warn("malformed registry data dropped", "from", string(a.From), "source", a.Source, "err", a.Err)
			m.cfg.Metrics.malformed(registry.RegistryReplica)
		case registry.LookupDone:
			if ch, ok := m.bc.lookups[a.ID]; ok {
				delete(m.bc.lookups, a.ID)
				ch <- a.Result
			}
		}
	}
}

// normTag makes tags comparable map keys (atoms usually are).
func normTag(t etf.Term) etf.Term {
	switch v := t.(type) {
	case etf.Atom:
		return v
	}
	return etf.Format(t)
}

// Broadcast sends payload to every member under tag (barrel_p2p:broadcast/2).
func (m *Membership) Broadcast(tag etf.Term, payload etf.Term) error {
	if !m.do(func() {
		_, acts := m.bc.pt.Broadcast(time.Now(), tag, payload)
		m.applyPT(acts)
	}) {
		return ErrStopped
	}
	return nil
}

// SubscribeBroadcast calls fn(from, payload) for every broadcast with tag,
// including this node's own; fn runs on the membership goroutine and must
// not block.
func (m *Membership) SubscribeBroadcast(tag etf.Term, fn func(from etf.Atom, payload etf.Term)) (cancel func()) {
	var id int
	key := normTag(tag)
	m.do(func() {
		m.bc.tagSeq++
		id = m.bc.tagSeq
		if m.bc.tagSubs[key] == nil {
			m.bc.tagSubs[key] = map[int]func(etf.Atom, etf.Term){}
		}
		m.bc.tagSubs[key][id] = fn
	})
	return func() { m.do(func() { delete(m.bc.tagSubs[key], id) }) }
}

// serviceName accepts an atom or a binary/string service name.
func serviceName(name etf.Term) (registry.Name, error) {
	switch v := name.(type) {
	case etf.Atom:
		return registry.AtomName(string(v)), nil
	case []byte:
		return registry.BinaryName(string(v)), nil
	case string:
		return registry.BinaryName(v), nil
	}
	return registry.Name{}, fmt.Errorf("membership: service name %s must be an atom or a binary", etf.Format(name))
}

// RegisterService shares a local process as a service cluster-wide
// (barrel_p2p:register_service/2,3); it is forgotten when pid exits.
func (m *Membership) RegisterService(name etf.Term, pid etf.Pid, meta etf.Map) error {
	sn, err := serviceName(name)
	if err != nil {
		return err
	}
	if pid.Node != m.n.Name() {
		return fmt.Errorf("membership: service %s: pid %s is not on this node", etf.Format(name), etf.Format(pid))
	}
	var rerr error
	if !m.do(func() {
		var acts []registry.Action
		acts, rerr = m.bc.reg.Register(time.Now(), sn, pid, meta)
		m.applyReg(acts)
	}) {
		return ErrStopped
	}
	return rerr
}

// UnregisterService withdraws a local service.
func (m *Membership) UnregisterService(name etf.Term) error {
	sn, err := serviceName(name)
	if err != nil {
		return err
	}
	if !m.do(func() { m.applyReg(m.bc.reg.Unregister(time.Now(), sn)) }) {
		return ErrStopped
	}
	return nil
}

// ErrServiceNotFound is returned when no member knows a service.
var ErrServiceNotFound = errors.New("membership: service not_found")

// WhereisService finds a service (barrel_p2p:whereis_service/1): from the
// replicated registry, else by asking the overlay's routers. It returns
// the node and pid serving it.
func (m *Membership) WhereisService(ctx context.Context, name etf.Term) (etf.Atom, etf.Pid, error) {
	sn, err := serviceName(name)
	if err != nil {
		return "", etf.Pid{}, err
	}
	var loc registry.Location
	var found bool
	ch := make(chan registry.RouteResult, 1)
	if !m.do(func() {
		loc, found = m.bc.reg.Whereis(sn)
		if found {
			return
		}
		id, acts := m.bc.reg.FindService(time.Now(), sn, m.hv.ActiveNodes())
		m.bc.lookups[id] = ch
		m.applyReg(acts)
	}) {
		return "", etf.Pid{}, ErrStopped
	}
	if found {
		if loc.Local {
			return m.n.Name(), loc.Pid, nil
		}
		return loc.Node, loc.Pid, nil
	}
	select {
	case res := <-ch:
		if res.Found {
			return res.Node, res.Pid, nil
		}
		return "", etf.Pid{}, fmt.Errorf("%w: %s (%s)", ErrServiceNotFound, etf.Format(name), res.Error)
	case <-ctx.Done():
		return "", etf.Pid{}, ctx.Err()
	}
}

// Service is one registry entry.
type Service struct {
	Name etf.Term
	Node etf.Atom
	Pid  etf.Pid
	Meta etf.Map
}

// Services lists every service known to this node.
func (m *Membership) Services() []Service {
	var out []Service
	m.do(func() {
		for _, s := range m.bc.reg.Services() {
			out = append(out, Service{Name: s.Name.Term(), Node: s.Node, Pid: s.Pid, Meta: s.Meta})
		}
	})
	return out
}

var _ = node.Normal
