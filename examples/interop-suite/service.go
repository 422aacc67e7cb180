// Package interopsuite is an example of an interop test suite for your own
// services: its tests start (or reach) a real Erlang node, load Erlang code
// into it, and check a Go service from Erlang and an Erlang service from
// Go. Copy it next to your code and replace the two services.
package interopsuite

import (
	"context"
	"errors"
	"sync"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/node"
)

// snippet:service

// StartCounter starts the Go service under test on n: a gen_server named
// counter ({add, N} -> Total, total -> Total, reset cast) and the function
// counter:total/0 for rpc:call and erpc:call.
func StartCounter(n *node.Node) (*node.Process, error) {
	var mu sync.Mutex
	var total int64
	n.RegisterFunc("counter", "total", func(context.Context, []etf.Term) (etf.Term, error) {
		mu.Lock()
		defer mu.Unlock()
		return total, nil
	})
	return n.StartServer("counter", node.ServerFuncs{
		Call: func(_ context.Context, _ node.From, req etf.Term) (etf.Term, error) {
			mu.Lock()
			defer mu.Unlock()
			switch r := req.(type) {
			case etf.Tuple:
				if len(r) == 2 && r[0] == etf.Atom("add") {
					if d, ok := r[1].(int64); ok {
						total += d
						return total, nil
					}
				}
			case etf.Atom:
				if r == "total" {
					return total, nil
				}
			}
			return etf.Tuple{etf.AtomError, etf.Atom("badarg")}, nil
		},
		Cast: func(_ context.Context, req etf.Term) error {
			if req == etf.Atom("reset") {
				mu.Lock()
				total = 0
				mu.Unlock()
				return nil
			}
			return errors.New("counter: unknown cast")
		},
	})
}

// end snippet
