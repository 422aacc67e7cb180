package registry

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/barrelgo/barrelgo/etf"
)

// DefaultRouteTimeout is how long a hop waits for a peer's route reply
// before trying the next candidate (LOOKUP_TIMEOUT).
const DefaultRouteTimeout = 5 * time.Second

// ErrAlreadyRegistered is returned by Register when this node already has a
// live registration under the name ({error, already_registered}).
var ErrAlreadyRegistered = errors.New("registry: already_registered")

// Config parameterises a Registry.
type Config struct {
	// Self is the local node name.
	Self etf.Atom
	// MaxClockOffset > 0 stops remote timestamps more than this far ahead
	// of the physical clock from dragging the HLC forward (their entries
	// still merge). barrel_p2p uses no limit.
	MaxClockOffset time.Duration
	// RouterPid is the pid whose mailbox receives {Ref, Result} replies to
	// the route requests this node sends; the driver passes those messages
	// to HandleRouteReply. With the zero Pid the node never forwards route
	// requests (it still answers for its own services).
	RouterPid etf.Pid
	// MakeRef returns a fresh reference for each forwarded route request.
	// Nil means references of node Self numbered from 1, which are unique
	// for the life of the Registry.
	MakeRef func() etf.Ref
	// Rand orders route candidates. Nil means a PCG seeded from Self.
	Rand *rand.Rand
	// MaxInFlight caps the route requests served at once
	// (DefaultMaxInFlight when 0); beyond it peers get {error, overloaded}.
	MaxInFlight int
	// RouteTimeout is the per-hop wait (DefaultRouteTimeout when 0).
	RouteTimeout time.Duration
	// ErlangEvents reproduces barrel_p2p's remote events exactly: one
	// event per accepted delta entry even when nothing changed (quirk Q12),
	// none for full_sync or peer_down. By default events report changes of
	// the visible registry instead, whatever caused them.
	ErlangEvents bool
}

// EventKind is the kind of a service event.
type EventKind uint8

const (
	// EventRegistered is {service_registered, Name, Node}.
	EventRegistered EventKind = iota + 1
	// EventUnregistered is {service_unregistered, Name, Node}.
	EventUnregistered
	// EventDown is {service_down, Name, Node, Reason}: a local service's
	// process exited.
	EventDown
)

// Cause says what produced an event.
type Cause uint8

const (
	// CauseLocal: Register, Unregister or ServiceDown on this node.
	CauseLocal Cause = iota + 1
	// CauseDelta: a delta received over Plumtree.
	CauseDelta
	// CauseFullSync: a full_sync snapshot.
	CauseFullSync
	// CausePeerDown: PeerDown forgot the node's services.
	CausePeerDown
)

// Timer names one timer the Registry asked for. It is comparable.
type Timer struct {
	// Ref is the outstanding route request the timer guards.
	Ref etf.Ref
}

// Action is one of Broadcast, SendReplica, SendRoute, ReplyRoute,
// SetTimer, CancelTimer, Event, Monitor, Demonitor, Rejected and
// LookupDone.
type Action interface{ isAction() }

// Broadcast asks the driver to broadcast Payload over Plumtree with Tag
// (always RegistryReplica).
type Broadcast struct {
	Tag     etf.Atom
	Payload etf.Term
}

// SendReplica asks the driver to send ReplicaEnvelope(Msg) to {Instance,
// To} with noconnect semantics (dropped when no channel exists).
type SendReplica struct {
	To       etf.Atom
	Instance etf.Atom
	Msg      ReplicaMsg
}

// SendRoute asks the driver to send Msg.Envelope() to {barrel_p2p_router,
// To} with noconnect semantics.
type SendRoute struct {
	To  etf.Atom
	Msg RouteRequest
}

// ReplyRoute asks the driver to send Msg.Term() to the pid To (noconnect).
type ReplyRoute struct {
	To  etf.Pid
	Msg RouteReply
}

// SetTimer asks the driver to call Fire(now, Timer) After from now.
type SetTimer struct {
	Timer Timer
	After time.Duration
}

// CancelTimer tells the driver a timer is no longer needed; firing it
// anyway does nothing.
type CancelTimer struct {
	Timer Timer
}

