package handshake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Message tags (the first byte of each handshake message).
const (
	tagName      = 'N'
	tagOldName   = 'n'
	tagStatus    = 's'
	tagReply     = 'r'
	tagAck       = 'a'
	digestSize   = 16
	nameHdrSize  = 1 + 8 + 4 + 2
	chalHdrSize  = 1 + 8 + 4 + 4 + 2
	replySize    = 1 + 4 + digestSize
	ackSize      = 1 + digestSize
	namedPrefix  = "named:"
	statusTrue   = "true"
	statusFalse  = "false"
	maxNameBytes = 255
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed handshake message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// NameMessage is send_name, the initiator's first message:
// 'N', flags u64, creation u32, name length u16, name.
type NameMessage struct {
	Flags    Flags
	Creation uint32
	Name     string
}

// ChallengeMessage is send_challenge, the acceptor's 'N' after the status:
// 'N', flags u64, challenge u32, creation u32, name length u16, name.
type ChallengeMessage struct {
	Flags     Flags
	Challenge uint32
	Creation  uint32
	Name      string
}

// ReplyMessage is send_challenge_reply: 'r', the initiator's own challenge
// u32, and its digest of the acceptor's challenge.
type ReplyMessage struct {
	Challenge uint32
	Digest    [digestSize]byte
}

// AckMessage is send_challenge_ack: 'a' and the acceptor's digest of the
// initiator's challenge.
type AckMessage struct {
	Digest [digestSize]byte
}

// Status is the acceptor's verdict on a connection attempt ('s' message).
type Status uint8

// Statuses, in the vocabulary of dist_util:send_status/2.
const (
	StatusOK Status = iota + 1
	StatusOKSimultaneous
	StatusNok
	StatusNotAllowed
	StatusAlive
	// StatusNamed answers a NAME_ME request; it is recognised but never sent.
	StatusNamed
)

var statusText = map[Status]string{
	StatusOK:             "ok",
	StatusOKSimultaneous: "ok_simultaneous",
	StatusNok:            "nok",
	StatusNotAllowed:     "not_allowed",
	StatusAlive:          "alive",
	StatusNamed:          "named",
}

// String returns the status as it travels on the wire.
func (s Status) String() string {
	if t, ok := statusText[s]; ok {
		return t
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// Marshal encodes the message.
func (m NameMessage) Marshal() ([]byte, error) {
	name, err := latin1(m.Name)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, nameHdrSize+len(name))
	b = append(b, tagName)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Flags))
	b = binary.BigEndian.AppendUint32(b, m.Creation)
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	return append(b, name...), nil
}

// ParseNameMessage decodes send_name. Like dist_util, it ignores bytes after
// the name.
func ParseNameMessage(b []byte) (NameMessage, error) {
	if len(b) > 0 && b[0] == tagOldName {
		return NameMessage{}, malformed("old 'n' name message (distribution version 5, before OTP 23) is not supported")
	}
	if len(b) < nameHdrSize || b[0] != tagName {
		return NameMessage{}, malformed("want 'N' name message of at least %d bytes, got % x", nameHdrSize, head(b))
	}
	name, err := parseName(b[nameHdrSize-2:])
	if err != nil {
		return NameMessage{}, err
	}
	return NameMessage{
		Flags:    Flags(binary.BigEndian.Uint64(b[1:])),
		Creation: binary.BigEndian.Uint32(b[9:]),
		Name:     name,
	}, nil
}

// Marshal encodes the message.
func (m ChallengeMessage) Marshal() ([]byte, error) {
	name, err := latin1(m.Name)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, chalHdrSize+len(name))
	b = append(b, tagName)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Flags))
	b = binary.BigEndian.AppendUint32(b, m.Challenge)
	b = binary.BigEndian.AppendUint32(b, m.Creation)
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	return append(b, name...), nil
}

// ParseChallengeMessage decodes send_challenge. Like dist_util, it ignores
// bytes after the name.
func ParseChallengeMessage(b []byte) (ChallengeMessage, error) {
	if len(b) < chalHdrSize || b[0] != tagName {
		return ChallengeMessage{}, malformed("want 'N' challenge message of at least %d bytes, got % x", chalHdrSize, head(b))
	}
	name, err := parseName(b[chalHdrSize-2:])
	if err != nil {
		return ChallengeMessage{}, err
	}
	return ChallengeMessage{
		Flags:     Flags(binary.BigEndian.Uint64(b[1:])),
		Challenge: binary.BigEndian.Uint32(b[9:]),
		Creation:  binary.BigEndian.Uint32(b[13:]),
		Name:      name,
	}, nil
}

