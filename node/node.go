// Package node is the runtime users program against: a distributed Erlang
// node made of Go processes with mailboxes, names, links and monitors, that
// connects to other nodes on demand. Erlang nodes see it as a peer: they
// ping it, send to its processes, gen_server:call its servers and rpc:call
// its registered functions.
package node

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/barrelgo/barrelgo/dist"
	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/handshake"
)

// Options configure a node. Name and Cookie are required.
type Options struct {
	// Name is the full node name, "alive@host" (a long name when host has
	// dots or is an IP address).
	Name string
	// Cookie is the distribution cookie shared with the cluster.
	Cookie string
	// Hidden makes the node hidden: it does not appear in nodes() of its
	// peers and does not join global.
	Hidden bool
	// Transport carries the connections; nil means TCP with EPMD
	// (a TCPTransport with ListenAddr and EPMDAddr below).
	Transport Transport
	// ListenAddr and EPMDAddr configure the default TCP transport: where
	// to listen (port 0 on the host part of Name when it is an IP address,
	// else all interfaces) and which EPMD to use (127.0.0.1 on
	// ERL_EPMD_PORT or 4369). An embedded EPMD starts when none listens,
	// unless NoEmbeddedEPMD is set.
	ListenAddr     string
	EPMDAddr       string
	NoEmbeddedEPMD bool
	// BusyPoll makes the default TCP transport's readers poll a quiet
	// socket this long before they sleep (dist.TCPOptions.BusyPoll): for
	// low, steady round-trip latency at a CPU cost. 0, the default, sleeps
	// at once. docs/troubleshooting.md has measurements.
	BusyPoll time.Duration
	// TickTime is net_ticktime (60 s when 0).
	TickTime time.Duration
	// HandshakeTimeout bounds connection set-up (net_setuptime, 7 s when 0).
	HandshakeTimeout time.Duration
	// Limits bound what peers can make the node buffer.
	Limits dist.Limits
	// Logger receives the node's logs (slog.Default when nil).
	Logger *slog.Logger
}

// Node is a running distributed node.
type Node struct {
	opts     Options
	name     etf.Atom
	creation uint32
	log      *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	transport Transport

	pidSeq atomic.Uint32
	refSeq atomic.Uint64
	refKey [2]uint32

	mu      sync.RWMutex
	procs   map[etf.Pid]*Process
	names   map[etf.Atom]*Process
	aliases map[etf.Ref]*Process
	peers   map[etf.Atom]*peer
	dialing map[etf.Atom]*dialState
	// gone sums the message counts of closed connections (Stats).
	gone Stats

	funcsMu sync.RWMutex
	funcs   map[[2]etf.Atom]Func

	// emitMu keeps events in order across the goroutines that see them;
	// subsMu guards only the set, so a callback may subscribe or cancel.
	emitMu sync.Mutex
	subsMu sync.Mutex
	subs   map[int]*subscription
	subSeq int

	groupLeader *Process
	stopped     atomic.Bool
}

