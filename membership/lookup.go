package membership

import (
	"github.com/barrelgo/barrelgo/etf"
)

// Lookup returns every live instance of name, this node's first
// (barrel_p2p:lookup/1); none is barrel_p2p's {error, not_found}.
func (m *Membership) Lookup(name etf.Term) ([]Service, error) {
	sn, err := serviceName(name)
	if err != nil {
		return nil, err
	}
	var out []Service
	if !m.do(func() {
		for _, s := range m.bc.reg.Lookup(sn) {
			out = append(out, Service{Name: s.Name.Term(), Node: s.Node, Pid: s.Pid, Meta: s.Meta})
		}
	}) {
		return nil, ErrStopped
	}
	return out, nil
}

// ListServices returns the names with a live instance, sorted in Erlang
// term order (barrel_p2p:list_services/0).
func (m *Membership) ListServices() []etf.Term {
	var out []etf.Term
	m.do(func() {
		for _, n := range m.bc.reg.ListServices() {
			out = append(out, n.Term())
		}
	})
	return out
}
