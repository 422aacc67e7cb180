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
}

func (n *Node) handshakeConfig() handshake.Config {
	return handshake.Config{
		Name:     string(n.name),
		Cookie:   n.opts.Cookie,
		Hidden:   n.opts.Hidden,
		Creation: n.creation,
		Arbiter:  arbiter{n},
		AliveReply: func(ctx context.Context, peer string) bool {
			return true
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
	l, err := n.transport.Dial(ctx, node)
	if err != nil {
		return nil, fmt.Errorf("node: connect to %s: %w", node, err)
	}
	res, err := handshake.Dial(ctx, l, n.handshakeConfig(), string(node))
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("node: connect to %s: %w", node, err)
	}
	return n.established(l, res)
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
			res, err := handshake.Accept(ctx, l, n.handshakeConfig())
			if err != nil {
				n.log.Warn("incoming connection refused", "remote", l.RemoteAddr(), "err", err)
				l.Close()
				return
			}
			if _, err := n.established(l, res); err != nil {
				n.log.Warn("incoming connection dropped", "peer", res.PeerName, "err", err)
			}
		}()
	}
}

// arbiter answers the status of incoming handshakes from the node's
// connection table.
type arbiter struct{ n *Node }

func (a arbiter) Arbitrate(_ context.Context, p handshake.Peer) handshake.Status {
	n := a.n
	if n.stopped.Load() {
		return handshake.StatusNotAllowed
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if _, ok := n.peers[etf.Atom(p.Name)]; ok {
		return handshake.StatusAlive
	}
	if _, ok := n.dialing[etf.Atom(p.Name)]; ok {
		return handshake.ResolveSimultaneous(string(n.name), p.Name)
	}
	return handshake.StatusOK
}

func (a arbiter) AliveReply(_ context.Context, p handshake.Peer, alive bool) error {
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
	n.mu.Unlock()
	n.log.Info("nodeup", "peer", string(name), "hidden", res.Hidden, "flags", res.Flags.String())
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		err := p.conn.Serve(n.ctx)
		n.dropPeer(p, err)
	}()
	n.emit(Event{Kind: NodeUp, Node: name, Hidden: p.hidden})
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