// Event is a service event for local subscribers, who expect
// {barrel_p2p_service_event, Event.Term()}.
type Event struct {
	Kind   EventKind
	Name   Name
	Node   etf.Atom
	Reason etf.Term // EventDown only
	Cause  Cause
}

// Monitor asks the driver to monitor Pid and call ServiceDown when it
// exits. It is emitted when Pid gets its first live registration.
type Monitor struct {
	Pid etf.Pid
}

// Demonitor tells the driver that Pid has no live registration left.
type Demonitor struct {
	Pid etf.Pid
}

// Rejected reports input dropped by validation: a whole message (Key nil)
// or one entry of a delta or snapshot. Nothing of it was merged.
type Rejected struct {
	From   etf.Atom // the node that sent it, when known
	Source string   // "delta", "full_sync", "replica", "route_request", "route_reply"
	Key    etf.Term
	Err    error
}

// LookupDone reports the result of a FindService.
type LookupDone struct {
	ID     uint64
	Result RouteResult
}

func (Broadcast) isAction()   {}
func (SendReplica) isAction() {}
func (SendRoute) isAction()   {}
func (ReplyRoute) isAction()  {}
func (SetTimer) isAction()    {}
func (CancelTimer) isAction() {}
func (Event) isAction()       {}
func (Monitor) isAction()     {}
func (Demonitor) isAction()   {}
func (Rejected) isAction()    {}
func (LookupDone) isAction()  {}

// Term returns the event as barrel_p2p_service_events delivers it.
func (e Event) Term() etf.Tuple {
	switch e.Kind {
	case EventRegistered:
		return etf.Tuple{etf.Atom("service_registered"), e.Name.Term(), e.Node}
	case EventUnregistered:
		return etf.Tuple{etf.Atom("service_unregistered"), e.Name.Term(), e.Node}
	}
	reason := e.Reason
	if reason == nil {
		reason = etf.Atom("normal")
	}
	return etf.Tuple{etf.Atom("service_down"), e.Name.Term(), e.Node, reason}
}

// Location is where Whereis found a service.
type Location struct {
	// Local is true for a service of this node ({ok, Pid}); otherwise the
	// answer is {ok, Node, Pid}.
	Local bool
	Node  etf.Atom
	Pid   etf.Pid
}

// Stats are counters for observability.
type Stats struct {
	LocalServices  int
	RemoteServices int
	Tombstones     int
	Peers          int
	RoutesInFlight int

	DeltasApplied     uint64
	FullSyncsApplied  uint64
	FullSyncsSent     uint64
	RequestSyncsSent  uint64
	RejectedEntries   uint64 // entries or whole messages dropped
	ClockRejected     uint64 // remote HLCs refused by MaxClockOffset
	RouteRequests     uint64 // route requests received
	RouteDropped      uint64 // answered {error, overloaded}
	OtherReplicaInput uint64 // messages to other replica instances, dropped
	OwnKeysIgnored    uint64 // received entries keyed by this node, not merged
}

type routeJob struct {
	remote    bool
	caller    etf.Pid
	callerRef etf.Term
	lookupID  uint64
	req       RouteReq
	cands     []etf.Atom
}

// Registry is the service registry of one node: its own registrations
// (local), what it learned from peers (remote), the replica peer list, the
// HLC, and the overlay router. It is not safe for concurrent use.
type Registry struct {
	cfg    Config
	clock  *Clock
	local  ormap
	remote ormap
	peers  []etf.Atom

	jobs     map[etf.Ref]*routeJob
	inFlight int
	refSeq   uint32
	lookups  uint64

	stats Stats
}

// New returns an empty Registry.
func New(cfg Config) *Registry {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.RouteTimeout <= 0 {
		cfg.RouteTimeout = DefaultRouteTimeout
	}
	if cfg.Rand == nil {
		h := fnv.New64a()
		h.Write([]byte(cfg.Self))
		cfg.Rand = rand.New(rand.NewPCG(h.Sum64(), 0x7265676973747279))
	}
	r := &Registry{
		cfg:    cfg,
		clock:  NewClock(cfg.MaxClockOffset),
		local:  ormap{},
		remote: ormap{},
		jobs:   map[etf.Ref]*routeJob{},
	}
	if r.cfg.MakeRef == nil {
		r.cfg.MakeRef = r.nextRef
	}
	return r
}

