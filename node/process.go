package node

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/barrelgo/barrelgo/dist"
	"github.com/barrelgo/barrelgo/etf"
)

// Common exit reasons.
var (
	Normal   = etf.Atom("normal")
	Kill     = etf.Atom("kill")
	Killed   = etf.Atom("killed")
	NoProc   = etf.Atom("noproc")
	NoConn   = etf.Atom("noconnection")
	Shutdown = etf.Atom("shutdown")
)

// ExitError is returned by blocking process calls once the process has
// exited; Reason is its exit reason.
type ExitError struct{ Reason etf.Term }

func (e *ExitError) Error() string { return "node: process exited: " + etf.Format(e.Reason) }

// LinkError is Link's failure to link to a local process that does not
// exist (Reason noproc), where erlang:link/1 raises.
type LinkError struct {
	Pid    etf.Pid
	Reason etf.Term
}

func (e *LinkError) Error() string {
	return fmt.Sprintf("node: link to %s: %s", etf.Format(e.Pid), etf.Format(e.Reason))
}

// Process is a Go process of the node: a pid with a mailbox. Any goroutine
// may send to it; one goroutine should receive from it.
type Process struct {
	node *Node
	pid  etf.Pid
	// pidTerm is pid boxed once as a Term: a message sent from the process
	// names it as the sender, and boxing it per send cost an allocation.
	pidTerm etf.Term

	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	queue []etf.Term
	// qbase is queue's backing array from its start, reused once the
	// queue drains so a process kept up with does not allocate one per
	// message.
	qbase    []etf.Term
	signal   chan struct{}
	trapExit bool
	exited   bool
	reason   etf.Term
	name     etf.Atom
	links    map[etf.Pid]struct{}
	// monitors this process holds: ref -> target (Pid, or {Name, Node}).
	monitors map[etf.Ref]etf.Term
	// monitors held on this process: ref -> watcher.
	watchers map[etf.Ref]watcher
	aliases  map[etf.Ref]struct{}
}

// NewProcess creates a process driven by the caller: it lives until Exit is
// called, it is killed by an exit signal, or the node stops.
func (n *Node) NewProcess() (*Process, error) { return n.newProcess(false) }

// newProcess creates a process; with run set it also counts the goroutine
// that will run it in n.wg.
func (n *Node) newProcess(run bool) (*Process, error) {
	if n.stopped.Load() {
		return nil, ErrStopped
	}
	p := &Process{
		node:     n,
		pid:      n.newPid(),
		signal:   make(chan struct{}, 1),
		links:    map[etf.Pid]struct{}{},
		monitors: map[etf.Ref]etf.Term{},
		watchers: map[etf.Ref]watcher{},
		aliases:  map[etf.Ref]struct{}{},
	}
	p.pidTerm = p.pid
	p.ctx, p.cancel = context.WithCancel(n.ctx)
	n.mu.Lock()
	// Checked again under the lock Stop lists the processes with: one added
	// after that list would never be told to exit, and its goroutine, added
	// to n.wg after Stop began waiting, would outlive the node.
	if n.stopped.Load() {
		n.mu.Unlock()
		p.cancel()
		return nil, ErrStopped
	}
	n.procs[p.pid] = p
	if run {
		n.wg.Add(1)
	}
	n.mu.Unlock()
	return p, nil
}

// Spawn starts fn in a new process. The process exits with reason normal
// when fn returns nil, with the error's term when it returns an *ExitError
// or a Reasoner, and with {go_error, Message} for other errors.
func (n *Node) Spawn(fn func(p *Process) error) (*Process, error) {
	p, err := n.newProcess(true)
	if err != nil {
		return nil, err
	}
	go func() {
		defer n.wg.Done()
		var reason etf.Term = Normal
		defer func() {
			if r := recover(); r != nil {
				reason = etf.Tuple{etf.Atom("go_panic"), fmt.Sprint(r)}
				n.log.Error("process panicked", "pid", etf.Format(p.pid), "panic", fmt.Sprint(r))
			}
			p.exit(reason)
		}()
		if err := fn(p); err != nil {
			reason = ReasonOf(err)
		}
	}()
	return p, nil
}

// Reasoner is an error that carries its own Erlang exit reason.
type Reasoner interface{ ExitReason() etf.Term }

// ReasonOf turns an error into an exit reason.
func ReasonOf(err error) etf.Term {
	var r Reasoner
	var ee *ExitError
	switch {
	case err == nil:
		return Normal
	case errors.As(err, &ee):
		return ee.Reason
	case errors.As(err, &r):
		return r.ExitReason()
	}
	return etf.Tuple{etf.Atom("go_error"), err.Error()}
}

