package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/barrelgo/barrelgo/dist"
	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/handshake"
)

// peer is an established connection to another node.
type peer struct {
	name     etf.Atom
	conn     *dist.Conn
	flags    handshake.Flags
	creation uint32
	hidden   bool
}

type dialState struct {
	done chan struct{}
	p    *peer
	err  error
	// incoming marks an accepted attempt rather than our own dial.
	incoming bool
}

func (n *Node) handshakeConfig() handshake.Config {
	return handshake.Config{
		Name:     string(n.name),
		Cookie:   n.opts.Cookie,
		Hidden:   n.opts.Hidden,
		Creation: n.creation,
		Arbiter:  &arbiter{n: n},
		AliveReply: func(_ context.Context, peer string) bool {
			// net_kernel's is_pending: the peer has a connection with us
			// up, and ours replaces it only while ours is still the attempt
			// we want: none of ours is up and no attempt of the peer's has
			// superseded it (a simultaneous connect we lost).
			n.mu.RLock()
			defer n.mu.RUnlock()
			if _, up := n.peers[etf.Atom(peer)]; up {
				return false
			}
			ds := n.dialing[etf.Atom(peer)]
			return ds == nil || !ds.incoming
		},
		Logger: n.log,
	}
}

// Connect returns the connection to node, establishing it if needed (as
// net_kernel:connect_node/1).
func (n *Node) Connect(ctx context.Context, node etf.Atom) error {
	_, err := n.peerFor(ctx, node)
	return err
}

func (n *Node) peerFor(ctx context.Context, node etf.Atom) (*peer, error) {
	if n.stopped.Load() {
		return nil, ErrStopped
	}
	// Every remote send comes here: the common case, an existing
	// connection, takes the read lock only, so senders and the
	// connections' readers (which look processes up under it) do not
	// serialise.
	n.mu.RLock()
	p, ok := n.peers[node]
	n.mu.RUnlock()
	if ok {
		return p, nil
	}
	n.mu.Lock()
	if p, ok := n.peers[node]; ok {
		n.mu.Unlock()
		return p, nil
	}
	ds, ok := n.dialing[node]
	if !ok {
		ds = &dialState{done: make(chan struct{})}
		n.dialing[node] = ds
		go func() {
			ds.p, ds.err = n.dial(node)
			n.mu.Lock()
			if n.dialing[node] == ds {
				delete(n.dialing, node)
			}
			n.mu.Unlock()
			close(ds.done)
		}()
	}
	n.mu.Unlock()
	select {
	case <-ds.done:
		return ds.p, ds.err
	case <-ctx.Done():
		return nil, fmt.Errorf("node: connect to %s: %w", node, ctx.Err())
	}
}

func (n *Node) dial(node etf.Atom) (*peer, error) {
	ctx, cancel := context.WithTimeout(n.ctx, n.opts.HandshakeTimeout)
	defer cancel()
	if _, _, err := handshake.SplitNodeName(string(node)); err != nil {
		return nil, fmt.Errorf("node: connect to %q: %w", node, err)
	}
	if err := handshake.CheckNameModes(string(n.name), string(node)); err != nil {
		return nil, fmt.Errorf("node: connect to %s: %w", node, err)
	}
	var retryAfter time.Duration
	if r, ok := n.transport.(dist.StatusRetrier); ok {
		retryAfter = r.StatusRetryAfter()
	}
	for attempt := 1; ; attempt++ {
		l, err := n.transport.Dial(ctx, node)
		if err != nil {
			return nil, fmt.Errorf("node: connect to %s: %w", node, err)
		}
		cfg := n.handshakeConfig()
		if attempt == 1 {
			cfg.StatusTimeout = retryAfter
		}
		res, err := handshake.Dial(ctx, l, cfg, string(node))
		if err != nil {
			l.Close()
			if errors.Is(err, handshake.ErrStatusTimeout) {
				n.log.Warn("no handshake status from peer: dialing again over a new connection",
					"peer", string(node), "waited", retryAfter, "err", err)
				continue
			}
			if p := n.yielded(ctx, node, err); p != nil {
				return p, nil
			}
			return nil, fmt.Errorf("node: connect to %s: %w", node, err)
		}
		return n.established(l, res)
	}
}

