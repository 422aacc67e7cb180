package node

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/barrelgo/barrelgo/dist"
	"github.com/barrelgo/barrelgo/epmd"
	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/handshake"
)

// Transport and Link are dist's: the node runs the handshake over any
// carrier that provides them.
type (
	Transport = dist.Transport
	Link      = dist.Link
)

// TCPTransport is classic Erlang distribution: TCP connections whose peers
// are found through EPMD.
type TCPTransport struct {
	// ListenAddr is where to listen ("host:0" picks a free port).
	ListenAddr string
	// EPMDAddr is the local EPMD (127.0.0.1 on ERL_EPMD_PORT or 4369 when
	// empty).
	EPMDAddr string
	// NoEmbeddedEPMD disables starting an embedded EPMD when none runs.
	NoEmbeddedEPMD bool
	// BusyPoll is dist.TCPOptions.BusyPoll for every connection.
	BusyPoll time.Duration

	ln       net.Listener
	reg      *epmd.Registration
	embedded *epmd.Server
	local    etf.Atom
}

// Start listens, starts an embedded EPMD if needed and registers.
func (t *TCPTransport) Start(ctx context.Context, local etf.Atom, hidden bool) (uint32, error) {
	alive, host, err := handshake.SplitNodeName(string(local))
	if err != nil {
		return 0, err
	}
	t.local = local
	if t.EPMDAddr == "" {
		t.EPMDAddr = epmd.DefaultAddr()
	}
	if t.ListenAddr == "" {
		if ip := net.ParseIP(host); ip != nil {
			t.ListenAddr = net.JoinHostPort(host, "0")
		} else {
			t.ListenAddr = ":0"
		}
	}
	ln, err := net.Listen("tcp", t.ListenAddr)
	if err != nil {
		return 0, fmt.Errorf("node: listen on %s: %w", t.ListenAddr, err)
	}
	t.ln = ln
	if !t.NoEmbeddedEPMD {
		srv, err := epmd.EnsureServer(ctx, t.EPMDAddr)
		if err != nil {
			ln.Close()
			return 0, fmt.Errorf("node: start embedded epmd on %s: %w", t.EPMDAddr, err)
		}
		t.embedded = srv
	}
	typ := epmd.NodeTypeNormal
	if hidden {
		typ = epmd.NodeTypeHidden
	}
	port := ln.Addr().(*net.TCPAddr).Port
	reg, err := epmd.NewClient(t.EPMDAddr).Register(ctx, epmd.NodeInfo{Name: alive, Port: uint16(port), Type: typ})
	if err != nil {
		t.Close()
		return 0, fmt.Errorf("node: register %s with epmd at %s: %w", local, t.EPMDAddr, err)
	}
	t.reg = reg
	return reg.Creation(), nil
}

// Port is the distribution listen port.
func (t *TCPTransport) Port() int { return t.ln.Addr().(*net.TCPAddr).Port }

// Accept waits for the next TCP connection.
func (t *TCPTransport) Accept(ctx context.Context) (Link, error) {
	c, err := t.ln.Accept()
	if err != nil {
		return nil, err
	}
	return &tcpLink{Conn: c, TCPFramer: handshake.NewTCPFramer(c), acceptor: true, busyPoll: t.BusyPoll}, nil
}

// Dial resolves peer through EPMD and connects.
func (t *TCPTransport) Dial(ctx context.Context, peer etf.Atom) (Link, error) {
	alive, host, err := handshake.SplitNodeName(string(peer))
	if err != nil {
		return nil, err
	}
	epmdAddr := t.EPMDAddr
	if !isLoopback(host) && host != hostOf(t.local) {
		// A remote host: ask its EPMD, on the same port as ours.
		_, port, _ := net.SplitHostPort(epmdAddr)
		epmdAddr = net.JoinHostPort(host, port)
	}
	info, err := epmd.NewClient(epmdAddr).PortPlease(ctx, alive)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(int(info.Port))))
	if err != nil {
		return nil, err
	}
	return &tcpLink{Conn: c, TCPFramer: handshake.NewTCPFramer(c), busyPoll: t.BusyPoll}, nil
}

// Close stops listening and unregisters.
func (t *TCPTransport) Close() error {
	if t.ln != nil {
		t.ln.Close()
	}
	if t.reg != nil {
		t.reg.Close()
	}
	if t.embedded != nil {
		t.embedded.Close()
	}
	return nil
}

type tcpLink struct {
	net.Conn
	*handshake.TCPFramer
	acceptor bool
	busyPoll time.Duration
}

func (l *tcpLink) Established(_ *handshake.Result, limits dist.Limits) (dist.Carrier, error) {
	return dist.NewTCPCarrierOptions(l.Conn, limits, dist.TCPOptions{BusyPoll: l.busyPoll}), nil
}

func (l *tcpLink) RemoteAddr() string { return l.Conn.RemoteAddr().String() }
func (l *tcpLink) Acceptor() bool     { return l.acceptor }

func isLoopback(h string) bool {
	if ip := net.ParseIP(h); ip != nil {
		return ip.IsLoopback()
	}
	return h == "localhost"
}
