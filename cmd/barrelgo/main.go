// Command barrelgo runs a barrelgo node over TCP or barrel_p2p's QUIC from
// one configuration file, and operates clusters from the shell: ping, call
// and rpc with Erlang terms, views, services, status, keys and pins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `barrelgo: a Go node for BEAM clusters

Usage:
  barrelgo node [flags]                     run a node until interrupted (tcp or quic)
  barrelgo ping [flags] NODE                net_adm:ping NODE
  barrelgo send [flags] NODE NAME TERM      send TERM to {NAME, NODE}
  barrelgo call [flags] NODE NAME TERM      gen_server:call({NAME, NODE}, TERM)
  barrelgo rpc  [flags] NODE MOD FUN ARGS   rpc:call(NODE, MOD, FUN, ARGS)
  barrelgo view [flags] NODE                NODE's HyParView active and passive views
  barrelgo services [flags] NODE            the services NODE's registry knows
  barrelgo status [flags] NODE              connections, views, services, auth of NODE
  barrelgo keys gen|show|rotate [--dir DIR] the node's Ed25519 identity
  barrelgo keys pins list|store NODE PUBHEX|delete NODE [--dir DIR]
  barrelgo cert gen|show [--dir DIR] [--name CN]  the node's QUIC TLS certificate
  barrelgo doctor [flags]                   check a configuration and its cluster
  barrelgo demo [flags]                     a local demo cluster on loopback

Every command reads the configuration file of -config (or $BARRELGO_CONFIG),
then BARRELGO_* variables, then its flags; barrelgo.example.toml lists every
key. Clients of a quic cluster need -proto quic and the cluster's data or
discovery directory: barrelgo view -proto quic -data-dir DIR NODE.
Terms are Erlang syntax: '{ok, <<"hi">>, [1,2]}', 'hello', '#{a => 1}'.
Run 'barrelgo COMMAND -h' for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "barrelgo:", err)
		if isUsage(err) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a mistake on the command line; it exits with status 2.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// isUsage reports whether err is the user's to fix: a usage or
// configuration error.
func isUsage(err error) bool {
	var ue usageError
	var ce *configError
	return errors.As(err, &ue) || errors.As(err, &ce)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // the flag set printed the help
	}
	return err
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "node":
		return cmdNode(ctx, rest, stdout, stderr)
	case "ping", "send", "call", "rpc", "view", "services", "status":
		return cmdClient(ctx, cmd, rest, stdout, stderr)
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr)
	case "keys":
		return cmdKeys(ctx, rest, stdout, stderr)
	case "cert":
		return cmdCert(ctx, rest, stdout, stderr)
	case "doctor":
		return cmdDoctor(ctx, rest, stdout, stderr)
	}
	return usageError{fmt.Sprintf("unknown command %q\n\n%s", cmd, usage)}
}

// parseArgs parses flags anywhere among the positional arguments
// ("view NODE -proto quic" as well as "view -proto quic NODE"); "--" ends
// the flags.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
