package auth

import (
	"crypto/ed25519"
	"encoding/binary"
)

// SignedMessageSize is the length of the v2 signed message.
const SignedMessageSize = NonceSize + 8 + PublicKeySize + BindingSize

// SignedMessage builds the 104-byte v2 message (auth.md §6.1): the
// challenger's nonce and timestamp as received, the signer's own public key
// and the binding, SHA-256 of the server's TLS leaf certificate DER. Node
// names are not part of it.
func SignedMessage(c Challenge, signerPub []byte, binding [BindingSize]byte) [SignedMessageSize]byte {
	var m [SignedMessageSize]byte
	copy(m[:NonceSize], c.Nonce[:])
	binary.BigEndian.PutUint64(m[NonceSize:], c.Timestamp)
	copy(m[NonceSize+8:], signerPub)
	copy(m[NonceSize+8+PublicKeySize:], binding[:])
	return m
}

// Sign answers the peer's challenge: pure Ed25519 (no prehash, no context)
// over SignedMessage with our own public key.
func Sign(k KeyPair, peer Challenge, binding [BindingSize]byte) Response {
	msg := SignedMessage(peer, k.Public, binding)
	var r Response
	copy(r.Signature[:], ed25519.Sign(k.Private, msg[:]))
	return r
}

// Verify checks the peer's RESPONSE against the challenge we sent (our own
// stored nonce and timestamp, never re-read from the wire) and the key the
// peer presented in its HELLO. Freshness is the caller's (see Ed25519).
func Verify(peerPub []byte, own Challenge, binding [BindingSize]byte, r Response) bool {
	if len(peerPub) != PublicKeySize {
		return false
	}
	msg := SignedMessage(own, peerPub, binding)
	return ed25519.Verify(ed25519.PublicKey(peerPub), msg[:], r.Signature[:])
}