// yielded returns the connection that an attempt of the peer's set up
// while our dial to it failed: in a simultaneous connect one side's attempt
// gives way (nok, or a false answer to alive), and as with net_kernel
// whoever waits on that dial gets the other connection.
func (n *Node) yielded(ctx context.Context, node etf.Atom, err error) *peer {
	n.mu.RLock()
	p, in := n.peers[node], n.dialing[node]
	n.mu.RUnlock()
	if p != nil {
		return p
	}
	if in != nil && in.incoming {
		select {
		case <-in.done:
			return in.p
		case <-ctx.Done():
			return nil
		}
	}
	var se *handshake.StatusError
	if errors.As(err, &se) && se.Status == handshake.StatusNok {
		// The peer's attempt has yet to reach our acceptor, which will
		// let it through.
		return n.awaitPeer(ctx, node)
	}
	return nil
}

// awaitPeer waits until a connection to node is up, or ctx ends (nil).
func (n *Node) awaitPeer(ctx context.Context, node etf.Atom) *peer {
	up := make(chan struct{}, 1)
	cancel := n.SubscribeFunc(func(ev Event) {
		if ev.Kind == NodeUp && ev.Node == node {
			select {
			case up <- struct{}{}:
			default:
			}
		}
	})
	defer cancel()
	for {
		n.mu.RLock()
		p := n.peers[node]
		n.mu.RUnlock()
		if p != nil {
			return p
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil
		}
	}
}

func (n *Node) acceptLoop() {
	defer n.wg.Done()
	for {
		l, err := n.transport.Accept(n.ctx)
		if err != nil {
			if !n.stopped.Load() {
				n.log.Error("distribution listener failed", "err", err)
			}
			return
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			ctx, cancel := context.WithTimeout(n.ctx, n.opts.HandshakeTimeout)
			defer cancel()
			cfg := n.handshakeConfig()
			arb := &arbiter{n: n}
			cfg.Arbiter = arb
			res, err := handshake.Accept(ctx, l, cfg)
			if err != nil {
				n.log.Warn("incoming connection refused", "remote", l.RemoteAddr(), "err", err)
				l.Close()
				arb.finish(nil, err)
				return
			}
			p, err := n.established(l, res)
			if err != nil {
				n.log.Warn("incoming connection dropped", "peer", res.PeerName, "err", err)
			}
			arb.finish(p, err)
		}()
	}
}

// arbiter answers the status of one incoming handshake from the node's
// connection table.
type arbiter struct {
	n *Node
	// pending is the entry an accepted attempt holds in n.dialing, as
	// net_kernel marks the connection pending: the node's own connects to
	// that peer wait for this handshake instead of dialing a second
	// connection, which the peer, having answered ok to this one, would
	// accept too, leaving each side to keep a different one.
	pending *dialState
	name    etf.Atom
}

func (a *arbiter) Arbitrate(_ context.Context, p handshake.Peer) handshake.Status {
	n := a.n
	if n.stopped.Load() {
		return handshake.StatusNotAllowed
	}
	name := etf.Atom(p.Name)
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.peers[name]; ok {
		return handshake.StatusAlive
	}
	if ds, ok := n.dialing[name]; ok {
		if ds.incoming {
			return handshake.StatusNok // another attempt of the peer's is under way
		}
		st := handshake.ResolveSimultaneous(string(n.name), p.Name)
		if st == handshake.StatusOKSimultaneous {
			// Our own dial gives way to this attempt (net_kernel kills it);
			// its waiters get this one's outcome through yielded.
			a.pend(name)
		}
		return st
	}
	a.pend(name)
	return handshake.StatusOK
}

// pend records this attempt in n.dialing; n.mu is held.
func (a *arbiter) pend(name etf.Atom) {
	a.pending = &dialState{done: make(chan struct{}), incoming: true}
	a.name = name
	a.n.dialing[name] = a.pending
}

// finish hands the outcome of an accepted attempt to the connects that
// waited for it.
func (a *arbiter) finish(p *peer, err error) {
	ds := a.pending
	if ds == nil {
		return
	}
	if p == nil && err == nil {
		err = errors.New("node: incoming connection lost")
	}
	ds.p, ds.err = p, err
	a.n.mu.Lock()
	if a.n.dialing[a.name] == ds {
		delete(a.n.dialing, a.name)
	}
	a.n.mu.Unlock()
	close(ds.done)
}