func (r *Registry) nextRef() etf.Ref {
	r.refSeq++
	return etf.Ref{Node: r.cfg.Self, Len: 3, ID: [etf.MaxRefWords]uint32{r.refSeq, 0x72656769, 0}}
}

// Clock returns the node's HLC (barrel_p2p_hlc), shared with the caller for
// the HLC API.
func (r *Registry) Clock() *Clock { return r.clock }

// Start seeds the replica peer list from the active view and asks each
// peer to push its services ({request_sync, Self}), as a freshly started
// barrel_p2p_replica instance does.
func (r *Registry) Start(now time.Time, activeView []etf.Atom) []Action {
	for _, n := range activeView {
		if n != r.cfg.Self && !slices.Contains(r.peers, n) {
			r.peers = append(r.peers, n)
		}
	}
	slices.Sort(r.peers)
	var acts []Action
	for _, n := range r.peers {
		r.stats.RequestSyncsSent++
		acts = append(acts, SendReplica{To: n, Instance: RegistryReplica, Msg: RequestSync{From: r.cfg.Self}})
	}
	return acts
}

// Register registers pid under name on this node (do_register/4): an
// error if a live registration exists; else the entry is stored with a
// fresh dot, and the actions monitor the pid, broadcast the add delta and
// emit service_registered.
func (r *Registry) Register(now time.Time, name Name, pid etf.Pid, meta etf.Map) ([]Action, error) {
	if !name.Binary && utf8.RuneCountInString(name.Text) > 255 {
		return nil, fmt.Errorf("registry: atom name of %d characters exceeds 255", utf8.RuneCountInString(name.Text))
	}
	if meta == nil {
		meta = etf.Map{}
	}
	key := Key{Name: name, Node: r.cfg.Self}
	if e, ok := r.local[key]; ok && e.Live() {
		return nil, ErrAlreadyRegistered
	}
	svc := ServiceEntry{Name: name, Pid: pid, Node: r.cfg.Self, Meta: meta}
	if _, err := etf.AppendTerm(nil, svc.Term(), nil); err != nil {
		return nil, fmt.Errorf("registry: service entry cannot be encoded: %w", err)
	}
	dot := Dot{Node: r.cfg.Self, Time: r.clock.Now(now)}
	entry := Entry{Service: svc, Dots: []Dot{dot}}
	if old, ok := r.local[key]; ok && old.Tombstone && dot.Time.Compare(old.Time) <= 0 {
		// barrel_p2p_ormap:add/3 keeps a newer tombstone. Unreachable with
		// a monotonic clock; mirrored for fidelity.
		entry = old
	}
	monitored := r.pidLive(pid)
	r.local[key] = entry
	var acts []Action
	if !monitored {
		acts = append(acts, Monitor{Pid: pid})
	}
	acts = append(acts,
		Broadcast{Tag: RegistryReplica, Payload: Delta{Origin: r.cfg.Self, Items: []Item{{Key: key, Entry: entry}}}.Term()},
		Event{Kind: EventRegistered, Name: name, Node: r.cfg.Self, Cause: CauseLocal},
	)
	return acts, nil
}

func (r *Registry) pidLive(pid etf.Pid) bool {
	for _, e := range r.local {
		if e.Live() && e.Service.Pid == pid {
			return true
		}
	}
	return false
}

// Unregister removes this node's registration of name (a no-op if there
// is none): tombstone with a fresh HLC, broadcast it, emit
// service_unregistered.
func (r *Registry) Unregister(now time.Time, name Name) []Action {
	key := Key{Name: name, Node: r.cfg.Self}
	e, ok := r.local[key]
	if !ok || !e.Live() {
		return nil
	}
	acts := r.tombstone(now, key)
	if !r.pidLive(e.Service.Pid) {
		acts = append(acts, Demonitor{Pid: e.Service.Pid})
	}
	return append(acts, Event{Kind: EventUnregistered, Name: name, Node: r.cfg.Self, Cause: CauseLocal})
}

