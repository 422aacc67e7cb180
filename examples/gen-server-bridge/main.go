// Command gen-server-bridge runs a Go node that serves a key-value store as
// a gen_server named kv, so that Erlang processes use it with
// gen_server:call({kv, 'bridge@127.0.0.1'}, {put, Key, Value}) as if it
// were written in Erlang.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/node"
)

func main() {
	name := flag.String("name", "bridge@127.0.0.1", "node name")
	cookie := flag.String("cookie", "", "distribution cookie (the Erlang nodes' -setcookie)")
	epmd := flag.String("epmd", "", "EPMD address (default 127.0.0.1:4369; one is embedded if none runs)")
	flag.Parse()
	if *cookie == "" {
		log.Fatal("-cookie is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	n, err := node.Start(sctx, node.Options{Name: *name, Cookie: *cookie, EPMDAddr: *epmd})
	cancel()
	if err != nil {
		log.Fatal(err)
	}
	defer n.Stop()
	if _, err := StartKV(n); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s serves gen_server kv; from Erlang:\n", n.Name())
	fmt.Printf("  gen_server:call({kv, '%s'}, {put, greeting, <<\"hello\">>}).\n", n.Name())
	fmt.Printf("  gen_server:call({kv, '%s'}, {get, greeting}).\n", n.Name())
	<-ctx.Done()
}

// snippet:kv

// StartKV registers the gen_server kv on n. Calls: {put, K, V} -> ok,
// {get, K} -> {ok, V} | not_found, keys -> [K]; casts: {delete, K}.
func StartKV(n *node.Node) (*node.Process, error) {
	var mu sync.Mutex
	data := map[string]etf.Term{}
	// Keys are any term; their Erlang text form is a faithful map key.
	key := etf.Format
	return n.StartServer("kv", node.ServerFuncs{
		Call: func(_ context.Context, _ node.From, req etf.Term) (etf.Term, error) {
			mu.Lock()
			defer mu.Unlock()
			switch r := req.(type) {
			case etf.Tuple:
				switch {
				case len(r) == 3 && r[0] == etf.Atom("put"):
					data[key(r[1])] = r[2]
					return etf.AtomOK, nil
				case len(r) == 2 && r[0] == etf.Atom("get"):
					if v, ok := data[key(r[1])]; ok {
						return etf.Tuple{etf.AtomOK, v}, nil
					}
					return etf.Atom("not_found"), nil
				}
			case etf.Atom:
				if r == "keys" {
					keys := etf.List{}
					for k := range data {
						t, err := etf.Parse(k)
						if err == nil {
							keys = append(keys, t)
						}
					}
					return keys, nil
				}
			}
			// The caller gets this reply; returning an error instead
			// would crash the server, as in Erlang.
			return etf.Tuple{etf.AtomError, etf.Tuple{etf.Atom("unknown_request"), req}}, nil
		},
		Cast: func(_ context.Context, req etf.Term) error {
			if r, ok := req.(etf.Tuple); ok && len(r) == 2 && r[0] == etf.Atom("delete") {
				mu.Lock()
				delete(data, key(r[1]))
				mu.Unlock()
			}
			return nil
		},
	})
}

// end snippet
