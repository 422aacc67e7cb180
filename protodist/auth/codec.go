package auth

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
)

// Protocol constants of barrel_p2p_dist_protocol (auth.md §0, §3).
const (
	// ProtocolVersion is the HELLO version byte; v1 peers are refused.
	ProtocolVersion = 2

	PublicKeySize = 32
	NonceSize     = 32
	SignatureSize = 64
	BindingSize   = 32

	// MaxMessage is the largest message a u16 frame prefix can carry.
	MaxMessage = 0xFFFF
)

// MsgType is the first byte of an auth message.
type MsgType uint8

// The five auth message types.
const (
	TypeHello     MsgType = 1
	TypeChallenge MsgType = 2
	TypeResponse  MsgType = 3
	TypeOK        MsgType = 4
	TypeFail      MsgType = 5
)

// Message is one decoded auth message.
type Message interface {
	// Type is the message type byte.
	Type() MsgType
	// AppendTo appends the encoded message (without frame prefix).
	AppendTo(dst []byte) []byte
	// Term is the Erlang term barrel_p2p_dist_protocol:decode/1 returns for
	// this message, as io_lib prints it; used inside error terms such as
	// {unexpected_message,X}.
	Term() string
}

// Hello is AUTH_HELLO: the sender's node name and Ed25519 public key.
type Hello struct {
	Name      string // raw bytes of the full node name
	PublicKey [PublicKeySize]byte
}

// Challenge is AUTH_CHALLENGE: a fresh nonce and the sender's wall clock in
// Unix milliseconds.
type Challenge struct {
	Nonce     [NonceSize]byte
	Timestamp uint64
}

// Response is AUTH_RESPONSE: the Ed25519 signature of the signed message.
type Response struct {
	Signature [SignatureSize]byte
}

// OK is AUTH_OK, sent only by the server.
type OK struct{}

// Fail is AUTH_FAIL with its reason text (any bytes).
type Fail struct {
	Reason string
}

func (Hello) Type() MsgType     { return TypeHello }
func (Challenge) Type() MsgType { return TypeChallenge }
func (Response) Type() MsgType  { return TypeResponse }
func (OK) Type() MsgType        { return TypeOK }
func (Fail) Type() MsgType      { return TypeFail }

// AppendTo encodes the HELLO. Like barrel_p2p's encoder it does not validate
// the name; the receiver does.
func (m Hello) AppendTo(dst []byte) []byte {
	dst = append(dst, byte(TypeHello), ProtocolVersion)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(m.Name)))
	dst = append(dst, m.Name...)
	return append(dst, m.PublicKey[:]...)
}

func (m Challenge) AppendTo(dst []byte) []byte {
	dst = append(dst, byte(TypeChallenge))
	dst = append(dst, m.Nonce[:]...)
	return binary.BigEndian.AppendUint64(dst, m.Timestamp)
}

func (m Response) AppendTo(dst []byte) []byte {
	dst = append(dst, byte(TypeResponse))
	return append(dst, m.Signature[:]...)
}

func (OK) AppendTo(dst []byte) []byte { return append(dst, byte(TypeOK)) }

func (m Fail) AppendTo(dst []byte) []byte {
	dst = append(dst, byte(TypeFail))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(m.Reason)))
	return append(dst, m.Reason...)
}

func (m Hello) Term() string {
	return "{hello," + erlBinary([]byte(m.Name)) + "," + erlBinary(m.PublicKey[:]) + "}"
}

func (m Challenge) Term() string {
	return "{challenge," + erlBinary(m.Nonce[:]) + "," + strconv.FormatUint(m.Timestamp, 10) + "}"
}

func (m Response) Term() string { return "{response," + erlBinary(m.Signature[:]) + "}" }
func (OK) Term() string         { return "ok" }
func (m Fail) Term() string     { return "{fail," + erlBinary([]byte(m.Reason)) + "}" }

func (m Hello) String() string {
	return fmt.Sprintf("HELLO(%q, %s)", m.Name, hex.EncodeToString(m.PublicKey[:]))
}