// ServiceDown handles the exit of a monitored pid: every local name it
// holds is tombstoned and broadcast, with {service_down, Name, Self,
// Reason} locally (remote nodes see only service_unregistered).
func (r *Registry) ServiceDown(now time.Time, pid etf.Pid, reason etf.Term) []Action {
	var acts []Action
	for _, key := range r.local.sortedKeys() {
		e := r.local[key]
		if !e.Live() || e.Service.Pid != pid {
			continue
		}
		acts = append(acts, r.tombstone(now, key)...)
		acts = append(acts, Event{Kind: EventDown, Name: key.Name, Node: r.cfg.Self, Reason: reason, Cause: CauseLocal})
	}
	return acts
}

func (r *Registry) tombstone(now time.Time, key Key) []Action {
	entry := Entry{Tombstone: true, Time: r.clock.Now(now)}
	r.local[key] = entry
	return []Action{Broadcast{Tag: RegistryReplica, Payload: Delta{Origin: r.cfg.Self, Items: []Item{{Key: key, Entry: entry}}}.Term()}}
}

// HandleBroadcast takes a Plumtree delivery. Only Tag RegistryReplica
// concerns the registry; other tags return nil. A {custom, _, _} payload
// is ignored (the registry defines no custom messages); a malformed
// payload or entry is dropped and reported with a Rejected action. Valid
// entries are merged into the remote map after the HLC absorbed their
// timestamps. From is the immediate Plumtree sender, for reporting; the
// local delivery of this node's own broadcast (From == Self) is ignored,
// since Register/Unregister already applied it (barrel_p2p merges it into
// its remote map as well, so its lookup/1 lists its own services twice).
func (r *Registry) HandleBroadcast(now time.Time, from etf.Atom, tag, payload etf.Term) []Action {
	if tag != RegistryReplica || from == r.cfg.Self {
		return nil
	}
	if tup, ok := payload.(etf.Tuple); ok && len(tup) == 3 && tup[0] == atomCustom {
		return nil
	}
	d, rej, err := DecodeDelta(payload)
	if err != nil {
		r.stats.RejectedEntries++
		return []Action{Rejected{From: from, Source: "delta", Err: err}}
	}
	acts := r.rejections(from, "delta", rej)
	r.stats.DeltasApplied++
	changes := r.ingest(now, d.Items)
	if r.cfg.ErlangEvents {
		for _, it := range d.Items {
			kind := EventRegistered
			if it.Entry.Tombstone {
				kind = EventUnregistered
			}
			acts = append(acts, Event{Kind: kind, Name: it.Key.Name, Node: it.Key.Node, Cause: CauseDelta})
		}
		return acts
	}
	return append(acts, changeEvents(changes, CauseDelta)...)
}

func (r *Registry) rejections(from etf.Atom, source string, rej []Rejection) []Action {
	var acts []Action
	for _, x := range rej {
		r.stats.RejectedEntries++
		acts = append(acts, Rejected{From: from, Source: source, Key: x.Key, Err: x.Err})
	}
	return acts
}

type change struct {
	key           Key
	before, after *ServiceEntry
}

// ingest absorbs the HLCs of items, merges them into remote, and returns
// how the live view of each key changed.
func (r *Registry) ingest(now time.Time, items []Item) []change {
	for _, it := range items {
		if it.Entry.Tombstone {
			r.absorb(now, it.Entry.Time)
			continue
		}
		for _, d := range it.Entry.Dots {
			r.absorb(now, d.Time)
		}
	}
	var out []change
	for _, it := range items {
		if it.Key.Node == r.cfg.Self {
			// Only this node writes its keys; a copy coming back (e.g. a
			// delta of a previous incarnation still relayed after a
			// restart) must not shadow the local map. Its HLC was absorbed
			// above, which keeps new writes ahead of the old ones.
			r.stats.OwnKeysIgnored++
			continue
		}
		old, had := r.remote[it.Key]
		merged := it.Entry
		if had {
			merged = Merge(old, it.Entry)
		}
		r.remote[it.Key] = merged
		c := change{key: it.Key}
		if had && old.Live() {
			s := old.Service
			c.before = &s
		}
		if merged.Live() {
			s := merged.Service
			c.after = &s
		}
		out = append(out, c)
	}
	return out
}

func (r *Registry) absorb(now time.Time, t Timestamp) {
	if _, err := r.clock.Update(now, t); err != nil {
		r.stats.ClockRejected++
	}
}