// Pid is the process identifier.
func (p *Process) Pid() etf.Pid { return p.pid }

// Node is the node the process runs on.
func (p *Process) Node() *Node { return p.node }

// Context is cancelled when the process exits.
func (p *Process) Context() context.Context { return p.ctx }

// SetTrapExit makes exit signals arrive as {'EXIT', From, Reason} messages
// instead of killing the process (process_flag(trap_exit, true)).
func (p *Process) SetTrapExit(on bool) {
	p.mu.Lock()
	p.trapExit = on
	p.mu.Unlock()
}

// maxReusedQueue bounds the mailbox array kept for reuse when it drains.
const maxReusedQueue = 256

// deliver queues a message; it is dropped if the process has exited.
func (p *Process) deliver(msg etf.Term) {
	p.mu.Lock()
	if p.exited {
		p.mu.Unlock()
		return
	}
	grows := len(p.queue) == cap(p.queue)
	p.queue = append(p.queue, msg)
	if grows {
		p.qbase = p.queue
	}
	p.mu.Unlock()
	select {
	case p.signal <- struct{}{}:
	default:
	}
}

// Receive returns the oldest message, waiting until one arrives, ctx ends
// or the process exits.
func (p *Process) Receive(ctx context.Context) (etf.Term, error) {
	return p.ReceiveMatch(ctx, nil)
}

// ReceiveMatch returns the oldest message for which match returns true
// (selective receive), leaving the others queued. A nil match takes any.
func (p *Process) ReceiveMatch(ctx context.Context, match func(etf.Term) bool) (etf.Term, error) {
	scanned := 0
	for {
		p.mu.Lock()
		for i := scanned; i < len(p.queue); i++ {
			m := p.queue[i]
			if match == nil || match(m) {
				if i == 0 {
					// The common case, taking the oldest message, must not
					// shift the whole queue: with a long backlog that made
					// draining it quadratic.
					p.queue[0] = nil
					p.queue = p.queue[1:]
				} else {
					copy(p.queue[i:], p.queue[i+1:])
					p.queue[len(p.queue)-1] = nil
					p.queue = p.queue[:len(p.queue)-1]
				}
				if len(p.queue) == 0 {
					// Every taken slot was cleared, so the array holds
					// nothing; a large one left by a backlog goes.
					if cap(p.qbase) <= maxReusedQueue {
						p.queue = p.qbase[:0]
					} else {
						p.queue, p.qbase = nil, nil
					}
				}
				p.mu.Unlock()
				return m, nil
			}
		}
		scanned = len(p.queue)
		if p.exited {
			r := p.reason
			p.mu.Unlock()
			return nil, &ExitError{Reason: r}
		}
		p.mu.Unlock()
		select {
		case <-p.signal:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.ctx.Done():
		}
	}
}

// Send sends msg to to: a Pid, a registered name (Atom), {Name, Node}, or
// an alias (Ref). Like Erlang's !, it does not fail when the target does
// not exist; it fails only when no connection to the target's node can be
// made.
func (p *Process) Send(ctx context.Context, to etf.Term, msg etf.Term) error {
	return p.node.send(ctx, p.pidTerm, to, msg)
}

// Send sends a message from no particular process (the node's group
// leader stands in as the sender).
func (n *Node) Send(ctx context.Context, to etf.Term, msg etf.Term) error {
	return n.send(ctx, n.groupLeader.pidTerm, to, msg)
}

// send sends msg from from (a Pid) to to. The controls take to itself, not
// its value switched out below: re-boxing a pid cost an allocation.
func (n *Node) send(ctx context.Context, from, to etf.Term, msg etf.Term) error {
	switch t := to.(type) {
	case etf.Pid:
		if t.Node == n.name {
			if q := n.proc(t); q != nil {
				q.deliver(msg)
			}
			return nil
		}
		return n.sendControl(ctx, t.Node, &dist.Control{Op: dist.OpSendSender, From: from, To: to}, msg)
	case etf.Atom:
		if q := n.Whereis(t); q != nil {
			q.deliver(msg)
			return nil
		}
		return fmt.Errorf("node: send to unregistered name %s: %w", t, errBadArg)
	case etf.Tuple:
		if len(t) == 2 {
			name, ok1 := t[0].(etf.Atom)
			node, ok2 := t[1].(etf.Atom)
			if ok1 && ok2 {
				if node == n.name {
					if q := n.Whereis(name); q != nil {
						q.deliver(msg)
					}
					return nil
				}
				return n.sendControl(ctx, node, &dist.Control{Op: dist.OpRegSend, From: from, To: t[0]}, msg)
			}
		}
	case etf.Ref:
		if t.Node == n.name {
			n.mu.RLock()
			q := n.aliases[t]
			n.mu.RUnlock()
			if q != nil {
				q.deliver(msg)
			}
			return nil
		}
		return n.sendControl(ctx, t.Node, &dist.Control{Op: dist.OpAliasSend, From: from, To: to}, msg)
	}
	return fmt.Errorf("node: cannot send to %s: %w", etf.Format(to), errBadArg)
}

