package node

import (
	"github.com/barrelgo/barrelgo/dist"
	"github.com/barrelgo/barrelgo/etf"
)

// HandleMessage dispatches a message from a peer connection. It runs on the
// connection's reader goroutine, so it only queues and bookkeeps.
func (n *Node) HandleMessage(c *dist.Conn, m *dist.Message) {
	ctl := m.Control
	switch ctl.Op {
	case dist.OpSend, dist.OpSendTT, dist.OpSendSender, dist.OpSendSenderTT:
		if q := n.proc(ctl.To.(etf.Pid)); q != nil {
			q.deliver(m.Payload)
		}
	case dist.OpRegSend, dist.OpRegSendTT:
		if q := n.Whereis(ctl.To.(etf.Atom)); q != nil {
			q.deliver(m.Payload)
		} else {
			n.log.Debug("message to unregistered name dropped", "name", string(ctl.To.(etf.Atom)), "from", etf.Format(ctl.From))
		}
	case dist.OpAliasSend, dist.OpAliasSendTT:
		n.mu.RLock()
		q := n.aliases[ctl.To.(etf.Ref)]
		n.mu.RUnlock()
		if q != nil {
			q.deliver(m.Payload)
		}
	case dist.OpLink:
		from, to := ctl.From.(etf.Pid), ctl.To.(etf.Pid)
		q := n.proc(to)
		if q == nil || !q.addLink(from) {
			n.sendControlNoConnect(from.Node, &dist.Control{Op: dist.OpPayloadExit, From: to, To: from}, NoProc)
		}
	case dist.OpUnlinkID:
		from, to := ctl.From.(etf.Pid), ctl.To.(etf.Pid)
		if q := n.proc(to); q != nil {
			q.mu.Lock()
			delete(q.links, from)
			q.mu.Unlock()
		}
		n.sendControlNoConnect(from.Node, &dist.Control{Op: dist.OpUnlinkIDAck, ID: ctl.ID, From: to, To: from}, nil)
	case dist.OpUnlinkIDAck, dist.OpUnlink, dist.OpNodeLink, dist.OpGroupLeader:
		// Nothing to do: our side dropped the link when it sent UNLINK_ID.
	case dist.OpExit, dist.OpExitTT, dist.OpPayloadExit, dist.OpPayloadExitTT:
		if q := n.proc(ctl.To.(etf.Pid)); q != nil {
			q.exitSignal(ctl.From.(etf.Pid), reasonOf(m), true)
		}
	case dist.OpExit2, dist.OpExit2TT, dist.OpPayloadExit2, dist.OpPayloadExit2TT:
		if q := n.proc(ctl.To.(etf.Pid)); q != nil {
			q.exitSignal(ctl.From.(etf.Pid), reasonOf(m), false)
		}
	case dist.OpMonitorP:
		// The wire allows an atom here; only a pid can be told of the exit.
		from, ok := ctl.From.(etf.Pid)
		if !ok {
			n.log.Debug("MONITOR_P from a name ignored", "from", etf.Format(ctl.From), "peer", string(c.Peer()))
			return
		}
		var q *Process
		w := watcher{pid: from}
		switch t := ctl.To.(type) {
		case etf.Pid:
			q = n.proc(t)
		case etf.Atom:
			q = n.Whereis(t)
			w.name = t
		}
		if q == nil || !q.addWatcher(ctl.Ref, w) {
			n.sendControlNoConnect(from.Node, &dist.Control{Op: dist.OpPayloadMonitorPExit,
				From: ctl.To, To: from, Ref: ctl.Ref}, NoProc)
		}
	case dist.OpDemonitorP:
		var q *Process
		switch t := ctl.To.(type) {
		case etf.Pid:
			q = n.proc(t)
		case etf.Atom:
			q = n.Whereis(t)
		}
		if q != nil {
			q.mu.Lock()
			delete(q.watchers, ctl.Ref)
			q.mu.Unlock()
		}
	case dist.OpMonitorPExit, dist.OpPayloadMonitorPExit:
		to, _ := ctl.To.(etf.Pid)
		if q := n.proc(to); q != nil {
			q.down(ctl.Ref, reasonOf(m))
		}
	case dist.OpSpawnRequest, dist.OpSpawnRequestTT:
		n.spawnRequest(c.Peer(), ctl, m.Payload)
	case dist.OpSpawnReply, dist.OpSpawnReplyTT:
		n.spawnReply(ctl)
	default:
		n.log.Debug("control message ignored", "op", ctl.Op.String(), "peer", string(c.Peer()))
	}
}

func reasonOf(m *dist.Message) etf.Term {
	switch m.Control.Op {
	case dist.OpPayloadExit, dist.OpPayloadExitTT, dist.OpPayloadExit2, dist.OpPayloadExit2TT, dist.OpPayloadMonitorPExit:
		return m.Payload
	}
	return m.Control.Reason
}
