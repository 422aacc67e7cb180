package hyparview

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
)

// randomDriver feeds a State arbitrary (but well-typed) inputs, in any order,
// as hostile or buggy peers and a misbehaving runtime could.
type randomDriver struct {
	r      *rand.Rand
	s      *State
	now    time.Time
	names  []etf.Atom
	timers []Timer
	view   eventView
}

func (d *randomDriver) node() etf.Atom { return d.names[d.r.IntN(len(d.names))] }

func (d *randomDriver) peer() Peer {
	p := selfOf(d.node())
	if d.r.IntN(4) == 0 {
		p.Connected, p.Priority = false, PriorityLow
		p.LastSeen, p.FailCount, p.BackoffUntil = Int(d.r.Int64()), d.r.Int64N(100), Int(d.r.Int64())
	}
	return p
}

func (d *randomDriver) peers() []Peer {
	ps := make([]Peer, d.r.IntN(12))
	for i := range ps {
		ps[i] = d.peer()
	}
	return ps
}

func (d *randomDriver) message() Message {
	sender := d.peer()
	switch d.r.IntN(7) {
	case 0:
		return &Join{Sender: sender}
	case 1:
		return &ForwardJoin{New: d.peer(), TTL: d.r.IntN(8), Sender: sender}
	case 2:
		return &Neighbor{Priority: Priority(d.r.IntN(2)), Sender: sender}
	case 3:
		return &NeighborReply{Accept: d.r.IntN(2) == 0, Sender: sender}
	case 4:
		return &Disconnect{Sender: sender}
	case 5:
		return &Shuffle{TTL: d.r.IntN(5), Peers: d.peers(), Sender: sender}
	default:
		return &ShuffleReply{Peers: d.peers(), Sender: sender}
	}
}

func (d *randomDriver) step() (string, []Action) {
	d.now = d.now.Add(time.Duration(d.r.IntN(3000)) * time.Millisecond)
	switch k := d.r.IntN(100); {
	case k < 50:
		m := d.message()
		return fmt.Sprintf("msg %T from %s", m, m.From().Node), d.s.HandleMessage(d.now, m)
	case k < 60:
		n := d.node()
		return "connect result " + string(n), d.s.ConnectResult(d.now, n, d.r.IntN(3) > 0)
	case k < 68:
		n := d.node()
		return "nodeup " + string(n), d.s.NodeUp(d.now, n)
	case k < 78:
		n := d.node()
		return "nodedown " + string(n), d.s.NodeDown(d.now, n)
	case k < 90:
		if len(d.timers) == 0 {
			return "no timer", nil
		}
		i := d.r.IntN(len(d.timers))
		tm := d.timers[i]
		d.timers = append(d.timers[:i], d.timers[i+1:]...)
		return "timer " + tm.Kind.String(), d.s.TimerFired(d.now, tm)
	case k < 94:
		n := d.node()
		acts, _ := d.s.Join(d.now, n)
		return "join " + string(n), acts
	case k < 96:
		return "block", d.s.Block(d.now, d.node(), d.node())
	case k < 98:
		return "unblock", d.s.Unblock(d.now)
	case k < 99:
		return "leave", d.s.Leave(d.now)
	default:
		return "shuffle", d.s.TriggerShuffle(d.now)
	}
}

// TestPropertyViewsBounded drives many random input sequences and checks after
// every input: both views within their caps, disjoint, without self, blocked
// or failed entries; every record put on the wire sanitised and sent as Self;
// and the peer_up/peer_down stream tracking the active view exactly.
func TestPropertyViewsBounded(t *testing.T) {
	seeds, steps := 300, 400
	if testing.Short() {
		seeds = 30
	}
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 99))
		cfg := DefaultConfig()
		cfg.ActiveSize = 1 + r.IntN(5)
		cfg.PassiveSize = r.IntN(8)
		cfg.MaxFailCount = 1 + r.IntN(5)
		cfg.PRWL = r.IntN(4)
		cfg.ShuffleLength = r.IntN(10)
		if r.IntN(2) == 0 {
			cfg.ContactNodes = []etf.Atom{"n0@h", "n1@h"}
		}
		s, err := New(selfOf(me), cfg, rand.New(rand.NewPCG(uint64(seed), 7)))
		if err != nil {
			t.Fatal(err)
		}
		d := &randomDriver{r: r, s: s, now: t0, view: eventView{}}
		for i := range 12 {
			d.names = append(d.names, etf.Atom(fmt.Sprintf("n%d@h", i)))
		}
		d.names = append(d.names, me)
		acts, last := s.Start(t0), "start"
		for i := range steps {
			for _, a := range acts {
				if st, ok := a.(SetTimer); ok {
					d.timers = append(d.timers, st.Timer)
				}
			}
			for _, check := range []func() error{
				func() error { return checkInvariants(s) },
				func() error { return checkEmitted(s, acts) },
				func() error { return d.view.apply(acts) },
				func() error { return d.view.matches(s) },
			} {
				if err := check(); err != nil {
					t.Fatalf("seed %d step %d (%s): %v", seed, i, last, err)
				}
			}
			last, acts = d.step()
		}
	}
}
