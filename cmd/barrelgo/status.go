package main

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/protodist/auth"
	dto "github.com/prometheus/client_model/go"
)

// nodeStatus is what barrelgo:status/0 returns and /healthz shows. The
// CLI decodes it back from the term.
type nodeStatus struct {
	Node        string          `json:"node"`
	Proto       string          `json:"proto"`
	Creation    uint32          `json:"creation"`
	UptimeMS    int64           `json:"uptime_ms"`
	Connected   []string        `json:"connected"`
	Hidden      []string        `json:"hidden"`
	Membership  bool            `json:"membership"`
	ActiveView  []string        `json:"active_view"`
	PassiveView []string        `json:"passive_view"`
	Services    []serviceStatus `json:"services"`
	Auth        authStatus      `json:"auth"`
	DistGC      gcStatus        `json:"dist_gc"`
	Messages    messageStatus   `json:"messages"`
}

// messageStatus counts distribution messages over every connection the
// node has had (node.Stats).
type messageStatus struct {
	In  int64 `json:"in"`
	Out int64 `json:"out"`
}

type serviceStatus struct {
	Name string `json:"name"` // in Erlang syntax: an atom or a binary
	Node string `json:"node"`
	Pid  string `json:"pid"`
	// The terms themselves, for Erlang callers.
	name etf.Term
	pid  etf.Pid
}

type authStatus struct {
	Enabled     bool           `json:"enabled"`
	TrustMode   string         `json:"trust_mode,omitempty"`
	Fingerprint string         `json:"fingerprint,omitempty"`
	Attempts    []authAttempts `json:"attempts"`
}

type authAttempts struct {
	Role    string `json:"role"`
	Outcome string `json:"outcome"`
	Count   int64  `json:"count"`
}

type gcStatus struct {
	Enabled       bool  `json:"enabled"`
	Reaps         int64 `json:"reaps"`
	SweepPeriodMS int64 `json:"sweep_period_ms"`
	MinAgeMS      int64 `json:"min_age_ms"`
}

// status snapshots the node.
func (r *runtime) status() nodeStatus {
	s := nodeStatus{
		Node:      string(r.n.Name()),
		Proto:     r.cfg.Proto,
		Creation:  r.n.Creation(),
		UptimeMS:  time.Since(r.started).Milliseconds(),
		Connected: []string{}, Hidden: []string{}, ActiveView: []string{}, PassiveView: []string{},
		Services: []serviceStatus{},
		Auth:     authStatus{Attempts: []authAttempts{}},
	}
	st := r.n.Stats()
	s.Messages = messageStatus{In: int64(st.MessagesIn), Out: int64(st.MessagesOut)}
	for _, p := range r.n.Peers() {
		if p.Hidden {
			s.Hidden = append(s.Hidden, string(p.Name))
		} else {
			s.Connected = append(s.Connected, string(p.Name))
		}
	}
	if r.m != nil {
		s.Membership = true
		s.ActiveView = atomStrings(r.m.ActiveView())
		s.PassiveView = atomStrings(r.m.PassiveView())
		for _, svc := range r.m.Services() {
			s.Services = append(s.Services, serviceStatus{Name: etf.Format(svc.Name), Node: string(svc.Node), Pid: etf.Format(svc.Pid),
				name: svc.Name, pid: svc.Pid})
		}
	}
	if r.m != nil {
		s.DistGC = gcStatus{Enabled: true, Reaps: r.counterSum(metricReap),
			SweepPeriodMS: r.cfg.QUIC.DistGCSweepPeriod.Milliseconds(), MinAgeMS: r.cfg.QUIC.DistGCMinAge.Milliseconds()}
	}
	if r.quic != nil && r.cfg.QUIC.AuthEnabled {
		s.Auth.Enabled = true
		s.Auth.TrustMode = r.cfg.QUIC.AuthTrustMode.String()
		if k, err := auth.LoadKeyPair(r.cfg.QUIC.AuthKeyDir); err == nil {
			s.Auth.Fingerprint = auth.FingerprintHex(k.Public)
		}
		s.Auth.Attempts = r.authAttempts()
	}
	return s
}

