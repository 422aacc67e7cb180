// Package auth implements barrel_p2p's Ed25519 peer authentication
// (protocol v2), the exchange on two QUIC unidirectional streams that runs
// between the TLS handshake and the Erlang distribution handshake. It also
// keeps the identity, pin store and rotation in barrel_p2p's on-disk layout,
// so that a Go node and an Erlang node can share one key directory.
//
// The carrier (protodist) calls Authenticator.Authenticate once per QUIC
// connection with the two auth streams and the channel binding; everything
// here is independent of the QUIC library.
//
// Deliberate differences from barrel_p2p, all compatible on the wire:
//   - the client checks that the server's HELLO name equals the node it
//     dialed (barrel_p2p discards the authenticated name, auth.md §1);
//   - a node.key whose public half differs from node.pub refuses to load
//     (keypair_mismatch) instead of being logged and used anyway;
//   - a surviving node.key with a missing node.pub is completed, not
//     replaced by a fresh identity;
//   - backups are written 0600 and never overwrite an earlier backup;
//   - key_mismatch is logged with both fingerprints;
//   - a peer that closes its stream mid-frame fails the read at once
//     ({connection_closed,eof}) instead of waiting for the deadline.
package auth