var errBadArg = errors.New("badarg")

// SendNoConnect is erlang:send(To, Msg, [noconnect]) for To = {Name, Node}
// or a remote pid: the message is dropped, and false returned, when no
// connection to the node exists. barrel_p2p's membership traffic is sent
// this way so that only HyParView decides which connections exist.
func (p *Process) SendNoConnect(ctx context.Context, to etf.Term, msg etf.Term) bool {
	n := p.node
	var node etf.Atom
	switch t := to.(type) {
	case etf.Pid:
		node = t.Node
	case etf.Tuple:
		if len(t) == 2 {
			node, _ = t[1].(etf.Atom)
		}
	}
	if node == "" || node == n.name {
		return p.Send(ctx, to, msg) == nil
	}
	n.mu.RLock()
	_, ok := n.peers[node]
	n.mu.RUnlock()
	if !ok {
		return false
	}
	return p.Send(ctx, to, msg) == nil
}

func (n *Node) proc(pid etf.Pid) *Process {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.procs[pid]
}

// Register gives the process a name (erlang:register/2).
func (p *Process) Register(name etf.Atom) error {
	n := p.node
	n.mu.Lock()
	defer n.mu.Unlock()
	if q, ok := n.names[name]; ok {
		return fmt.Errorf("node: name %s is already registered by %s", name, etf.Format(q.pid))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return fmt.Errorf("node: register %s: %w", name, &ExitError{Reason: p.reason})
	}
	if p.name != "" {
		return fmt.Errorf("node: process already registered as %s", p.name)
	}
	p.name = name
	n.names[name] = p
	return nil
}

// Whereis returns the local process registered as name, or nil.
func (n *Node) Whereis(name etf.Atom) *Process {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.names[name]
}

// Alias creates an alias of the process: messages sent to the returned
// reference reach it until Unalias.
func (p *Process) Alias() etf.Ref {
	ref := p.node.MakeRef()
	p.node.mu.Lock()
	p.node.aliases[ref] = p
	p.node.mu.Unlock()
	p.mu.Lock()
	p.aliases[ref] = struct{}{}
	p.mu.Unlock()
	return ref
}

// Unalias removes an alias.
func (p *Process) Unalias(ref etf.Ref) {
	p.node.mu.Lock()
	if p.node.aliases[ref] == p {
		delete(p.node.aliases, ref)
	}
	p.node.mu.Unlock()
	p.mu.Lock()
	delete(p.aliases, ref)
	p.mu.Unlock()
}

// Exit ends the process with reason (normal for a clean stop).
func (p *Process) Exit(reason etf.Term) { p.exit(reason) }

// Link links the process with pid (erlang:link/1). As in Erlang, linking
// to a local process that does not exist delivers {'EXIT', Pid, noproc}
// when this process traps exits, and otherwise fails, with a *LinkError,
// where Erlang raises noproc: the caller decides, rather than dying. A
// remote process that does not exist is only known when its node answers,
// so that comes as an exit signal with reason noproc, also as in Erlang.
func (p *Process) Link(ctx context.Context, pid etf.Pid) error {
	p.mu.Lock()
	if p.exited {
		p.mu.Unlock()
		return &ExitError{Reason: p.reason}
	}
	if _, ok := p.links[pid]; ok {
		p.mu.Unlock()
		return nil
	}
	p.links[pid] = struct{}{}
	p.mu.Unlock()
	n := p.node
	if pid.Node == n.name {
		q := n.proc(pid)
		if q == nil || !q.addLink(p.pid) {
			p.mu.Lock()
			trap := p.trapExit
			if !trap {
				delete(p.links, pid)
			}
			p.mu.Unlock()
			if !trap {
				return &LinkError{Pid: pid, Reason: NoProc}
			}
			p.exitSignal(pid, NoProc, true)
		}
		return nil
	}
	if err := n.sendControl(ctx, pid.Node, &dist.Control{Op: dist.OpLink, From: p.pid, To: pid}, nil); err != nil {
		p.exitSignal(pid, NoConn, true)
		return err
	}
	return nil
}