// metricReap is barrel_p2p.dist_gc.reap, which membership counts.
const metricReap = "barrel_p2p_dist_gc_reap_total"

// family reads one metric family back from the node's registry, where
// the authenticator and membership record.
func (r *runtime) family(name string) []*dto.Metric {
	fams, _ := r.reg.Gather()
	for _, f := range fams {
		if f.GetName() == name {
			return f.GetMetric()
		}
	}
	return nil
}

// counterSum adds up a counter over all its labels.
func (r *runtime) counterSum(name string) int64 {
	var sum float64
	for _, m := range r.family(name) {
		sum += m.GetCounter().GetValue()
	}
	return int64(sum)
}

// authAttempts reads barrel_p2p_dist_auth_attempts_total by role and
// outcome.
func (r *runtime) authAttempts() []authAttempts {
	out := []authAttempts{}
	for _, m := range r.family(auth.MetricAttempts) {
		a := authAttempts{Count: int64(m.GetCounter().GetValue())}
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "role":
				a.Role = l.GetValue()
			case "outcome":
				a.Outcome = l.GetValue()
			}
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b authAttempts) int {
		return cmp.Or(cmp.Compare(a.Role, b.Role), cmp.Compare(a.Outcome, b.Outcome))
	})
	return out
}

// health is /healthz: the status while the node runs.
func (r *runtime) health() any { return r.status() }

func atomStrings(l []etf.Atom) []string {
	out := make([]string, 0, len(l))
	for _, a := range l {
		out = append(out, string(a))
	}
	slices.Sort(out)
	return out
}

// term is the status as barrelgo:status/0 returns it: a map with atom
// keys, node names as atoms.
func (s nodeStatus) term() etf.Map {
	atoms := func(l []string) etf.List {
		out := etf.List{}
		for _, a := range l {
			out = append(out, etf.Atom(a))
		}
		return out
	}
	svcs := etf.List{}
	for _, v := range s.Services {
		svcs = append(svcs, etf.Map{
			{Key: etf.Atom("name"), Value: v.name},
			{Key: etf.Atom("node"), Value: etf.Atom(v.Node)},
			{Key: etf.Atom("pid"), Value: v.pid},
		})
	}
	attempts := etf.List{}
	for _, a := range s.Auth.Attempts {
		attempts = append(attempts, etf.Tuple{etf.Atom(a.Role), etf.Atom(a.Outcome), a.Count})
	}
	return etf.Map{
		{Key: etf.Atom("node"), Value: etf.Atom(s.Node)},
		{Key: etf.Atom("proto"), Value: etf.Atom(s.Proto)},
		{Key: etf.Atom("creation"), Value: int64(s.Creation)},
		{Key: etf.Atom("uptime_ms"), Value: s.UptimeMS},
		{Key: etf.Atom("connected"), Value: atoms(s.Connected)},
		{Key: etf.Atom("hidden"), Value: atoms(s.Hidden)},
		{Key: etf.Atom("membership"), Value: boolAtom(s.Membership)},
		{Key: etf.Atom("active_view"), Value: atoms(s.ActiveView)},
		{Key: etf.Atom("passive_view"), Value: atoms(s.PassiveView)},
		{Key: etf.Atom("services"), Value: svcs},
		{Key: etf.Atom("auth"), Value: etf.Map{
			{Key: etf.Atom("enabled"), Value: boolAtom(s.Auth.Enabled)},
			{Key: etf.Atom("trust_mode"), Value: etf.Atom(cmp.Or(s.Auth.TrustMode, "undefined"))},
			{Key: etf.Atom("fingerprint"), Value: []byte(s.Auth.Fingerprint)},
			{Key: etf.Atom("attempts"), Value: attempts},
		}},
		{Key: etf.Atom("dist_gc"), Value: etf.Map{
			{Key: etf.Atom("enabled"), Value: boolAtom(s.DistGC.Enabled)},
			{Key: etf.Atom("reaps"), Value: s.DistGC.Reaps},
			{Key: etf.Atom("sweep_period_ms"), Value: s.DistGC.SweepPeriodMS},
			{Key: etf.Atom("min_age_ms"), Value: s.DistGC.MinAgeMS},
		}},
		{Key: etf.Atom("messages"), Value: etf.Map{
			{Key: etf.Atom("in"), Value: s.Messages.In},
			{Key: etf.Atom("out"), Value: s.Messages.Out},
		}},
	}
}

