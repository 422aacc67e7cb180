package registry_test

import (
	"encoding/hex"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/registry"
)

var fuzzSeeds = []string{
	// Tombstone delta, FULL_SYNC, REQUEST_SYNC, ROUTE_REQUEST, ROUTE_REPLY of
	// membership-terms-otp25.txt, and the add delta of spec A.2.
	"836803770564656C7461770D676F31403132372E302E302E317400000001680277096D795F676F5F737663770D676F31403132372E302E302E3168027709746F6D6273746F6E656803770974696D657374616D706E060000A8DA769B016103",
	"83680277132462617272656C5F7032705F7265706C6963616803770966756C6C5F73796E63770D676F31403132372E302E302E317400000001680277096D795F676F5F737663770D676F31403132372E302E302E316803770576616C75656805770D736572766963655F656E74727977096D795F676F5F73766358770D676F31403132372E302E302E31000000010000000000000001770D676F31403132372E302E302E31740000000074000000016802770D676F31403132372E302E302E316803770974696D657374616D706E060000A8DA769B016103770474727565",
	"83680277132462617272656C5F7032705F7265706C6963616802770C726571756573745F73796E63770C6531403132372E302E302E31",
	"83680277112462617272656C5F7032705F726F7574656803770D726F7574655F7265717565737468057709726F7574655F72657177096D795F676F5F7376636104770C6531403132372E302E302E316C00000002770C6531403132372E302E302E31770C6531403132372E302E302E316A680258770C6531403132372E302E302E310000004D00000000000000055A0003770C6531403132372E302E302E3100000005000000010000000200000003",
	"8368025A0003770C6531403132372E302E302E310000000500000001000000020000000368037705666F756E64770D676F31403132372E302E302E3158770D676F31403132372E302E302E31000000010000000000000001",
	"8368037705" + "64656C7461770D676F31403132372E302E302E317400000001680277096D795F676F5F737663770D676F31403132372E302E302E316803770576616C75656805770D736572766963655F656E74727977096D795F676F5F73766358770D676F31403132372E302E302E31000000010000000000000001770D676F31403132372E302E302E31740000000074000000016802770D676F31403132372E302E302E316803770974696D657374616D706E060000A8DA769B016100770474727565",
}

func addSeeds(f *testing.F) {
	for _, s := range fuzzSeeds {
		b, err := hex.DecodeString(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzDecodeDelta: no panic; accepted items re-encode and decode to the
// same items.
func FuzzDecodeDelta(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		term, err := etf.Decode(data)
		if err != nil {
			return
		}
		for _, decode := range []func(etf.Term) ([]registry.Item, error){
			func(t etf.Term) ([]registry.Item, error) { d, _, err := registry.DecodeDelta(t); return d.Items, err },
			func(t etf.Term) ([]registry.Item, error) { items, _, err := registry.DecodeItems(t); return items, err },
		} {
			items, err := decode(term)
			if err != nil {
				continue
			}
			again, rej, err := registry.DecodeItems(roundTrip(t, registry.EncodeItems(items)))
			if err != nil || len(rej) != 0 || len(again) != len(items) {
				t.Fatalf("accepted items do not survive re-encoding: %v %v", rej, err)
			}
			for i := range items {
				if items[i].Key != again[i].Key || !etf.Equal(items[i].Entry.Term(), again[i].Entry.Term()) {
					t.Fatalf("item %d changed", i)
				}
			}
		}
		if d, _, err := registry.DecodeRawDelta(term, nil); err == nil {
			if _, err := etf.Encode(d.Term()); err != nil {
				t.Fatalf("raw delta does not encode: %v", err)
			}
		}
	})
}

// FuzzMessages: the replica and route decoders round-trip what they accept.
func FuzzMessages(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		term, err := etf.Decode(data)
		if err != nil {
			return
		}
		if m, err := registry.DecodeReplicaEnvelope(term); err == nil {
			if !etf.Equal(registry.ReplicaEnvelope(m), term) {
				t.Fatalf("replica message changed: %s", etf.Format(term))
			}
		}
		if m, err := registry.DecodeRouteRequest(term); err == nil {
			if !etf.Equal(m.Envelope(), term) {
				t.Fatalf("route request changed: %s", etf.Format(term))
			}
		}
		if m, err := registry.DecodeRouteReply(term); err == nil {
			if !etf.Equal(m.Term(), term) {
				t.Fatalf("route reply changed: %s", etf.Format(term))
			}
		}
	})
}

// FuzzRegistryInputs feeds any term to every input of a Registry that has
// state; nothing may panic and every produced message must encode.
func FuzzRegistryInputs(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		term, err := etf.Decode(data)
		if err != nil {
			return
		}
		r := registry.New(registry.Config{Self: "go1@127.0.0.1", RouterPid: pid("go1@127.0.0.1", 5)})
		r.Register(t0, registry.AtomName("my_go_svc"), pid("go1@127.0.0.1", 1), nil)
		var acts []registry.Action
		acts = append(acts, r.HandleBroadcast(t0, "e1@h", registry.RegistryReplica, term)...)
		acts = append(acts, r.HandleReplica(t0, registry.RegistryReplica, term)...)
		acts = append(acts, r.HandleRouteRequest(t0, term, []etf.Atom{"a@h", "b@h"})...)
		acts = append(acts, r.HandleRouteReply(t0, term)...)
		acts = append(acts, r.PeerUp(t0, "z@h")...)
		for _, a := range acts {
			var out etf.Term
			switch a := a.(type) {
			case registry.SendReplica:
				out = registry.ReplicaEnvelope(a.Msg)
			case registry.SendRoute:
				out = a.Msg.Envelope()
			case registry.ReplyRoute:
				out = a.Msg.Term()
			case registry.Broadcast:
				out = a.Payload
			default:
				continue
			}
			if _, err := etf.Encode(out); err != nil {
				t.Fatalf("unencodable output %T: %v", a, err)
			}
		}
		r.Services()
		r.ListServices()
	})
}
