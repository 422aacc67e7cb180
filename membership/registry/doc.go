// Package registry implements barrel_p2p's service registry for a Go node:
// HLC timestamps, the last-writer-wins OR-map keyed by {Name, Node}, the
// codecs of its deltas, full_sync/request_sync and overlay route messages,
// and a pure Registry state machine that validates everything it receives
// before merging.
// Like the plumtree package it performs no I/O and reads no clock: the
// caller passes the current time with each input and carries out the
// returned Actions.
//
// # Replication (barrel_p2p_replica, instance barrel_p2p_registry_replica)
//
//   - Register/Unregister/ServiceDown return a Broadcast action: a delta
//     {delta, Self, #{{Name, Self} => Entry}} for Plumtree with tag
//     barrel_p2p_registry_replica. Plumtree deliveries with that tag go to
//     HandleBroadcast.
//   - PeerUp pushes {full_sync, Self, LocalOrMap} to a new peer when this
//     node has a live service; HandleReplica merges received snapshots and
//     answers {request_sync, From}. Start sends request_sync to the active
//     view.
//   - PeerDown forgets every service of the node, as barrel_p2p does.
//   - Messages to the other replica instances (members heartbeats, leader,
//     reminders, maps) are accepted and dropped by HandleReplica; their
//     Plumtree gossip is relayed by the plumtree package unchanged.
//
// # Overlay router (barrel_p2p_router)
//
// HandleRouteRequest answers {route_request, Req, {Caller, Ref}} for local
// services and forwards the rest hop by hop; FindService originates a
// lookup; HandleRouteReply and Fire drive the per-hop waits.
package registry
