package auth

import (
	"errors"
	"strings"
)

// Sentinels, one per barrel_p2p error atom (auth.md §8.4, §18). Every
// failure of Authenticate is an *Error that matches exactly one of them
// with errors.Is; the full barrel_p2p term is in Error.Term.
var (
	// ErrUntrustedKey: strict mode and no pin for the claimed name.
	ErrUntrustedKey = errors.New("untrusted_key")
	// ErrKeyMismatch: the name is pinned to another key (both modes), or
	// a concurrent handshake pinned another key first.
	ErrKeyMismatch = errors.New("key_mismatch")
	// ErrSignatureVerificationFailed: the peer's RESPONSE did not verify
	// or was older than the timestamp window. The server reports it to the
	// client as FAIL "signature_invalid".
	ErrSignatureVerificationFailed = errors.New("signature_verification_failed")
	// ErrAuthRejected: the peer sent AUTH_FAIL; Error.FailReason holds its
	// text (key_mismatch, untrusted_key or signature_invalid from barrel_p2p).
	ErrAuthRejected = errors.New("auth_rejected")
	// ErrAuthStreamTimeout: the auth_handshake_timeout deadline expired.
	ErrAuthStreamTimeout = errors.New("auth_stream_timeout")
	// ErrUnexpectedAuthOK: the server short-circuited with AUTH_OK but the
	// dialed node is not in our cookie_only_nodes.
	ErrUnexpectedAuthOK = errors.New("unexpected_auth_ok")
	// ErrUnexpectedMessage: a message of the wrong type for the step, or
	// one that did not decode.
	ErrUnexpectedMessage = errors.New("unexpected_message")
	// ErrPeerTSSkew: the peer's CHALLENGE timestamp is more than
	// 2 × auth_timestamp_window away from our wall clock.
	ErrPeerTSSkew = errors.New("peer_ts_skew")
	// ErrConnectionClosed: the peer's stream ended or failed.
	ErrConnectionClosed = errors.New("connection_closed")
	// ErrSendFailed: writing one of our messages failed.
	ErrSendFailed = errors.New("send_failed")
	// ErrOpenAuthStream: Streams.Open failed.
	ErrOpenAuthStream = errors.New("open_auth_stream_failed")
	// ErrChannelBinding: no binding (all-zero Streams.Binding).
	ErrChannelBinding = errors.New("channel_binding_failed")
	// ErrNameMismatch: the server's HELLO name is not the node we dialed
	// (barrelgo's extra check, auth.md §1).
	ErrNameMismatch = errors.New("hello_name_mismatch")
	// ErrInvalidNodeName: a node name fails auth.md §4.
	ErrInvalidNodeName = errors.New("invalid_node_name")
	// ErrIdentity: our own keypair could not be read (barrel_p2p returns
	// the file error, e.g. enoent).
	ErrIdentity = errors.New("identity_unavailable")
	// ErrKeypairMismatch: node.pub is not the public half of node.key.
	ErrKeypairMismatch = errors.New("keypair_mismatch")
	// ErrInvalidKeySize: a key file or key is not 32 bytes.
	ErrInvalidKeySize = errors.New("invalid_key_size")
	// ErrNonce: the random source failed.
	ErrNonce = errors.New("nonce_failed")
	// ErrCanceled: the caller's context was canceled before the deadline.
	ErrCanceled = errors.New("cancelled")
)

// Error is an authentication failure. Its Term is the error term barrel_p2p
// returns for the same failure (e.g. {recv_hello_failed,auth_stream_timeout},
// {auth_rejected,<<"key_mismatch">>}), so operators see one vocabulary on
// both implementations.
type Error struct {
	Role Role   // side that failed
	Peer string // peer node name, when known (unverified unless the step is past verification)
	Term string // barrel_p2p's term

	// FailReason is the peer's AUTH_FAIL text for ErrAuthRejected.
	FailReason string

	kind error // one of the sentinels
	Err  error // underlying cause (I/O error, context error, ...), may be nil
}

func (e *Error) Error() string {
	var sb strings.Builder
	sb.WriteString("auth: ")
	if e.Role == Client || e.Role == Server {
		sb.WriteString(e.Role.String())
		sb.WriteString(": ")
	}
	if e.Peer != "" {
		sb.WriteString("peer ")
		sb.WriteString(e.Peer)
		sb.WriteString(": ")
	}
	sb.WriteString(e.Term)
	if e.Err != nil {
		sb.WriteString(": ")
		sb.WriteString(e.Err.Error())
	}
	return sb.String()
}

// Unwrap exposes the sentinel and the cause to errors.Is / errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.Err}
}

// Kind is the sentinel this error matches.
func (e *Error) Kind() error { return e.kind }