func boolAtom(b bool) etf.Atom {
	if b {
		return etf.AtomTrue
	}
	return etf.AtomFalse
}

// decodeStatus reads barrelgo:status/0's answer; missing keys stay zero
// so an older or newer node still prints.
func decodeStatus(t etf.Term) (nodeStatus, error) {
	m, ok := t.(etf.Map)
	if !ok {
		return nodeStatus{}, fmt.Errorf("barrelgo:status/0 returned %s, not a map", etf.Format(t))
	}
	var s nodeStatus
	s.Node = str(get(m, "node"))
	s.Proto = str(get(m, "proto"))
	s.Creation = uint32(num(get(m, "creation")))
	s.UptimeMS = num(get(m, "uptime_ms"))
	s.Connected = strs(get(m, "connected"))
	s.Hidden = strs(get(m, "hidden"))
	s.Membership = get(m, "membership") == etf.AtomTrue
	s.ActiveView = strs(get(m, "active_view"))
	s.PassiveView = strs(get(m, "passive_view"))
	for _, v := range list(get(m, "services")) {
		if sm, ok := v.(etf.Map); ok {
			s.Services = append(s.Services, serviceStatus{Name: etf.Format(get(sm, "name")), Node: str(get(sm, "node")), Pid: etf.Format(get(sm, "pid"))})
		}
	}
	if am, ok := get(m, "auth").(etf.Map); ok {
		s.Auth.Enabled = get(am, "enabled") == etf.AtomTrue
		if tm := str(get(am, "trust_mode")); tm != "undefined" {
			s.Auth.TrustMode = tm
		}
		s.Auth.Fingerprint = str(get(am, "fingerprint"))
		for _, v := range list(get(am, "attempts")) {
			if t, ok := v.(etf.Tuple); ok && len(t) == 3 {
				s.Auth.Attempts = append(s.Auth.Attempts, authAttempts{Role: str(t[0]), Outcome: str(t[1]), Count: num(t[2])})
			}
		}
	}
	if gm, ok := get(m, "dist_gc").(etf.Map); ok {
		s.DistGC = gcStatus{Enabled: get(gm, "enabled") == etf.AtomTrue, Reaps: num(get(gm, "reaps")),
			SweepPeriodMS: num(get(gm, "sweep_period_ms")), MinAgeMS: num(get(gm, "min_age_ms"))}
	}
	if mm, ok := get(m, "messages").(etf.Map); ok {
		s.Messages = messageStatus{In: num(get(mm, "in")), Out: num(get(mm, "out"))}
	}
	if s.Node == "" {
		return s, errors.New("barrelgo:status/0 returned a map without node")
	}
	return s, nil
}

func get(m etf.Map, key string) etf.Term {
	v, _ := m.Get(etf.Atom(key))
	return v
}

// str renders a term as text: atoms and binaries as themselves, anything
// else in Erlang syntax.
func str(t etf.Term) string {
	switch v := t.(type) {
	case nil:
		return ""
	case etf.Atom:
		return string(v)
	case []byte:
		return string(v)
	case string:
		return v
	case etf.CharList:
		return string(v)
	}
	return etf.Format(t)
}

func num(t etf.Term) int64 {
	n, _ := t.(int64)
	return n
}

func list(t etf.Term) etf.List {
	switch v := t.(type) {
	case etf.List:
		return v
	case etf.ByteList:
		out := make(etf.List, len(v))
		for i, b := range v {
			out[i] = int64(b)
		}
		return out
	}
	return nil
}

func strs(t etf.Term) []string {
	var out []string
	for _, v := range list(t) {
		out = append(out, str(v))
	}
	return out
}

// joinOrNone lists names, or "-" for none.
func joinOrNone(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ", ")
}
