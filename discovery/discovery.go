// Package discovery maps node names to the addresses their QUIC carrier
// listens on, the way barrel_p2p's discovery chain does (static table,
// .endpoint files, DNS). It also publishes the local node's own endpoint
// file so Erlang peers can dial it.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ErrNotFound is returned by a backend that knows nothing of a node; a
// Chain then asks the next one.
var ErrNotFound = errors.New("discovery: not_found")

// Resolver returns "host:port" for a node name.
type Resolver interface {
	Resolve(ctx context.Context, node string) (string, error)
}

// Chain asks each resolver in turn; the first answer other than
// ErrNotFound wins (barrel_p2p's discovery_backends order).
type Chain []Resolver

// Resolve implements Resolver.
func (c Chain) Resolve(ctx context.Context, node string) (string, error) {
	for _, r := range c {
		addr, err := r.Resolve(ctx, node)
		if err == nil {
			return addr, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return "", err
		}
	}
	return "", fmt.Errorf("discovery: no backend knows %s: %w", node, ErrNotFound)
}

// Static is a fixed table of node name -> "host:port" (quic.dist nodes).
type Static map[string]string

// Resolve implements Resolver.
func (s Static) Resolve(_ context.Context, node string) (string, error) {
	if a, ok := s[node]; ok {
		return a, nil
	}
	return "", ErrNotFound
}

// DNS resolves the host part of the node name (an IP literal is used as
// is) and uses Port, barrel_p2p's local dist port (4433 by default).
type DNS struct {
	Port     int
	Resolver *net.Resolver // net.DefaultResolver when nil
}

// Resolve implements Resolver.
func (d DNS) Resolve(ctx context.Context, node string) (string, error) {
	host, err := HostPart(node)
	if err != nil {
		return "", err
	}
	port := d.Port
	if port == 0 {
		port = DefaultPort
	}
	if ip := net.ParseIP(host); ip != nil {
		return net.JoinHostPort(host, strconv.Itoa(port)), nil
	}
	r := d.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ips, err := r.LookupIPAddr(ctx, host)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return "", fmt.Errorf("discovery: dns %s: %w", host, ErrNotFound)
		}
		return "", fmt.Errorf("discovery: dns %s: %w", host, err)
	}
	// A records first, as barrel_p2p asks A then AAAA.
	for _, ip := range ips {
		if ip.IP.To4() != nil {
			return net.JoinHostPort(ip.IP.String(), strconv.Itoa(port)), nil
		}
	}
	if len(ips) > 0 {
		return net.JoinHostPort(ips[0].IP.String(), strconv.Itoa(port)), nil
	}
	return "", fmt.Errorf("discovery: dns %s: %w", host, ErrNotFound)
}

// DefaultPort is quic_dist's default listen port.
const DefaultPort = 4433

// HostPart returns the part of a node name after '@'.
func HostPart(node string) (string, error) {
	_, host, ok := strings.Cut(node, "@")
	if !ok || host == "" {
		return "", fmt.Errorf("discovery: %q is not a node name (name@host)", node)
	}
	return host, nil
}