func changeEvents(changes []change, cause Cause) []Action {
	var acts []Action
	for _, c := range changes {
		switch {
		case c.after != nil && (c.before == nil || !sameService(*c.before, *c.after)):
			acts = append(acts, Event{Kind: EventRegistered, Name: c.key.Name, Node: c.key.Node, Cause: cause})
		case c.after == nil && c.before != nil:
			acts = append(acts, Event{Kind: EventUnregistered, Name: c.key.Name, Node: c.key.Node, Cause: cause})
		}
	}
	return acts
}

func sameService(a, b ServiceEntry) bool {
	return a.Name == b.Name && a.Pid == b.Pid && a.Node == b.Node && etf.Equal(a.Meta, b.Meta)
}

// HandleReplica takes a message sent to the registered name instance.
// For RegistryReplica: full_sync snapshots are validated and merged into
// remote (service events only in the default event mode), and request_sync
// is answered with this node's local map when it has a live entry. For
// any other replica instance (members, leader, reminder, maps) the
// message is accepted and dropped, which is what a node without that
// feature must do.
func (r *Registry) HandleReplica(now time.Time, instance etf.Atom, msg etf.Term) []Action {
	if instance != RegistryReplica {
		r.stats.OtherReplicaInput++
		return nil
	}
	m, err := DecodeReplicaEnvelope(msg)
	if err != nil {
		r.stats.RejectedEntries++
		return []Action{Rejected{Source: "replica", Err: err}}
	}
	switch m := m.(type) {
	case FullSync:
		items, rej, err := DecodeItems(m.Snapshot)
		if err != nil {
			r.stats.RejectedEntries++
			return []Action{Rejected{From: m.From, Source: "full_sync", Err: err}}
		}
		acts := r.rejections(m.From, "full_sync", rej)
		r.stats.FullSyncsApplied++
		changes := r.ingest(now, items)
		if r.cfg.ErlangEvents {
			return acts
		}
		return append(acts, changeEvents(changes, CauseFullSync)...)
	case RequestSync:
		if a, ok := r.fullSync(m.From); ok {
			return []Action{a}
		}
	}
	return nil
}

func (r *Registry) fullSync(to etf.Atom) (Action, bool) {
	if !r.local.hasLive() {
		return nil, false
	}
	r.stats.FullSyncsSent++
	return SendReplica{To: to, Instance: RegistryReplica, Msg: FullSync{From: r.cfg.Self, Snapshot: EncodeItems(r.local.items())}}, true
}

// PeerUp handles HyParView's {peer_up, Node}: a node not yet in the peer
// list is added and receives this node's local map (tombstones included)
// if it has a live entry.
func (r *Registry) PeerUp(now time.Time, node etf.Atom) []Action {
	if node == r.cfg.Self || slices.Contains(r.peers, node) {
		return nil
	}
	r.peers = append(r.peers, node)
	if a, ok := r.fullSync(node); ok {
		return []Action{a}
	}
	return nil
}

// PeerDown handles {peer_down, Node, _} for any reason: the node leaves
// the peer list and every remote key {_, Node} is deleted outright (not
// tombstoned), as barrel_p2p does.
func (r *Registry) PeerDown(now time.Time, node etf.Atom) []Action {
	if i := slices.Index(r.peers, node); i >= 0 {
		r.peers = slices.Delete(r.peers, i, i+1)
	}
	var acts []Action
	for _, key := range r.remote.sortedKeys() {
		if key.Node != node {
			continue
		}
		if r.remote[key].Live() && !r.cfg.ErlangEvents {
			acts = append(acts, Event{Kind: EventUnregistered, Name: key.Name, Node: key.Node, Cause: CausePeerDown})
		}
		delete(r.remote, key)
	}
	return acts
}