// Encode returns the encoded message without frame prefix. It fails only
// when a HELLO name or FAIL reason does not fit the u16 length fields.
func Encode(m Message) ([]byte, error) {
	switch v := m.(type) {
	case Hello:
		if len(v.Name) > MaxMessage-4-PublicKeySize {
			return nil, fmt.Errorf("auth: encode HELLO: name of %d bytes too long", len(v.Name))
		}
	case Fail:
		if len(v.Reason) > MaxMessage-3 {
			return nil, fmt.Errorf("auth: encode FAIL: reason of %d bytes too long", len(v.Reason))
		}
	case nil:
		return nil, fmt.Errorf("auth: encode: nil message")
	}
	return m.AppendTo(nil), nil
}

// DecodeError is a decode failure with barrel_p2p's reason term.
type DecodeError struct {
	// Reason is the atom: malformed_message, invalid_hello_payload,
	// invalid_node_name, unsupported_version, unknown_message_type,
	// invalid_challenge_payload, invalid_response_payload or
	// invalid_fail_payload.
	Reason string
	// Value is the version or type byte for unsupported_version and
	// unknown_message_type, else -1.
	Value int
}

// Term renders the error as decode/1 returns it, e.g.
// {error,{unsupported_version,1}}.
func (e *DecodeError) Term() string {
	if e.Value >= 0 {
		return "{error,{" + e.Reason + "," + strconv.Itoa(e.Value) + "}}"
	}
	return "{error," + e.Reason + "}"
}

func (e *DecodeError) Error() string { return "auth: decode: " + e.Term() }

func decodeErr(reason string) *DecodeError { return &DecodeError{Reason: reason, Value: -1} }

// Decode parses one message (frame prefix already removed) with the exact
// rules of barrel_p2p_dist_protocol:decode/1 (auth.md §3.6): fixed sizes,
// no trailing bytes, the HELLO name validated. It never panics and copies
// what it keeps, so msg may be reused.
func Decode(msg []byte) (Message, error) {
	if len(msg) == 0 {
		return nil, decodeErr("malformed_message")
	}
	t := msg[0]
	switch MsgType(t) {
	case TypeHello:
		if len(msg) == 1 {
			return nil, &DecodeError{Reason: "unknown_message_type", Value: 1}
		}
		if v := msg[1]; v != ProtocolVersion || len(msg) < 4 {
			// Too short for the name length falls through to the version
			// clause in barrel_p2p, hence {unsupported_version,2}.
			return nil, &DecodeError{Reason: "unsupported_version", Value: int(v)}
		}
		n := int(binary.BigEndian.Uint16(msg[2:4]))
		if len(msg) != 4+n+PublicKeySize {
			return nil, decodeErr("invalid_hello_payload")
		}
		name := msg[4 : 4+n]
		if !validNodeName(name) {
			return nil, decodeErr("invalid_node_name")
		}
		h := Hello{Name: string(name)}
		copy(h.PublicKey[:], msg[4+n:])
		return h, nil
	case TypeChallenge:
		if len(msg) != 1+NonceSize+8 {
			return nil, decodeErr("invalid_challenge_payload")
		}
		var c Challenge
		copy(c.Nonce[:], msg[1:1+NonceSize])
		c.Timestamp = binary.BigEndian.Uint64(msg[1+NonceSize:])
		return c, nil
	case TypeResponse:
		if len(msg) != 1+SignatureSize {
			return nil, decodeErr("invalid_response_payload")
		}
		var r Response
		copy(r.Signature[:], msg[1:])
		return r, nil
	case TypeOK:
		if len(msg) != 1 {
			return nil, &DecodeError{Reason: "unknown_message_type", Value: 4}
		}
		return OK{}, nil
	case TypeFail:
		if len(msg) < 3 || int(binary.BigEndian.Uint16(msg[1:3])) != len(msg)-3 {
			return nil, decodeErr("invalid_fail_payload")
		}
		return Fail{Reason: string(msg[3:])}, nil
	}
	return nil, &DecodeError{Reason: "unknown_message_type", Value: int(t)}
}

// decodeTerm is the printed result of decode/1 for msg: the message term or
// the {error,_} term.
func decodeTerm(m Message, err error) string {
	if de, ok := err.(*DecodeError); ok {
		return de.Term()
	}
	if m == nil {
		return "undefined"
	}
	return m.Term()
}
