// Command call-erlang connects a Go node to a running Erlang node and calls
// it: rpc:call of ordinary functions and gen_server:call of a registered
// server, the two ways Go code reaches Erlang code.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/node"
)

func main() {
	peer := flag.String("peer", "", "Erlang node to call, e.g. erl@127.0.0.1 (erl -name erl@127.0.0.1 -setcookie COOKIE)")
	cookie := flag.String("cookie", "", "distribution cookie shared with the Erlang node")
	name := flag.String("name", "caller@127.0.0.1", "this node's name")
	epmd := flag.String("epmd", "", "EPMD address (default 127.0.0.1:4369)")
	flag.Parse()
	if *peer == "" || *cookie == "" {
		log.Fatal("-peer and -cookie are required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, node.Options{Name: *name, Cookie: *cookie, EPMDAddr: *epmd, Hidden: true})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Stop()
	if err := CallErlang(ctx, n, etf.Atom(*peer), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// snippet:call

// CallErlang calls peer three ways and prints what comes back.
func CallErlang(ctx context.Context, n *node.Node, peer etf.Atom, out io.Writer) error {
	// rpc:call(Peer, erlang, system_info, [otp_release]).
	rel, err := n.RPC(ctx, peer, "erlang", "system_info", etf.Atom("otp_release"))
	if err != nil {
		return fmt.Errorf("rpc: %w", err)
	}
	fmt.Fprintf(out, "OTP release: %s\n", etf.Format(rel))

	// Arguments and results are Erlang terms: lists:sum([1, 2, 39]).
	sum, err := n.RPC(ctx, peer, "lists", "sum", etf.List{int64(1), int64(2), int64(39)})
	if err != nil {
		return fmt.Errorf("rpc: %w", err)
	}
	fmt.Fprintf(out, "lists:sum([1, 2, 39]) = %s\n", etf.Format(sum))

	// An exception on the Erlang side comes back as *node.RPCError.
	_, err = n.RPC(ctx, peer, "erlang", "binary_to_atom", int64(42))
	fmt.Fprintf(out, "erlang:binary_to_atom(42) fails: %v\n", err)

	// gen_server:call({application_controller, Peer}, which_applications):
	// any registered gen_server, including your own, is called this way.
	apps, err := n.Call(ctx, etf.Tuple{etf.Atom("application_controller"), peer}, etf.Atom("which_applications"))
	if err != nil {
		return fmt.Errorf("gen_server call: %w", err)
	}
	for _, a := range apps.(etf.List) {
		app := a.(etf.Tuple)
		fmt.Fprintf(out, "running application: %s %s\n", app[0], etf.Format(app[2]))
	}
	return nil
}

// end snippet