// HandleRouteRequest takes a message sent to barrel_p2p_router and serves
// it as barrel_p2p_router does: over MaxInFlight requests in progress, the
// caller gets {error, overloaded}; a TTL of 0 (or below) gets {error,
// ttl_expired}; a service registered on this node gets {found, Self, Pid};
// otherwise the request is forwarded, with TTL-1 and Self prepended to the
// visited list, to the active-view nodes not yet visited, one at a time in
// random order, each given RouteTimeout to answer, and the first found
// result (or {error, not_found} when all fail) goes back to the caller.
func (r *Registry) HandleRouteRequest(now time.Time, msg etf.Term, activeView []etf.Atom) []Action {
	rr, err := DecodeRouteRequest(msg)
	if err != nil {
		r.stats.RejectedEntries++
		return []Action{Rejected{Source: "route_request", Err: err}}
	}
	r.stats.RouteRequests++
	if r.inFlight >= r.cfg.MaxInFlight {
		r.stats.RouteDropped++
		return []Action{ReplyRoute{To: rr.Caller, Msg: RouteReply{Ref: rr.Ref, Result: RouteResult{Error: RouteOverloaded}}}}
	}
	r.inFlight++
	job := &routeJob{remote: true, caller: rr.Caller, callerRef: rr.Ref, req: rr.Req}
	return r.startJob(job, activeView)
}

// FindService originates an overlay lookup for name
// (barrel_p2p_router:find_service/1): the same steps as a served request,
// starting with TTL DefaultRouteTTL and visited [Self]. The result comes
// as a LookupDone action carrying the returned id, possibly among the
// returned actions when it is immediate.
func (r *Registry) FindService(now time.Time, name Name, activeView []etf.Atom) (uint64, []Action) {
	r.lookups++
	job := &routeJob{lookupID: r.lookups, req: RouteReq{
		Service: name, TTL: DefaultRouteTTL, Origin: r.cfg.Self, Visited: []etf.Atom{r.cfg.Self},
	}}
	return r.lookups, r.startJob(job, activeView)
}

func (r *Registry) startJob(job *routeJob, activeView []etf.Atom) []Action {
	if job.req.TTL <= 0 {
		// A negative TTL never reaches 0 in Erlang and would travel until
		// the visited lists stop it; it is treated as expired here.
		return r.finish(job, RouteResult{Error: RouteTTLExpired})
	}
	if pid, ok := r.LookupLocal(job.req.Service); ok {
		return r.finish(job, RouteResult{Found: true, Node: r.cfg.Self, Pid: pid})
	}
	if r.cfg.RouterPid.Node != "" {
		for _, n := range activeView {
			if !slices.Contains(job.req.Visited, n) && !slices.Contains(job.cands, n) {
				job.cands = append(job.cands, n)
			}
		}
		r.cfg.Rand.Shuffle(len(job.cands), func(i, j int) { job.cands[i], job.cands[j] = job.cands[j], job.cands[i] })
	}
	return r.nextHop(job)
}

func (r *Registry) nextHop(job *routeJob) []Action {
	if len(job.cands) == 0 {
		return r.finish(job, RouteResult{Error: RouteNotFound})
	}
	next := job.cands[0]
	job.cands = job.cands[1:]
	ref := r.cfg.MakeRef()
	r.jobs[ref] = job
	visited := make([]etf.Atom, 0, len(job.req.Visited)+1)
	visited = append(append(visited, r.cfg.Self), job.req.Visited...)
	fwd := RouteReq{Service: job.req.Service, TTL: job.req.TTL - 1, Origin: job.req.Origin, Visited: visited}
	return []Action{
		SendRoute{To: next, Msg: RouteRequest{Req: fwd, Caller: r.cfg.RouterPid, Ref: ref}},
		SetTimer{Timer: Timer{Ref: ref}, After: r.cfg.RouteTimeout},
	}
}

func (r *Registry) finish(job *routeJob, res RouteResult) []Action {
	if !job.remote {
		return []Action{LookupDone{ID: job.lookupID, Result: res}}
	}
	r.inFlight--
	return []Action{ReplyRoute{To: job.caller, Msg: RouteReply{Ref: job.callerRef, Result: res}}}
}

// HandleRouteReply takes a message that arrived at RouterPid: the
// {Ref, Result} answer to a request this node forwarded. Replies to
// unknown or finished requests are dropped, as a late reply is in Erlang.
func (r *Registry) HandleRouteReply(now time.Time, msg etf.Term) []Action {
	rep, err := DecodeRouteReply(msg)
	if err != nil {
		r.stats.RejectedEntries++
		return []Action{Rejected{Source: "route_reply", Err: err}}
	}
	ref, ok := rep.Ref.(etf.Ref)
	if !ok {
		return nil
	}
	job, ok := r.jobs[ref]
	if !ok {
		return nil
	}
	delete(r.jobs, ref)
	acts := []Action{CancelTimer{Timer: Timer{Ref: ref}}}
	if rep.Result.Found {
		return append(acts, r.finish(job, rep.Result)...)
	}
	return append(acts, r.nextHop(job)...)
}

