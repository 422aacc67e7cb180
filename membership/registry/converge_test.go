package registry_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/registry"
)

type delivery struct {
	to      etf.Atom
	from    etf.Atom
	payload etf.Term
}

// visible is what a key looks like from outside: live value (service and
// winning dot) or tombstone.
func visible(e registry.Entry) string {
	if e.Tombstone {
		return "tombstone " + e.Time.String()
	}
	d := e.MaxDot()
	return fmt.Sprintf("%s by %s@%s", etf.Format(e.Service.Term()), d.Node, d.Time)
}

// TestConvergence runs random registrations, unregistrations and process
// deaths on several nodes with skewed physical clocks, delivers the deltas
// to every other node in random order with duplicates (and some full
// syncs), and checks that every node ends with the same view of every key,
// equal to the owner's.
func TestConvergence(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { convergeOnce(t, seed) })
	}
}

func convergeOnce(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	const n = 6
	var names []etf.Atom
	nodes := map[etf.Atom]*registry.Registry{}
	skew := map[etf.Atom]time.Duration{}
	for i := range n {
		name := etf.Atom(fmt.Sprintf("n%d@h", i))
		names = append(names, name)
		nodes[name] = registry.New(registry.Config{Self: name})
		skew[name] = time.Duration(rng.IntN(2000)-1000) * time.Millisecond
	}
	services := []registry.Name{registry.AtomName("a"), registry.AtomName("b"), registry.BinaryName("a")}
	now := time.UnixMilli(1767225600000)
	var pending []delivery
	enqueue := func(from etf.Atom, acts []registry.Action) {
		for _, a := range acts {
			if b, ok := a.(registry.Broadcast); ok {
				for _, to := range names {
					if to != from {
						pending = append(pending, delivery{to: to, from: from, payload: b.Payload})
					}
				}
			}
		}
	}
	deliver := func(i int) {
		d := pending[i]
		acts := nodes[d.to].HandleBroadcast(now.Add(skew[d.to]), d.from, registry.RegistryReplica, d.payload)
		for _, a := range acts {
			if r, ok := a.(registry.Rejected); ok {
				t.Fatalf("rejected own delta: %v", r.Err)
			}
		}
		if rng.IntN(10) != 0 { // 10% stay for a duplicate delivery later
			pending = append(pending[:i], pending[i+1:]...)
		}
	}
	pidSeq := uint32(0)
	for range 300 {
		now = now.Add(time.Duration(rng.IntN(3)) * time.Millisecond) // same-ms events are common
		node := names[rng.IntN(n)]
		r := nodes[node]
		at := now.Add(skew[node])
		svc := services[rng.IntN(len(services))]
		switch op := rng.IntN(10); {
		case op < 4:
			pidSeq++
			acts, err := r.Register(at, svc, pid(node, pidSeq), etf.Map{{Key: etf.Atom("v"), Value: int64(pidSeq)}})
			if err == nil {
				enqueue(node, acts)
			}
		case op < 6:
			enqueue(node, r.Unregister(at, svc))
		case op < 7:
			if p, ok := r.LookupLocal(svc); ok {
				enqueue(node, r.ServiceDown(at, p, etf.Atom("killed")))
			}
		case op < 8:
			// A full sync from a random peer, as after a peer_up.
			other := names[rng.IntN(n)]
			if other != node {
				for _, a := range nodes[other].HandleReplica(now, registry.RegistryReplica,
					registry.ReplicaEnvelope(registry.RequestSync{From: node})) {
					sr := a.(registry.SendReplica)
					nodes[sr.To].HandleReplica(at, registry.RegistryReplica, registry.ReplicaEnvelope(sr.Msg))
				}
			}
		default:
			for k := 0; k < 5 && len(pending) > 0; k++ {
				deliver(rng.IntN(len(pending)))
			}
		}
	}
	for len(pending) > 0 {
		deliver(rng.IntN(len(pending)))
	}

	for _, owner := range names {
		want := map[registry.Key]string{}
		for _, it := range nodes[owner].LocalItems() {
			want[it.Key] = visible(it.Entry)
		}
		for _, other := range names {
			if other == owner {
				continue
			}
			got := map[registry.Key]string{}
			for _, it := range nodes[other].RemoteItems() {
				if it.Key.Node == owner {
					got[it.Key] = visible(it.Entry)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%s knows %d keys of %s, owner has %d", other, len(got), owner, len(want))
			}
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("%s sees %v of %s as %q, owner has %q", other, k, owner, got[k], v)
				}
			}
		}
	}
}

// TestConcurrentWritersSameKey: two incarnations of one node (a restart
// racing its old registration, with skewed clocks) write the same key;
// every receiver, whatever the delivery order, keeps the write with the
// greater HLC, and the node atom breaks an exact tie.
func TestConcurrentWritersSameKey(t *testing.T) {
	name := registry.AtomName("svc")
	old := registry.New(registry.Config{Self: "w@h"})
	fresh := registry.New(registry.Config{Self: "w@h"})
	oldActs, _ := old.Register(time.UnixMilli(2000), name, pid("w@h", 1), nil)
	freshActs, _ := fresh.Register(time.UnixMilli(1500), name, pid("w@h", 2), nil)
	payloads := []etf.Term{
		actionsOf[registry.Broadcast](oldActs)[0].Payload,
		actionsOf[registry.Broadcast](freshActs)[0].Payload,
	}
	for _, order := range [][]int{{0, 1}, {1, 0}, {1, 0, 1}, {0, 0, 1, 1}} {
		r := registry.New(registry.Config{Self: "x@h"})
		for _, i := range order {
			r.HandleBroadcast(time.UnixMilli(0), "w@h", registry.RegistryReplica, payloads[i])
		}
		loc, ok := r.Whereis(name)
		if !ok || loc.Pid != pid("w@h", 1) {
			t.Fatalf("order %v: winner %+v, want the later HLC (pid 1)", order, loc)
		}
	}
	// Exact HLC tie between two different nodes' dots for one key: the
	// greater node atom wins on every replica.
	mk := func(node etf.Atom, id uint32) etf.Term {
		return etf.Tuple{etf.Atom("delta"), node, etf.Map{{
			Key: etf.Tuple{etf.Atom("svc"), etf.Atom("w@h")},
			Value: etf.Tuple{etf.Atom("value"),
				etf.Tuple{etf.Atom("service_entry"), etf.Atom("svc"), pid("w@h", id), etf.Atom("w@h"), etf.Map{}},
				etf.Map{{Key: etf.Tuple{node, etf.Tuple{etf.Atom("timestamp"), int64(100), int64(0)}}, Value: etf.AtomTrue}}},
		}}}
	}
	for _, order := range [][]etf.Term{{mk("B@h", 1), mk("a@h", 2)}, {mk("a@h", 2), mk("B@h", 1)}} {
		r := registry.New(registry.Config{Self: "x@h"})
		for _, p := range order {
			r.HandleBroadcast(time.UnixMilli(0), "w@h", registry.RegistryReplica, p)
		}
		if loc, _ := r.Whereis(name); loc.Pid != pid("w@h", 2) {
			t.Fatalf("tie: winner %+v, want the dot of 'a@h' (> 'B@h')", loc)
		}
	}
}
