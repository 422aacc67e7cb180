package registry_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/registry"
)

const goNode = etf.Atom("go@h")

func pid(node etf.Atom, id uint32) etf.Pid { return etf.Pid{Node: node, ID: id, Creation: 1} }

func newReg(opts ...func(*registry.Config)) *registry.Registry {
	cfg := registry.Config{Self: goNode}
	for _, o := range opts {
		o(&cfg)
	}
	return registry.New(cfg)
}

// actionsOf returns the actions of type T.
func actionsOf[T registry.Action](acts []registry.Action) []T {
	var out []T
	for _, a := range acts {
		if x, ok := a.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

func events(acts []registry.Action) []string {
	var out []string
	for _, e := range actionsOf[registry.Event](acts) {
		out = append(out, etf.Format(e.Term()))
	}
	return out
}

// remoteDelta is an add delta as an Erlang node sends it.
func remoteDelta(name string, node etf.Atom, p etf.Pid, w, l int64) etf.Term {
	return etf.Tuple{etf.Atom("delta"), node, etf.Map{{
		Key: etf.Tuple{etf.Atom(name), node},
		Value: etf.Tuple{etf.Atom("value"),
			etf.Tuple{etf.Atom("service_entry"), etf.Atom(name), p, node, etf.Map{}},
			etf.Map{{Key: etf.Tuple{node, etf.Tuple{etf.Atom("timestamp"), w, l}}, Value: etf.AtomTrue}}},
	}}}
}

func remoteTomb(name string, node etf.Atom, w, l int64) etf.Term {
	return etf.Tuple{etf.Atom("delta"), node, etf.Map{{
		Key:   etf.Tuple{etf.Atom(name), node},
		Value: etf.Tuple{etf.Atom("tombstone"), etf.Tuple{etf.Atom("timestamp"), w, l}},
	}}}
}

func TestRegisterUnregister(t *testing.T) {
	r := newReg()
	p := pid(goNode, 1)
	name := registry.AtomName("svc")
	acts, err := r.Register(ms(1000), name, p, etf.Map{{Key: etf.Atom("n"), Value: int64(1)}})
	if err != nil {
		t.Fatal(err)
	}
	if m := actionsOf[registry.Monitor](acts); len(m) != 1 || m[0].Pid != p {
		t.Fatalf("monitor actions %v", m)
	}
	bc := actionsOf[registry.Broadcast](acts)
	if len(bc) != 1 || bc[0].Tag != registry.RegistryReplica {
		t.Fatalf("broadcasts %v", bc)
	}
	d, rej, err := registry.DecodeDelta(bc[0].Payload)
	if err != nil || len(rej) != 0 || d.Origin != goNode || len(d.Items) != 1 {
		t.Fatalf("broadcast payload %s: %v %v", etf.Format(bc[0].Payload), rej, err)
	}
	if it := d.Items[0]; it.Key != (registry.Key{Name: name, Node: goNode}) || it.Entry.Service.Pid != p ||
		it.Entry.Dots[0] != (registry.Dot{Node: goNode, Time: ts{1000, 0}}) {
		t.Fatalf("delta item %+v", it)
	}
	if ev := events(acts); !slices.Equal(ev, []string{"{service_registered,svc,go@h}"}) {
		t.Fatalf("events %v", ev)
	}
	if got, ok := r.LookupLocal(name); !ok || got != p {
		t.Fatal("LookupLocal")
	}
	if loc, ok := r.Whereis(name); !ok || !loc.Local || loc.Pid != p {
		t.Fatalf("Whereis %+v", loc)
	}

	if _, err := r.Register(ms(1000), name, pid(goNode, 2), nil); !errors.Is(err, registry.ErrAlreadyRegistered) {
		t.Fatalf("second Register: %v", err)
	}
	// Same pid under a second name: no second monitor.
	acts, _ = r.Register(ms(1000), registry.BinaryName("svc"), p, nil)
	if len(actionsOf[registry.Monitor](acts)) != 0 {
		t.Fatal("pid monitored twice")
	}

	acts = r.Unregister(ms(1001), name)
	bc = actionsOf[registry.Broadcast](acts)
	d, _, _ = registry.DecodeDelta(bc[0].Payload)
	if len(bc) != 1 || !d.Items[0].Entry.Tombstone || d.Items[0].Entry.Time != (ts{1001, 0}) {
		t.Fatalf("unregister broadcast %v", bc)
	}
	if len(actionsOf[registry.Demonitor](acts)) != 0 {
		t.Fatal("demonitor while the pid still holds <<\"svc\">>")
	}
	if ev := events(acts); !slices.Equal(ev, []string{"{service_unregistered,svc,go@h}"}) {
		t.Fatalf("events %v", ev)
	}
	if acts := r.Unregister(ms(1002), name); acts != nil {
		t.Fatalf("unregistering twice: %v", acts)
	}
	acts = r.Unregister(ms(1002), registry.BinaryName("svc"))
	if d := actionsOf[registry.Demonitor](acts); len(d) != 1 || d[0].Pid != p {
		t.Fatalf("demonitor %v", d)
	}
	// Re-registering after a tombstone works and gets a newer dot.
	acts, err = r.Register(ms(1002), name, p, nil)
	if err != nil || len(actionsOf[registry.Broadcast](acts)) != 1 {
		t.Fatalf("re-register: %v", err)
	}
	if _, ok := r.LookupLocal(name); !ok {
		t.Fatal("not live after re-register")
	}
	// A name the BEAM cannot hold is refused.
	if _, err := r.Register(ms(1003), registry.AtomName(strings.Repeat("x", 256)), p, nil); err == nil {
		t.Fatal("256-character atom accepted")
	}
	if _, err := r.Register(ms(1003), registry.AtomName("bad_meta"), p, etf.Map{{Key: etf.Atom("k"), Value: struct{}{}}}); err == nil {
		t.Fatal("unencodable meta accepted")
	}
}

func TestServiceDown(t *testing.T) {
	r := newReg()
	p := pid(goNode, 1)
	r.Register(ms(1000), registry.AtomName("a"), p, nil)
	r.Register(ms(1000), registry.AtomName("b"), p, nil)
	r.Register(ms(1000), registry.AtomName("c"), pid(goNode, 2), nil)
	acts := r.ServiceDown(ms(2000), p, etf.Atom("killed"))
	if ev := events(acts); !slices.Equal(ev, []string{"{service_down,a,go@h,killed}", "{service_down,b,go@h,killed}"}) {
		t.Fatalf("events %v", ev)
	}
	if n := len(actionsOf[registry.Broadcast](acts)); n != 2 {
		t.Fatalf("%d broadcasts", n)
	}
	if names := r.ListServices(); len(names) != 1 || names[0] != registry.AtomName("c") {
		t.Fatalf("left %v", names)
	}
	if acts := r.ServiceDown(ms(2000), p, etf.Atom("killed")); acts != nil {
		t.Fatalf("second down: %v", acts)
	}
}

func TestHandleBroadcast(t *testing.T) {
	const e1 = etf.Atom("e1@h")
	p := pid(e1, 9)
	svc := registry.AtomName("svc")
	tag := etf.Term(registry.RegistryReplica)

	t.Run("add then stale add then tombstone", func(t *testing.T) {
		r := newReg()
		acts := r.HandleBroadcast(ms(0), e1, tag, remoteDelta("svc", e1, p, 5000, 0))
		if ev := events(acts); !slices.Equal(ev, []string{"{service_registered,svc,e1@h}"}) {
			t.Fatalf("events %v", ev)
		}
		if loc, ok := r.Whereis(svc); !ok || loc.Local || loc.Node != e1 || loc.Pid != p {
			t.Fatalf("whereis %+v", loc)
		}
		if r.Clock().Last() != (ts{5000, 1}) {
			t.Fatalf("clock did not absorb the dot: %v", r.Clock().Last())
		}
		// A re-delivery changes nothing: no event (Erlang would emit one, Q12).
		if acts := r.HandleBroadcast(ms(0), e1, tag, remoteDelta("svc", e1, p, 5000, 0)); len(acts) != 0 {
			t.Fatalf("re-delivery: %v", acts)
		}
		acts = r.HandleBroadcast(ms(0), e1, tag, remoteTomb("svc", e1, 5000, 1))
		if ev := events(acts); !slices.Equal(ev, []string{"{service_unregistered,svc,e1@h}"}) {
			t.Fatalf("events %v", ev)
		}
		// An add older than the tombstone does not resurrect it.
		acts = r.HandleBroadcast(ms(0), e1, tag, remoteDelta("svc", e1, p, 4999, 7))
		if len(acts) != 0 || len(r.Lookup(svc)) != 0 {
			t.Fatalf("stale add resurrected the service: %v", acts)
		}
		if st := r.Stats(); st.Tombstones != 1 || st.RemoteServices != 0 || st.DeltasApplied != 4 {
			t.Fatalf("stats %+v", st)
		}
	})

	t.Run("erlang event mode", func(t *testing.T) {
		r := newReg(func(c *registry.Config) { c.ErlangEvents = true })
		r.HandleBroadcast(ms(0), e1, tag, remoteDelta("svc", e1, p, 5000, 0))
		acts := r.HandleBroadcast(ms(0), e1, tag, remoteDelta("svc", e1, p, 5000, 0))
		if ev := events(acts); !slices.Equal(ev, []string{"{service_registered,svc,e1@h}"}) {
			t.Fatalf("re-delivery events %v", ev)
		}
		acts = r.HandleBroadcast(ms(0), e1, tag, remoteTomb("svc", "x@h", 1, 0))
		if ev := events(acts); !slices.Equal(ev, []string{"{service_unregistered,svc,x@h}"}) {
			t.Fatalf("tombstone of an unknown key: %v", ev)
		}
	})

	t.Run("other tags and custom payloads are not the registry's", func(t *testing.T) {
		r := newReg()
		if acts := r.HandleBroadcast(ms(0), e1, registry.MembersReplica, remoteDelta("svc", e1, p, 1, 0)); acts != nil {
			t.Fatalf("members tag: %v", acts)
		}
		if acts := r.HandleBroadcast(ms(0), e1, tag, etf.Tuple{etf.Atom("custom"), e1, int64(1)}); acts != nil {
			t.Fatalf("custom: %v", acts)
		}
		if len(r.Services()) != 0 {
			t.Fatal("merged")
		}
	})
}

// TestMalformedDeltas: malformed payloads and entries are reported and
// never merged, and the clock does not absorb their timestamps.
func TestMalformedDeltas(t *testing.T) {
	const e1 = etf.Atom("e1@h")
	good := func() etf.Tuple { return remoteDelta("svc", e1, pid(e1, 1), 5000, 0).(etf.Tuple) }
	entryOf := func(d etf.Tuple) etf.Tuple { return d[2].(etf.Map)[0].Value.(etf.Tuple) }
	withEntry := func(f func(e etf.Tuple) etf.Term) etf.Term {
		d := good()
		e := entryOf(d)
		d[2] = etf.Map{{Key: d[2].(etf.Map)[0].Key, Value: f(e)}}
		return d
	}
	withKey := func(k etf.Term) etf.Term {
		d := good()
		d[2] = etf.Map{{Key: k, Value: d[2].(etf.Map)[0].Value}}
		return d
	}
	svcEntry := func(f func(s etf.Tuple)) etf.Term {
		return withEntry(func(e etf.Tuple) etf.Term {
			s := append(etf.Tuple{}, e[1].(etf.Tuple)...)
			f(s)
			return etf.Tuple{e[0], s, e[2]}
		})
	}
	hlc := func(w, l etf.Term) etf.Term { return etf.Tuple{etf.Atom("timestamp"), w, l} }
	cases := map[string]struct {
		payload   etf.Term
		wholeDrop bool
	}{
		"payload not a tuple": {etf.List{etf.Atom("delta")}, true},
		"payload wrong tag":   {etf.Tuple{etf.Atom("delta2"), e1, etf.Map{}}, true},
		"payload arity 2":     {etf.Tuple{etf.Atom("delta"), e1}, true},
		"origin not an atom":  {etf.Tuple{etf.Atom("delta"), "e1", good()[2]}, true},
		"delta map is a list": {etf.Tuple{etf.Atom("delta"), e1, etf.List{good()[2]}}, true},
		"entry not a tuple":   {withEntry(func(etf.Tuple) etf.Term { return etf.Atom("value") }), false},
		"entry unknown tag":   {withEntry(func(e etf.Tuple) etf.Term { return etf.Tuple{etf.Atom("val"), e[1], e[2]} }), false},
		"value arity 2":       {withEntry(func(e etf.Tuple) etf.Term { return etf.Tuple{e[0], e[1]} }), false},
		"dots empty map":      {withEntry(func(e etf.Tuple) etf.Term { return etf.Tuple{e[0], e[1], etf.Map{}} }), false},
		"dots a list":         {withEntry(func(e etf.Tuple) etf.Term { return etf.Tuple{e[0], e[1], etf.List{}} }), false},
		"dot key not a pair":  {withEntry(func(e etf.Tuple) etf.Term { return etf.Tuple{e[0], e[1], etf.Map{{Key: e1, Value: etf.AtomTrue}}} }), false},
		"dot node not an atom": {withEntry(func(e etf.Tuple) etf.Term {
			return etf.Tuple{e[0], e[1], etf.Map{{Key: etf.Tuple{"e1", hlc(int64(1), int64(0))}, Value: etf.AtomTrue}}}
		}), false},
		"dot HLC wrong record": {withEntry(func(e etf.Tuple) etf.Term {
			return etf.Tuple{e[0], e[1], etf.Map{{Key: etf.Tuple{e1, etf.Tuple{etf.Atom("hlc"), int64(1), int64(0)}}, Value: etf.AtomTrue}}}
		}), false},
		"dot HLC float wall": {withEntry(func(e etf.Tuple) etf.Term {
			return etf.Tuple{e[0], e[1], etf.Map{{Key: etf.Tuple{e1, hlc(1.5, int64(0))}, Value: etf.AtomTrue}}}
		}), false},
		"dot HLC atom logical": {withEntry(func(e etf.Tuple) etf.Term {
			return etf.Tuple{e[0], e[1], etf.Map{{Key: etf.Tuple{e1, hlc(int64(1), etf.Atom("x"))}, Value: etf.AtomTrue}}}
		}), false},
		"dot HLC logical near 2^31": {withEntry(func(e etf.Tuple) etf.Term {
			return etf.Tuple{e[0], e[1], etf.Map{{Key: etf.Tuple{e1, hlc(int64(1), int64(1<<31-2))}, Value: etf.AtomTrue}}}
		}), false},
		"tombstone without HLC":       {withEntry(func(etf.Tuple) etf.Term { return etf.Tuple{etf.Atom("tombstone"), int64(5)} }), false},
		"tombstone arity 3":           {withEntry(func(etf.Tuple) etf.Term { return etf.Tuple{etf.Atom("tombstone"), hlc(int64(1), int64(0)), int64(0)} }), false},
		"leaf not a service_entry":    {withEntry(func(e etf.Tuple) etf.Term { return etf.Tuple{e[0], etf.Tuple{etf.Atom("alive"), int64(1)}, e[2]} }), false},
		"leaf name is a string":       {svcEntry(func(s etf.Tuple) { s[1] = etf.ByteList("svc") }), false},
		"leaf pid is an atom":         {svcEntry(func(s etf.Tuple) { s[2] = etf.Atom("pid") }), false},
		"leaf node is a binary":       {svcEntry(func(s etf.Tuple) { s[3] = []byte("e1@h") }), false},
		"leaf meta is a list":         {svcEntry(func(s etf.Tuple) { s[4] = etf.List{} }), false},
		"key not a tuple":             {withKey(etf.Atom("svc")), false},
		"key node is a pid":           {withKey(etf.Tuple{etf.Atom("svc"), pid(e1, 1)}), false},
		"key name differs from entry": {withKey(etf.Tuple{etf.Atom("other"), e1}), false},
		"key node differs from entry": {withKey(etf.Tuple{etf.Atom("svc"), etf.Atom("x@h")}), false},
		"key name binary, entry atom": {withKey(etf.Tuple{[]byte("svc"), e1}), false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := newReg()
			acts := r.HandleBroadcast(ms(0), e1, registry.RegistryReplica, tc.payload)
			rej := actionsOf[registry.Rejected](acts)
			if len(rej) != 1 || !errors.Is(rej[0].Err, registry.ErrMalformed) || rej[0].From != e1 || rej[0].Source != "delta" {
				t.Fatalf("rejections %v", rej)
			}
			if (rej[0].Key == nil) != tc.wholeDrop {
				t.Fatalf("rejected key %v, whole payload expected %v", rej[0].Key, tc.wholeDrop)
			}
			if len(events(acts)) != 0 || len(r.RemoteItems()) != 0 || r.Clock().Last() != (ts{}) {
				t.Fatalf("something was merged: %v %v %v", acts, r.RemoteItems(), r.Clock().Last())
			}
			if r.Stats().RejectedEntries != 1 {
				t.Fatalf("stats %+v", r.Stats())
			}
		})
	}

	// One bad entry does not stop the good ones of the same delta.
	r := newReg()
	d := good()
	d[2] = append(d[2].(etf.Map), etf.MapPair{Key: etf.Tuple{etf.Atom("bad"), e1}, Value: etf.Atom("junk")})
	acts := r.HandleBroadcast(ms(0), e1, registry.RegistryReplica, d)
	if len(actionsOf[registry.Rejected](acts)) != 1 || len(r.Services()) != 1 {
		t.Fatalf("mixed delta: %v, services %v", acts, r.Services())
	}
	// Binary names are accepted like atoms.
	bin := etf.Tuple{etf.Atom("delta"), e1, etf.Map{{
		Key: etf.Tuple{[]byte("svc"), e1},
		Value: etf.Tuple{etf.Atom("value"),
			etf.Tuple{etf.Atom("service_entry"), []byte("svc"), pid(e1, 2), e1, etf.Map{}},
			etf.Map{{Key: etf.Tuple{e1, hlc(int64(1), int64(0))}, Value: etf.AtomTrue}}},
	}}}
	if acts := r.HandleBroadcast(ms(0), e1, registry.RegistryReplica, bin); len(actionsOf[registry.Rejected](acts)) != 0 {
		t.Fatalf("binary name rejected: %v", acts)
	}
	if names := r.ListServices(); len(names) != 2 || names[0] != registry.AtomName("svc") || names[1] != registry.BinaryName("svc") {
		t.Fatalf("names %v", names)
	}
}

func TestFullSyncAndRequestSync(t *testing.T) {
	const e1 = etf.Atom("e1@h")
	snapshot := func(items ...etf.Term) etf.Term {
		m := etf.Map{}
		for _, it := range items {
			m = append(m, it.(etf.Tuple)[2].(etf.Map)...)
		}
		return m
	}
	fs := func(s etf.Term) etf.Term {
		return registry.ReplicaEnvelope(registry.FullSync{From: e1, Snapshot: s})
	}

	r := newReg()
	acts := r.HandleReplica(ms(0), registry.RegistryReplica, fs(snapshot(
		remoteDelta("a", e1, pid(e1, 1), 10, 0), remoteTomb("b", e1, 10, 0))))
	if ev := events(acts); !slices.Equal(ev, []string{"{service_registered,a,e1@h}"}) {
		t.Fatalf("events %v", ev)
	}
	if st := r.Stats(); st.RemoteServices != 1 || st.Tombstones != 1 || st.FullSyncsApplied != 1 {
		t.Fatalf("stats %+v", st)
	}
	// barrel_p2p emits nothing for a full sync.
	re := newReg(func(c *registry.Config) { c.ErlangEvents = true })
	if acts := re.HandleReplica(ms(0), registry.RegistryReplica, fs(snapshot(remoteDelta("a", e1, pid(e1, 1), 10, 0)))); len(acts) != 0 {
		t.Fatalf("erlang mode full sync: %v", acts)
	}
	// A non-map snapshot is reported, not merged.
	acts = r.HandleReplica(ms(0), registry.RegistryReplica, fs(etf.List{}))
	if rej := actionsOf[registry.Rejected](acts); len(rej) != 1 || rej[0].Source != "full_sync" {
		t.Fatalf("non-map snapshot: %v", acts)
	}
	// Garbage to the replica name is reported.
	acts = r.HandleReplica(ms(0), registry.RegistryReplica, etf.Tuple{registry.ReplicaEnvelopeTag, etf.Tuple{etf.Atom("sync"), e1}})
	if rej := actionsOf[registry.Rejected](acts); len(rej) != 1 || rej[0].Source != "replica" {
		t.Fatalf("garbage: %v", acts)
	}

	// request_sync: nothing while there is no live local service.
	req := registry.ReplicaEnvelope(registry.RequestSync{From: e1})
	if acts := r.HandleReplica(ms(0), registry.RegistryReplica, req); acts != nil {
		t.Fatalf("request_sync with nothing local: %v", acts)
	}
	r.Register(ms(100), registry.AtomName("mine"), pid(goNode, 1), nil)
	r.Register(ms(100), registry.AtomName("gone"), pid(goNode, 2), nil)
	r.Unregister(ms(100), registry.AtomName("gone"))
	acts = r.HandleReplica(ms(0), registry.RegistryReplica, req)
	sr := actionsOf[registry.SendReplica](acts)
	if len(sr) != 1 || sr[0].To != e1 || sr[0].Instance != registry.RegistryReplica {
		t.Fatalf("request_sync answer %v", acts)
	}
	full := sr[0].Msg.(registry.FullSync)
	items, rej, err := registry.DecodeItems(full.Snapshot)
	if full.From != goNode || err != nil || len(rej) != 0 || len(items) != 2 || !items[0].Entry.Tombstone || items[1].Entry.Tombstone {
		t.Fatalf("snapshot %s (tombstones must be included, remote entries not)", etf.Format(full.Snapshot))
	}
	// Another instance's messages are accepted and dropped.
	if acts := r.HandleReplica(ms(0), registry.ReminderReplica, req); acts != nil {
		t.Fatalf("reminder request_sync: %v", acts)
	}
	if acts := r.HandleReplica(ms(0), "barrel_p2p_map_replica$m", etf.Atom("junk")); acts != nil {
		t.Fatalf("map junk: %v", acts)
	}
	if r.Stats().OtherReplicaInput != 2 {
		t.Fatalf("stats %+v", r.Stats())
	}
}

func TestPeerUpDownAndStart(t *testing.T) {
	const e1, e2 = etf.Atom("e1@h"), etf.Atom("e2@h")
	r := newReg()
	acts := r.Start(ms(0), []etf.Atom{e2, goNode, e1})
	sr := actionsOf[registry.SendReplica](acts)
	if len(sr) != 2 || sr[0].To != e1 || sr[1].To != e2 || sr[0].Msg != (registry.RequestSync{From: goNode}) {
		t.Fatalf("start %v", acts)
	}
	// Known peers get no push; a new one gets none while nothing is local.
	if acts := r.PeerUp(ms(0), e1); acts != nil {
		t.Fatalf("known peer: %v", acts)
	}
	if acts := r.PeerUp(ms(0), "e3@h"); acts != nil {
		t.Fatalf("nothing to push: %v", acts)
	}
	r.Register(ms(0), registry.AtomName("mine"), pid(goNode, 1), nil)
	acts = r.PeerUp(ms(0), "e4@h")
	if sr := actionsOf[registry.SendReplica](acts); len(sr) != 1 || sr[0].To != "e4@h" {
		t.Fatalf("push to new peer: %v", acts)
	}
	if acts := r.PeerUp(ms(0), "e4@h"); acts != nil {
		t.Fatalf("second peer_up: %v", acts)
	}
	if acts := r.PeerUp(ms(0), goNode); acts != nil {
		t.Fatalf("peer_up self: %v", acts)
	}

	r.HandleBroadcast(ms(0), e1, registry.RegistryReplica, remoteDelta("a", e1, pid(e1, 1), 10, 0))
	r.HandleBroadcast(ms(0), e1, registry.RegistryReplica, remoteDelta("b", e1, pid(e1, 2), 10, 0))
	r.HandleBroadcast(ms(0), e1, registry.RegistryReplica, remoteTomb("c", e1, 10, 0))
	r.HandleBroadcast(ms(0), e2, registry.RegistryReplica, remoteDelta("a", e2, pid(e2, 1), 10, 0))
	acts = r.PeerDown(ms(0), e1)
	if ev := events(acts); !slices.Equal(ev, []string{"{service_unregistered,a,e1@h}", "{service_unregistered,b,e1@h}"}) {
		t.Fatalf("events %v", ev)
	}
	for _, it := range r.RemoteItems() {
		if it.Key.Node == e1 {
			t.Fatalf("%v survived peer_down (tombstones included)", it.Key)
		}
	}
	if loc, ok := r.Whereis(registry.AtomName("a")); !ok || loc.Node != e2 {
		t.Fatalf("whereis after peer_down %+v", loc)
	}
	if slices.Contains(r.Peers(), e1) {
		t.Fatal("still a peer")
	}
	// peer_up again re-adds the peer (and pushes).
	if acts := r.PeerUp(ms(0), e1); len(actionsOf[registry.SendReplica](acts)) != 1 {
		t.Fatalf("peer_up after down: %v", acts)
	}
}

func TestLookupOrder(t *testing.T) {
	r := newReg()
	for _, n := range []etf.Atom{"z@h", "B@h", "a@h"} {
		r.HandleBroadcast(ms(0), n, registry.RegistryReplica, remoteDelta("svc", n, pid(n, 1), 10, 0))
	}
	r.HandleBroadcast(ms(0), "a@h", registry.RegistryReplica, remoteDelta("other", "a@h", pid("a@h", 2), 10, 0))
	var nodes []string
	for _, e := range r.Lookup(registry.AtomName("svc")) {
		nodes = append(nodes, string(e.Node))
	}
	if want := []string{"B@h", "a@h", "z@h"}; !slices.Equal(nodes, want) {
		t.Fatalf("remote order %v, want %v (Erlang atom order)", nodes, want)
	}
	if loc, _ := r.Whereis(registry.AtomName("svc")); loc.Node != "B@h" || loc.Local {
		t.Fatalf("whereis %+v", loc)
	}
	r.Register(ms(0), registry.AtomName("svc"), pid(goNode, 7), nil)
	if l := r.Lookup(registry.AtomName("svc")); len(l) != 4 || l[0].Node != goNode {
		t.Fatalf("local must come first: %v", l)
	}
	if loc, _ := r.Whereis(registry.AtomName("svc")); !loc.Local {
		t.Fatalf("whereis %+v", loc)
	}
	if _, ok := r.Whereis(registry.AtomName("nope")); ok {
		t.Fatal("found a missing service")
	}
	if got := r.ListServices(); !slices.Equal(got, []registry.Name{registry.AtomName("other"), registry.AtomName("svc")}) {
		t.Fatalf("ListServices %v", got)
	}
	if n := len(r.Services()); n != 5 {
		t.Fatalf("%d services", n)
	}
}

// Entries keyed by this node never enter the remote map: the originator's
// own Plumtree delivery, and stale copies of a previous incarnation.
func TestOwnKeysStayLocal(t *testing.T) {
	r := newReg()
	acts, _ := r.Register(ms(1000), registry.AtomName("svc"), pid(goNode, 1), nil)
	own := actionsOf[registry.Broadcast](acts)[0].Payload
	if acts := r.HandleBroadcast(ms(1000), goNode, registry.RegistryReplica, own); acts != nil {
		t.Fatalf("own delivery: %v", acts)
	}
	// A previous incarnation's registration relayed by a peer, with a
	// clock ahead of ours.
	acts = r.HandleBroadcast(ms(1000), "e1@h", registry.RegistryReplica, remoteDelta("old", goNode, pid(goNode, 99), 9000, 4))
	if len(acts) != 0 || len(r.RemoteItems()) != 0 {
		t.Fatalf("stale own key merged: %v %v", acts, r.RemoteItems())
	}
	if l := r.Lookup(registry.AtomName("svc")); len(l) != 1 {
		t.Fatalf("lookup lists %d instances", len(l))
	}
	// The clock absorbed it, so a new write outranks the stale one.
	acts, _ = r.Register(ms(1001), registry.AtomName("old"), pid(goNode, 2), nil)
	d, _, _ := registry.DecodeDelta(actionsOf[registry.Broadcast](acts)[0].Payload)
	if got := d.Items[0].Entry.Dots[0].Time; got.Compare(ts{9000, 4}) <= 0 {
		t.Fatalf("new dot %v does not outrank the stale one", got)
	}
	if r.Stats().OwnKeysIgnored != 1 {
		t.Fatalf("stats %+v", r.Stats())
	}
}