// Fire handles an expired timer: the hop counts as {error, timeout} and
// the next candidate is tried.
func (r *Registry) Fire(now time.Time, t Timer) []Action {
	job, ok := r.jobs[t.Ref]
	if !ok {
		return nil
	}
	delete(r.jobs, t.Ref)
	return r.nextHop(job)
}

// LookupLocal returns this node's registration of name
// (barrel_p2p:lookup_local/1).
func (r *Registry) LookupLocal(name Name) (etf.Pid, bool) {
	e, ok := r.local[Key{Name: name, Node: r.cfg.Self}]
	if !ok || !e.Live() {
		return etf.Pid{}, false
	}
	return e.Service.Pid, true
}

// Lookup returns every live instance of name: this node's first, then the
// remote ones ordered by key (barrel_p2p:lookup/1; its remote order is the
// Erlang map's, which is key order for small maps).
func (r *Registry) Lookup(name Name) []ServiceEntry {
	var out []ServiceEntry
	for _, m := range []ormap{r.local, r.remote} {
		for _, k := range m.sortedKeys() {
			if e := m[k]; k.Name == name && e.Live() {
				out = append(out, e.Service)
			}
		}
	}
	return out
}

// Whereis answers barrel_p2p:whereis_service/1 from what this node knows:
// a local registration ({ok, Pid}), else the first Lookup entry ({ok,
// Node, Pid} with the entry's node). When it returns false the caller
// should try FindService (the overlay), then retry with backoff as
// barrel_p2p does (3 retries, 100 ms doubling, capped at 2 s, plus jitter).
func (r *Registry) Whereis(name Name) (Location, bool) {
	if pid, ok := r.LookupLocal(name); ok {
		return Location{Local: true, Node: r.cfg.Self, Pid: pid}, true
	}
	if l := r.Lookup(name); len(l) > 0 {
		return Location{Node: l[0].Node, Pid: l[0].Pid}, true
	}
	return Location{}, false
}

// ListServices returns the names with a live instance, sorted in Erlang
// term order without duplicates (barrel_p2p:list_services/0).
func (r *Registry) ListServices() []Name {
	var out []Name
	for _, m := range []ormap{r.local, r.remote} {
		for k, e := range m {
			if e.Live() {
				out = append(out, k.Name)
			}
		}
	}
	slices.SortFunc(out, Name.Compare)
	return slices.Compact(out)
}

// Services returns every live instance: local ones, then remote ones,
// each ordered by key.
func (r *Registry) Services() []ServiceEntry {
	var out []ServiceEntry
	for _, m := range []ormap{r.local, r.remote} {
		for _, k := range m.sortedKeys() {
			if e := m[k]; e.Live() {
				out = append(out, e.Service)
			}
		}
	}
	return out
}

// LocalItems returns this node's OR-map, tombstones included, by key: the
// full_sync snapshot.
func (r *Registry) LocalItems() []Item { return r.local.items() }

// RemoteItems returns the OR-map learned from peers, tombstones included,
// by key.
func (r *Registry) RemoteItems() []Item { return r.remote.items() }

// Peers returns the replica peer list, sorted.
func (r *Registry) Peers() []etf.Atom {
	p := slices.Clone(r.peers)
	slices.Sort(p)
	return p
}

// Stats returns the counters.
func (r *Registry) Stats() Stats {
	st := r.stats
	for _, m := range []ormap{r.local, r.remote} {
		for _, e := range m {
			if e.Tombstone {
				st.Tombstones++
			}
		}
	}
	for _, e := range r.local {
		if e.Live() {
			st.LocalServices++
		}
	}
	for _, e := range r.remote {
		if e.Live() {
			st.RemoteServices++
		}
	}
	st.Peers = len(r.peers)
	st.RoutesInFlight = r.inFlight
	return st
}