// Start starts a node: it binds the distribution listener, registers with
// EPMD (starting an embedded one when none runs) and starts the system
// processes (net_kernel, rex, global_name_server stand-in).
func Start(ctx context.Context, opts Options) (*Node, error) {
	alive, host, err := handshake.SplitNodeName(opts.Name)
	if err != nil {
		return nil, fmt.Errorf("node: invalid name %q: %w", opts.Name, err)
	}
	if opts.Cookie == "" {
		return nil, fmt.Errorf("node: no cookie set for %s", opts.Name)
	}
	if opts.BusyPoll < 0 {
		return nil, fmt.Errorf("node: BusyPoll is %v, want 0 (off) or more", opts.BusyPoll)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.TickTime <= 0 {
		opts.TickTime = 60 * time.Second
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = handshake.DefaultSetupTime
	}
	if opts.Transport == nil {
		opts.Transport = &TCPTransport{ListenAddr: opts.ListenAddr, EPMDAddr: opts.EPMDAddr, NoEmbeddedEPMD: opts.NoEmbeddedEPMD,
			BusyPoll: opts.BusyPoll}
	}
	_ = alive
	_ = host
	n := &Node{
		opts:    opts,
		name:    etf.Atom(opts.Name),
		log:     opts.Logger.With("node", opts.Name),
		procs:   make(map[etf.Pid]*Process),
		names:   make(map[etf.Atom]*Process),
		aliases: make(map[etf.Ref]*Process),
		peers:   make(map[etf.Atom]*peer),
		dialing: make(map[etf.Atom]*dialState),
		funcs:   make(map[[2]etf.Atom]Func),
		subs:    make(map[int]*subscription),
	}
	var key [8]byte
	_, _ = rand.Read(key[:])
	n.refKey = [2]uint32{binary.BigEndian.Uint32(key[:4]), binary.BigEndian.Uint32(key[4:])}
	n.pidSeq.Store(99)
	n.ctx, n.cancel = context.WithCancel(context.Background())

	n.transport = opts.Transport
	creation, err := n.transport.Start(ctx, n.name, opts.Hidden)
	if err != nil {
		return nil, err
	}
	n.creation = creation
	n.log.Info("node started", "creation", n.creation)

	n.startSystemProcesses()
	n.wg.Add(1)
	go n.acceptLoop()
	return n, nil
}

// Name is the node's full name.
func (n *Node) Name() etf.Atom { return n.name }

// Creation is the node's creation as assigned by EPMD.
func (n *Node) Creation() uint32 { return n.creation }

// ListenPort is the TCP distribution port, or 0 with another transport.
func (n *Node) ListenPort() int {
	if t, ok := n.transport.(*TCPTransport); ok {
		return t.Port()
	}
	return 0
}

// Stop disconnects every peer, ends every process and unregisters from EPMD.
func (n *Node) Stop() error {
	if n.stopped.Swap(true) {
		return nil
	}
	n.mu.RLock()
	procs := make([]*Process, 0, len(n.procs))
	for _, p := range n.procs {
		procs = append(procs, p)
	}
	n.mu.RUnlock()
	for _, p := range procs {
		p.exit(etf.Atom("shutdown"))
	}
	n.cancel()
	n.transport.Close()
	n.mu.RLock()
	for _, p := range n.peers {
		p.conn.Close()
	}
	n.mu.RUnlock()
	n.wg.Wait()
	n.log.Info("node stopped")
	return nil
}

// MakeRef returns a new reference of this node.
func (n *Node) MakeRef() etf.Ref {
	s := n.refSeq.Add(1)
	return etf.Ref{Node: n.name, Creation: n.creation, Len: 3,
		ID: [5]uint32{uint32(s) & 0x3ffff, n.refKey[0] ^ uint32(s>>18), n.refKey[1]}}
}

func (n *Node) newPid() etf.Pid {
	id := n.pidSeq.Add(1)
	// Pid numbers are 28-bit in OTP's internal form; wrap into the serial.
	return etf.Pid{Node: n.name, ID: id & 0x7fff_ffff, Serial: 0, Creation: n.creation}
}

// Event is a node-level event delivered to subscribers.
type Event struct {
	Kind EventKind
	Node etf.Atom
	// Hidden is set for connections to hidden nodes, which Erlang's
	// nodes() and visible-node monitors leave out.
	Hidden bool
	// Reason is why a connection went down.
	Reason error
}

// EventKind tells node events apart.
type EventKind int

// Event kinds.
const (
	NodeUp EventKind = iota + 1
	NodeDown
)

func (k EventKind) String() string {
	switch k {
	case NodeUp:
		return "nodeup"
	case NodeDown:
		return "nodedown"
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Subscribe delivers node events to ch until the returned function is
// called. Events are dropped, not queued, when ch is full; use SubscribeFunc
// where none may be lost.
func (n *Node) Subscribe(ch chan<- Event) (cancel func()) {
	return n.SubscribeFunc(func(ev Event) {
		select {
		case ch <- ev:
		default:
		}
	})
}

// SubscribeFunc calls fn for every node event, in order, until the returned
// function is called. fn runs on the goroutine that saw the event and must
// not block (queueing the event in a process mailbox is the usual body);
// it may subscribe or cancel, its own subscription included.
func (n *Node) SubscribeFunc(fn func(Event)) (cancel func()) {
	sub := &subscription{fn: fn}
	n.subsMu.Lock()
	n.subSeq++
	id := n.subSeq
	n.subs[id] = sub
	n.subsMu.Unlock()
	return func() {
		sub.off.Store(true)
		n.subsMu.Lock()
		delete(n.subs, id)
		n.subsMu.Unlock()
	}
}

type subscription struct {
	fn  func(Event)
	off atomic.Bool
}

func (n *Node) emit(ev Event) {
	n.emitMu.Lock()
	defer n.emitMu.Unlock()
	n.subsMu.Lock()
	subs := make([]*subscription, 0, len(n.subs))
	for _, s := range n.subs {
		subs = append(subs, s)
	}
	n.subsMu.Unlock()
	for _, s := range subs {
		// Cancelled by an earlier callback of this same event: no more.
		if !s.off.Load() {
			s.fn(ev)
		}
	}
}

// Nodes lists the connected visible nodes (as erlang:nodes/0).
func (n *Node) Nodes() []etf.Atom {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]etf.Atom, 0, len(n.peers))
	for name, p := range n.peers {
		if !p.hidden {
			out = append(out, name)
		}
	}
	return out
}

// ErrStopped reports an operation on a stopped node.
var ErrStopped = errors.New("node: stopped")

func hostOf(name etf.Atom) string {
	_, h, _ := strings.Cut(string(name), "@")
	return h
}