// Marshal encodes the message.
func (m ReplyMessage) Marshal() []byte {
	b := make([]byte, 0, replySize)
	b = append(b, tagReply)
	b = binary.BigEndian.AppendUint32(b, m.Challenge)
	return append(b, m.Digest[:]...)
}

// ParseReplyMessage decodes send_challenge_reply, which dist_util only
// accepts at exactly 21 bytes.
func ParseReplyMessage(b []byte) (ReplyMessage, error) {
	if len(b) != replySize || b[0] != tagReply {
		return ReplyMessage{}, malformed("want %d-byte 'r' challenge reply, got %d bytes % x", replySize, len(b), head(b))
	}
	var m ReplyMessage
	m.Challenge = binary.BigEndian.Uint32(b[1:])
	copy(m.Digest[:], b[5:])
	return m, nil
}

// Marshal encodes the message.
func (m AckMessage) Marshal() []byte {
	return append([]byte{tagAck}, m.Digest[:]...)
}

// ParseAckMessage decodes send_challenge_ack, which dist_util only accepts at
// exactly 17 bytes.
func ParseAckMessage(b []byte) (AckMessage, error) {
	if len(b) != ackSize || b[0] != tagAck {
		return AckMessage{}, malformed("want %d-byte 'a' challenge ack, got %d bytes % x", ackSize, len(b), head(b))
	}
	var m AckMessage
	copy(m.Digest[:], b[1:])
	return m, nil
}

// MarshalStatus encodes a status message. StatusNamed cannot be sent: it
// needs a name and creation we never hand out.
func MarshalStatus(s Status) ([]byte, error) {
	if s == StatusNamed || statusText[s] == "" {
		return nil, fmt.Errorf("handshake: cannot send status %v", s)
	}
	return append([]byte{tagStatus}, statusText[s]...), nil
}

// ParseStatus decodes a status message. The text must match exactly, as in
// dist_util; a "named:" status is recognised without decoding its payload.
func ParseStatus(b []byte) (Status, error) {
	if len(b) < 2 || b[0] != tagStatus {
		return 0, malformed("want 's' status message, got % x", head(b))
	}
	text := string(b[1:])
	if strings.HasPrefix(text, namedPrefix) {
		return StatusNamed, nil
	}
	for s, t := range statusText {
		if s != StatusNamed && t == text {
			return s, nil
		}
	}
	return 0, malformed("unknown status %q", head(b[1:]))
}

// marshalAliveReply encodes the initiator's answer to StatusAlive.
func marshalAliveReply(alive bool) []byte {
	if alive {
		return append([]byte{tagStatus}, statusTrue...)
	}
	return append([]byte{tagStatus}, statusFalse...)
}

// ParseAliveReply decodes the initiator's answer to StatusAlive: "strue" or
// "sfalse", nothing else.
func ParseAliveReply(b []byte) (bool, error) {
	switch string(b) {
	case "s" + statusTrue:
		return true, nil
	case "s" + statusFalse:
		return false, nil
	}
	return false, malformed("want status reply strue or sfalse, got %q", head(b))
}

// parseName reads a u16 length and that many name bytes. OTP writes node
// names with atom_to_binary(Node, latin1), so each byte is one character.
func parseName(b []byte) (string, error) {
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if n > len(b) {
		return "", malformed("name length %d exceeds the %d bytes left", n, len(b))
	}
	if n > maxNameBytes {
		return "", malformed("name of %d bytes exceeds the %d-character atom limit", n, maxNameBytes)
	}
	runes := make([]rune, n)
	for i, c := range b[:n] {
		runes[i] = rune(c)
	}
	return string(runes), nil
}

// latin1 encodes a node name the way OTP puts it on the wire.
func latin1(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return nil, fmt.Errorf("handshake: node name %q is not Latin-1, which the handshake requires", s)
		}
		out = append(out, byte(r))
	}
	if len(out) > maxNameBytes {
		return nil, fmt.Errorf("handshake: node name of %d characters exceeds the %d-character limit", len(out), maxNameBytes)
	}
	return out, nil
}

// head keeps error messages short when a peer sends junk.
func head(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
