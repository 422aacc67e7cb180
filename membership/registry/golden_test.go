package registry_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/internal/vectortest"
	"github.com/barrelgo/barrelgo/membership/registry"
)

var vectorsDir = filepath.Join("..", "..", "..", "shared", "vectors")

type recorded struct {
	Category string `json:"category"`
	Process  string `json:"process"`
	To       string `json:"to"`
	Print    string `json:"print"`
	Hex      string `json:"msg_etf_hex"`
	sent     bool
}

// instance returns the registered name the message was addressed to.
func (r recorded) instance() etf.Atom {
	if !r.sent {
		return etf.Atom(r.Process)
	}
	name, _, _ := strings.Cut(strings.TrimPrefix(r.To, "{"), ",")
	return etf.Atom(name)
}

func loadSequence(t *testing.T) []recorded {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir, "membership_sequence.json"))
	if os.IsNotExist(err) {
		t.Skip("shared vectors not present: ", vectorsDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	var seq struct {
		Received []recorded `json:"received"`
		Sent     []recorded `json:"sent"`
	}
	if err := json.Unmarshal(b, &seq); err != nil {
		t.Fatal(err)
	}
	for i := range seq.Sent {
		seq.Sent[i].sent = true
	}
	return append(seq.Received, seq.Sent...)
}

func decodeHex(t *testing.T, s string) ([]byte, etf.Term) {
	t.Helper()
	raw, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	term, err := etf.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return raw, term
}

func mustEncode(t *testing.T, term etf.Term) []byte {
	t.Helper()
	b, err := etf.Encode(term)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoldenReplicaMessages: every recorded {'$barrel_p2p_replica', _}
// decodes into FullSync/RequestSync and re-encodes to the same bytes.
func TestGoldenReplicaMessages(t *testing.T) {
	n := map[string]int{}
	for i, r := range loadSequence(t) {
		if r.Category != "replica" {
			continue
		}
		raw, term := decodeHex(t, r.Hex)
		m, err := registry.DecodeReplicaEnvelope(term)
		if err != nil {
			t.Fatalf("#%d %s: %v", i, r.Print, err)
		}
		switch m.(type) {
		case registry.FullSync:
			n["full_sync"]++
		case registry.RequestSync:
			n["request_sync"]++
		}
		back := registry.ReplicaEnvelope(m)
		if !etf.Equal(back, term) || !bytes.Equal(mustEncode(t, back), raw) {
			t.Fatalf("#%d: %s re-encoded as %s", i, r.Print, etf.Format(back))
		}
		// These went to members/reminder instances: a Go registry accepts
		// and drops them.
		inst := r.instance()
		if inst != registry.MembersReplica && inst != registry.ReminderReplica || !registry.IsReplicaInstance(inst) {
			t.Fatalf("#%d: sent to %q", i, inst)
		}
		reg := registry.New(registry.Config{Self: "go@h"})
		if acts := reg.HandleReplica(t0, inst, term); acts != nil {
			t.Fatalf("#%d: other instance input produced %v", i, acts)
		}
	}
	t.Logf("recorded replica messages: %v", n)
	if n["full_sync"] == 0 || n["request_sync"] == 0 {
		t.Fatalf("expected both replica messages in the recording, got %v", n)
	}
}

// TestGoldenDeltas decodes the payload of every recorded Plumtree gossip:
// registry deltas into the typed Delta (the vec_golden_svc registration
// must round-trip byte for byte), members heartbeats into RawDelta.
func TestGoldenDeltas(t *testing.T) {
	var registryDeltas, heartbeats int
	for i, r := range loadSequence(t) {
		if r.Category != "plumtree" || !strings.Contains(r.Print, "{gossip,") {
			continue
		}
		_, term := decodeHex(t, r.Hex)
		g := term.(etf.Tuple)[1].(etf.Tuple)
		tag, payload := g[2], g[3]
		payloadRaw := mustEncode(t, payload)
		switch tag {
		case registry.RegistryReplica:
			d, rej, err := registry.DecodeDelta(payload)
			if err != nil || len(rej) != 0 {
				t.Fatalf("#%d: %v %v", i, err, rej)
			}
			if !bytes.Equal(mustEncode(t, d.Term()), payloadRaw) {
				t.Fatalf("#%d: delta re-encoded as %s", i, etf.Format(d.Term()))
			}
			if len(d.Items) != 1 {
				t.Fatalf("#%d: %d items", i, len(d.Items))
			}
			it := d.Items[0]
			want := registry.Key{Name: registry.AtomName("vec_golden_svc"), Node: "v2@127.0.0.1"}
			if it.Key != want || it.Entry.Tombstone || it.Entry.Service.Node != "v2@127.0.0.1" ||
				it.Entry.Service.Pid.Node != "v2@127.0.0.1" || len(it.Entry.Dots) != 1 ||
				it.Entry.Dots[0] != (registry.Dot{Node: "v2@127.0.0.1", Time: registry.Timestamp{WallMs: 1795696812646, Logical: 1}}) {
				t.Fatalf("#%d: decoded %+v", i, it)
			}
			if v, ok := it.Entry.Service.Meta.Get(etf.Atom("role")); !ok || string(v.([]byte)) != "golden" {
				t.Fatalf("#%d: meta %s", i, etf.Format(it.Entry.Service.Meta))
			}
			// A Go registry merges it and can then find the service.
			reg := registry.New(registry.Config{Self: "go@h"})
			reg.HandleBroadcast(t0, "v1@127.0.0.1", tag, payload)
			loc, ok := reg.Whereis(registry.AtomName("vec_golden_svc"))
			if !ok || loc.Local || loc.Node != "v2@127.0.0.1" || loc.Pid != it.Entry.Service.Pid {
				t.Fatalf("#%d: whereis = %+v %v", i, loc, ok)
			}
			registryDeltas++
		case registry.MembersReplica:
			d, rej, err := registry.DecodeRawDelta(payload, nil)
			if err != nil || len(rej) != 0 {
				t.Fatalf("#%d: %v %v", i, err, rej)
			}
			if !bytes.Equal(mustEncode(t, d.Term()), payloadRaw) {
				t.Fatalf("#%d: heartbeat re-encoded as %s", i, etf.Format(d.Term()))
			}
			heartbeats++
		default:
			t.Fatalf("#%d: unexpected tag %s", i, etf.Format(tag))
		}
	}
	t.Logf("registry deltas: %d, members heartbeats: %d", registryDeltas, heartbeats)
	if registryDeltas == 0 || heartbeats == 0 {
		t.Fatal("recording lacks registry deltas or heartbeats")
	}
}

// TestGoldenOTP25 builds the Appendix A terms from Go values and checks
// the exact bytes, then decodes them back.
func TestGoldenOTP25(t *testing.T) {
	vec := vectortest.MembershipTerms(t, vectorsDir)
	const goNode = etf.Atom("go1@127.0.0.1")
	ts := func(l int64) registry.Timestamp { return registry.Timestamp{WallMs: 1767225600000, Logical: l} }
	key := registry.Key{Name: registry.AtomName("my_go_svc"), Node: goNode}
	goPid := etf.Pid{Node: goNode, ID: 1, Serial: 0, Creation: 1}
	value := func(l int64) registry.Entry {
		return registry.Entry{
			Service: registry.ServiceEntry{Name: key.Name, Pid: goPid, Node: goNode, Meta: etf.Map{}},
			Dots:    []registry.Dot{{Node: goNode, Time: ts(l)}},
		}
	}

	check := func(label string, term etf.Term) {
		t.Helper()
		raw, ok := vec[label]
		if !ok {
			t.Fatalf("vector %q missing", label)
		}
		if got := mustEncode(t, term); !bytes.Equal(got, raw) {
			t.Errorf("%s:\n got %X\nwant %X", label, got, raw)
		}
	}

	tomb := registry.Delta{Origin: goNode, Items: []registry.Item{{Key: key, Entry: registry.Entry{Tombstone: true, Time: ts(3)}}}}
	check("TOMBSTONE delta payload", tomb.Term())
	d, rej, err := registry.DecodeDelta(mustDecode(t, vec["TOMBSTONE delta payload"]))
	if err != nil || len(rej) != 0 || len(d.Items) != 1 || d.Items[0].Key != key || !d.Items[0].Entry.Tombstone || d.Items[0].Entry.Time != ts(3) {
		t.Fatalf("tombstone decoded as %+v %v %v", d, rej, err)
	}

	fs := registry.FullSync{From: goNode, Snapshot: registry.EncodeItems([]registry.Item{{Key: key, Entry: value(3)}})}
	check("FULL_SYNC", registry.ReplicaEnvelope(fs))
	m, err := registry.DecodeReplicaEnvelope(mustDecode(t, vec["FULL_SYNC"]))
	if err != nil {
		t.Fatal(err)
	}
	items, rej, err := registry.DecodeItems(m.(registry.FullSync).Snapshot)
	if err != nil || len(rej) != 0 || len(items) != 1 || items[0].Key != key || items[0].Entry.Service.Pid != goPid {
		t.Fatalf("full_sync decoded as %+v %v %v", items, rej, err)
	}

	check("REQUEST_SYNC", registry.ReplicaEnvelope(registry.RequestSync{From: "e1@127.0.0.1"}))

	// The GOSSIP of A.2 carries an add delta at logical 0.
	g := mustDecode(t, vec["GOSSIP registry delta"]).(etf.Tuple)[1].(etf.Tuple)
	add := registry.Delta{Origin: goNode, Items: []registry.Item{{Key: key, Entry: value(0)}}}
	if !bytes.Equal(mustEncode(t, g[3]), mustEncode(t, add.Term())) {
		t.Errorf("A.2 payload differs from the Go delta")
	}

	e1 := etf.Atom("e1@127.0.0.1")
	ref := etf.Ref{Node: e1, Creation: 5, Len: 3, ID: [5]uint32{1, 2, 3}}
	req := registry.RouteRequest{
		Req:    registry.RouteReq{Service: key.Name, TTL: 4, Origin: e1, Visited: []etf.Atom{e1, e1}},
		Caller: etf.Pid{Node: e1, ID: 77, Serial: 0, Creation: 5},
		Ref:    ref,
	}
	check("ROUTE_REQUEST", req.Envelope())
	gotReq, err := registry.DecodeRouteRequest(mustDecode(t, vec["ROUTE_REQUEST"]))
	if err != nil || !etf.Equal(gotReq.Envelope(), req.Envelope()) {
		t.Fatalf("route request decoded as %+v %v", gotReq, err)
	}
	reply := registry.RouteReply{Ref: ref, Result: registry.RouteResult{Found: true, Node: goNode, Pid: goPid}}
	check("ROUTE_REPLY", reply.Term())
	gotReply, err := registry.DecodeRouteReply(mustDecode(t, vec["ROUTE_REPLY"]))
	if err != nil || gotReply.Result != reply.Result || gotReply.Ref != etf.Term(ref) {
		t.Fatalf("route reply decoded as %+v %v", gotReply, err)
	}

	// A Go node serving that request answers {found, GoNode, Pid}.
	reg := registry.New(registry.Config{Self: goNode})
	if _, err := reg.Register(t0, key.Name, goPid, nil); err != nil {
		t.Fatal(err)
	}
	acts := reg.HandleRouteRequest(t0, mustDecode(t, vec["ROUTE_REQUEST"]), nil)
	if len(acts) != 1 {
		t.Fatalf("route request produced %v", acts)
	}
	rr := acts[0].(registry.ReplyRoute)
	if rr.To != req.Caller || !bytes.Equal(mustEncode(t, rr.Msg.Term()), vec["ROUTE_REPLY"]) {
		t.Fatalf("reply %+v", rr)
	}
}

func mustDecode(t *testing.T, b []byte) etf.Term {
	t.Helper()
	term, err := etf.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return term
}