func (p *Process) addLink(pid etf.Pid) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return false
	}
	p.links[pid] = struct{}{}
	return true
}

// Unlink removes a link (erlang:unlink/1).
func (p *Process) Unlink(ctx context.Context, pid etf.Pid) error {
	p.mu.Lock()
	_, ok := p.links[pid]
	delete(p.links, pid)
	p.mu.Unlock()
	if !ok {
		return nil
	}
	n := p.node
	if pid.Node == n.name {
		if q := n.proc(pid); q != nil {
			q.mu.Lock()
			delete(q.links, p.pid)
			q.mu.Unlock()
		}
		return nil
	}
	id := n.refSeq.Add(1)
	return n.sendControl(ctx, pid.Node, &dist.Control{Op: dist.OpUnlinkID, ID: id, From: p.pid, To: pid}, nil)
}

// Monitor monitors a process (erlang:monitor(process, Target)): target is a
// Pid, a local name, or {Name, Node}. A {'DOWN', Ref, process, Target,
// Reason} message arrives when it exits, at once with noproc if it does
// not exist, or with noconnection if its node goes away.
func (p *Process) Monitor(ctx context.Context, target etf.Term) (etf.Ref, error) {
	n := p.node
	ref := n.MakeRef()
	var node etf.Atom
	var toProc etf.Term
	switch t := target.(type) {
	case etf.Pid:
		node, toProc = t.Node, t
	case etf.Atom:
		node, toProc, target = n.name, t, etf.Tuple{t, n.name}
	case etf.Tuple:
		if len(t) != 2 {
			return ref, fmt.Errorf("node: monitor %s: %w", etf.Format(target), errBadArg)
		}
		name, ok1 := t[0].(etf.Atom)
		nd, ok2 := t[1].(etf.Atom)
		if !ok1 || !ok2 {
			return ref, fmt.Errorf("node: monitor %s: %w", etf.Format(target), errBadArg)
		}
		node, toProc = nd, name
	default:
		return ref, fmt.Errorf("node: monitor %s: %w", etf.Format(target), errBadArg)
	}
	p.mu.Lock()
	if p.exited {
		p.mu.Unlock()
		return ref, &ExitError{Reason: p.reason}
	}
	p.monitors[ref] = target
	p.mu.Unlock()
	if node == n.name {
		var q *Process
		switch t := toProc.(type) {
		case etf.Pid:
			q = n.proc(t)
		case etf.Atom:
			q = n.Whereis(t)
		}
		if q == nil || !q.addWatcher(ref, watcher{pid: p.pid}) {
			p.down(ref, NoProc)
		}
		return ref, nil
	}
	err := n.sendControl(ctx, node, &dist.Control{Op: dist.OpMonitorP, From: p.pid, To: toProc, Ref: ref}, nil)
	if err != nil {
		p.down(ref, NoConn)
	}
	return ref, nil
}

// watcher is a process monitoring this one; name is set when it monitors
// by registered name, which its DOWN message then carries.
type watcher struct {
	pid  etf.Pid
	name etf.Atom
}

func (p *Process) addWatcher(ref etf.Ref, w watcher) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return false
	}
	p.watchers[ref] = w
	return true
}

// Demonitor removes a monitor; a DOWN message already queued stays queued.
func (p *Process) Demonitor(ctx context.Context, ref etf.Ref) error {
	p.mu.Lock()
	target, ok := p.monitors[ref]
	delete(p.monitors, ref)
	p.mu.Unlock()
	if !ok {
		return nil
	}
	return p.node.demonitor(ctx, p.pid, ref, target)
}

func (n *Node) demonitor(ctx context.Context, from etf.Pid, ref etf.Ref, target etf.Term) error {
	node, toProc := targetNode(target)
	if node == n.name {
		var q *Process
		switch t := toProc.(type) {
		case etf.Pid:
			q = n.proc(t)
		case etf.Atom:
			q = n.Whereis(t)
		}
		if q != nil {
			q.mu.Lock()
			delete(q.watchers, ref)
			q.mu.Unlock()
		}
		return nil
	}
	n.sendControlNoConnect(node, &dist.Control{Op: dist.OpDemonitorP, From: from, To: toProc, Ref: ref}, nil)
	return nil
}