func (a *arbiter) AliveReply(_ context.Context, p handshake.Peer, alive bool) error {
	if !alive {
		return nil
	}
	// The peer restarted or lost its side: drop the old connection first.
	n := a.n
	n.mu.RLock()
	old := n.peers[etf.Atom(p.Name)]
	n.mu.RUnlock()
	if old != nil {
		old.conn.Close()
		select {
		case <-old.conn.Done():
		case <-time.After(time.Second):
		}
		n.dropPeer(old, errors.New("replaced by a new connection"))
	}
	return nil
}

// established turns a completed handshake into a served connection.
func (n *Node) established(l Link, res *handshake.Result) (*peer, error) {
	name := etf.Atom(res.PeerName)
	limits := n.opts.Limits
	carrier, err := l.Established(res, limits)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("node: connection from %s refused after handshake: %w", name, err)
	}
	p := &peer{name: name, flags: res.Flags, creation: res.PeerCreation, hidden: res.Hidden}
	p.conn = dist.NewConn(carrier, dist.Config{
		Peer:      name,
		Fragments: res.Flags.Has(handshake.FlagFragments),
		TickTime:  n.opts.TickTime,
		Limits:    limits,
		Handler:   n,
		Logger:    n.log,
	})
	n.mu.Lock()
	if old, ok := n.peers[name]; ok {
		n.mu.Unlock()
		p.conn.Close()
		return old, nil
	}
	if n.stopped.Load() {
		n.mu.Unlock()
		p.conn.Close()
		return nil, ErrStopped
	}
	n.peers[name] = p
	// The attempt is over: were the connection dropped before its dialer
	// or acceptor got round to clearing it, a pending entry left here
	// would make the node refuse the peer's next attempt (nok).
	delete(n.dialing, name)
	n.mu.Unlock()
	n.log.Info("nodeup", "peer", string(name), "hidden", res.Hidden, "flags", res.Flags.String())
	// nodeup goes out before the connection is served: once it is, it can
	// fail and emit nodedown at any time.
	n.emit(Event{Kind: NodeUp, Node: name, Hidden: p.hidden})
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		err := p.conn.Serve(n.ctx)
		n.dropPeer(p, err)
	}()
	return p, nil
}

// dropPeer forgets a connection and turns its links and monitors into
// noconnection exits and DOWN messages.
func (n *Node) dropPeer(p *peer, reason error) {
	n.mu.Lock()
	if n.peers[p.name] != p {
		n.mu.Unlock()
		return
	}
	delete(n.peers, p.name)
	// Serve has returned: nothing more is read, and a send that slips
	// in now is one lost count, never a counter going back.
	st := p.conn.Stats()
	n.gone.MessagesIn += st.MessagesIn
	n.gone.MessagesOut += st.MessagesOut
	procs := make([]*Process, 0, len(n.procs))
	for _, pr := range n.procs {
		procs = append(procs, pr)
	}
	n.mu.Unlock()
	n.log.Info("nodedown", "peer", string(p.name), "reason", fmt.Sprint(reason))
	for _, pr := range procs {
		pr.nodeDown(p.name)
	}
	n.emit(Event{Kind: NodeDown, Node: p.name, Hidden: p.hidden, Reason: reason})
}

// sendControl sends a control message to node, connecting if needed.
func (n *Node) sendControl(ctx context.Context, node etf.Atom, ctl *dist.Control, msg etf.Term) error {
	p, err := n.peerFor(ctx, node)
	if err != nil {
		return err
	}
	return p.conn.Send(ctx, ctl, msg)
}

// sendControlNoConnect sends only over an existing connection: signals
// about a peer's processes need no new connection when none exists.
func (n *Node) sendControlNoConnect(node etf.Atom, ctl *dist.Control, msg etf.Term) {
	n.mu.RLock()
	p := n.peers[node]
	n.mu.RUnlock()
	if p != nil {
		_ = p.conn.Send(n.ctx, ctl, msg)
	}
}

// Disconnect closes the connection to node (erlang:disconnect_node/1).
func (n *Node) Disconnect(node etf.Atom) bool {
	n.mu.RLock()
	p := n.peers[node]
	n.mu.RUnlock()
	if p == nil {
		return false
	}
	p.conn.Close()
	n.dropPeer(p, errors.New("disconnected"))
	return true
}
