// Package plumtree implements barrel_p2p's Plumtree broadcast (epidemic
// broadcast trees) as a pure, deterministic state machine plus the codecs of
// its four wire messages, so a Go node can relay and originate gossip exactly
// as barrel_p2p_plumtree does.
// The State never touches the network or a clock: the caller feeds it inputs
// with the current time and carries out the Actions it returns.
//
// # Wire
//
// Every message is sent to the registered name barrel_p2p_plumtree (see
// ProcessName) as {'$barrel_p2p_plumtree', Msg} with nosuspend semantics:
//
//	{gossip, MsgId, Tag, Payload, Sender}   full body, Sender = immediate sender
//	{ihave, MsgId, Sender}                  one id per message
//	{graft, MsgId, Sender}                  "resend MsgId and push to me"
//	{prune, Sender}                         "stop pushing bodies to me"
//
// Tag and Payload are relayed unchanged, whatever they are: the State keeps
// them as the decoded term trees, which the etf package re-encodes losslessly.
//
// # Driving the State
//
// Inputs (each takes the current time and returns the Actions to perform):
//
//	New(cfg, activeView)      eager = active view, lazy = []
//	Start(now)                arms the cache-sweep timer
//	Broadcast / BroadcastID   local broadcast (barrel_p2p_plumtree:broadcast/2,3)
//	Receive(now, msg)         a decoded GOSSIP, IHAVE, GRAFT or PRUNE
//	NeighborUp / NeighborDown HyParView peer_up / peer_down
//	Fire(now, timer)          a timer set by a SetTimer action expired
//
// Actions:
//
//	Send{To, Msg}      REG_SEND Envelope(Msg) to {barrel_p2p_plumtree, To}
//	Deliver{...}       hand {Tag, Payload} to local subscribers (once per id)
//	SetTimer{T, After} call Fire(now, T) after the delay
//	CancelTimer{T}     the timer is no longer needed (ignoring it is safe:
//	                   stale timers are recognised and do nothing)
package plumtree