// targetNode splits a monitor target into its node and the process as the
// control messages name it.
func targetNode(target etf.Term) (etf.Atom, etf.Term) {
	switch t := target.(type) {
	case etf.Pid:
		return t.Node, t
	case etf.Tuple:
		return t[1].(etf.Atom), t[0]
	}
	return "", nil
}

// down delivers the DOWN message of one of this process's monitors.
func (p *Process) down(ref etf.Ref, reason etf.Term) {
	p.mu.Lock()
	target, ok := p.monitors[ref]
	delete(p.monitors, ref)
	p.mu.Unlock()
	if ok {
		p.deliver(etf.Tuple{etf.Atom("DOWN"), ref, etf.Atom("process"), target, reason})
	}
}

// exitSignal applies an exit signal from `from`. viaLink marks signals of
// broken links (which remove the link first).
func (p *Process) exitSignal(from etf.Pid, reason etf.Term, viaLink bool) {
	p.mu.Lock()
	if p.exited {
		p.mu.Unlock()
		return
	}
	if viaLink {
		if _, ok := p.links[from]; !ok && reason != NoProc && reason != NoConn {
			p.mu.Unlock()
			return
		}
		delete(p.links, from)
	}
	trap := p.trapExit
	p.mu.Unlock()
	switch {
	case !viaLink && etf.Equal(reason, Kill):
		p.exit(Killed)
	case trap:
		p.deliver(etf.Tuple{etf.Atom("EXIT"), from, reason})
	case etf.Equal(reason, Normal):
		if from == p.pid {
			p.exit(Normal)
		}
	default:
		p.exit(reason)
	}
}

// SendExit sends an exit signal to pid (erlang:exit/2).
func (p *Process) SendExit(ctx context.Context, pid etf.Pid, reason etf.Term) error {
	n := p.node
	if pid.Node == n.name {
		if q := n.proc(pid); q != nil {
			q.exitSignal(p.pid, reason, false)
		}
		return nil
	}
	return n.sendControl(ctx, pid.Node, &dist.Control{Op: dist.OpPayloadExit2, From: p.pid, To: pid}, reason)
}

// nodeDown fires the links and monitors this process has across node.
func (p *Process) nodeDown(node etf.Atom) {
	p.mu.Lock()
	var linked []etf.Pid
	for pid := range p.links {
		if pid.Node == node {
			linked = append(linked, pid)
		}
	}
	var refs []etf.Ref
	for ref, target := range p.monitors {
		if nd, _ := targetNode(target); nd == node {
			refs = append(refs, ref)
		}
	}
	for ref, w := range p.watchers {
		if w.pid.Node == node {
			delete(p.watchers, ref)
		}
	}
	p.mu.Unlock()
	for _, ref := range refs {
		p.down(ref, NoConn)
	}
	for _, pid := range linked {
		p.exitSignal(pid, NoConn, true)
	}
}

// exit ends the process once: it unregisters it and sends its links and
// watchers their signals.
func (p *Process) exit(reason etf.Term) {
	p.mu.Lock()
	if p.exited {
		p.mu.Unlock()
		return
	}
	p.exited = true
	p.reason = reason
	p.queue, p.qbase = nil, nil
	links := p.links
	monitors := p.monitors
	watchers := p.watchers
	aliases := p.aliases
	name := p.name
	p.links, p.monitors, p.watchers, p.aliases = nil, nil, nil, nil
	p.mu.Unlock()
	p.cancel()

	n := p.node
	n.mu.Lock()
	delete(n.procs, p.pid)
	if name != "" && n.names[name] == p {
		delete(n.names, name)
	}
	for ref := range aliases {
		if n.aliases[ref] == p {
			delete(n.aliases, ref)
		}
	}
	n.mu.Unlock()

	for pid := range links {
		if pid.Node == n.name {
			if q := n.proc(pid); q != nil {
				q.exitSignal(p.pid, reason, true)
			}
			continue
		}
		n.sendControlNoConnect(pid.Node, &dist.Control{Op: dist.OpPayloadExit, From: p.pid, To: pid}, reason)
	}
	for ref, target := range monitors {
		_ = n.demonitor(n.ctx, p.pid, ref, target)
	}
	for ref, w := range watchers {
		if w.pid.Node == n.name {
			if q := n.proc(w.pid); q != nil {
				q.down(ref, reason)
			}
			continue
		}
		var proc etf.Term = p.pid
		if w.name != "" {
			proc = w.name
		}
		n.sendControlNoConnect(w.pid.Node, &dist.Control{Op: dist.OpPayloadMonitorPExit, From: proc, To: w.pid, Ref: ref}, reason)
	}
}
