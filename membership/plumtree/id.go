package plumtree

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/barrelgo/barrelgo/etf"
)

// MaxIDSize bounds the external encoding of a message id. barrel_p2p ids
// are 32-byte binaries (37 encoded bytes); the bound only protects the dedup
// cache from absurd ids.
const MaxIDSize = 1024

const tagBinaryExt = 109 // BINARY_EXT

// ID identifies a broadcast. barrel_p2p sends 32-byte binaries, but the
// receivers treat the id as an opaque term compared by exact equality, so
// any term is accepted. An ID holds the canonical external encoding of that
// term (no version byte, map keys in term order), which makes two ids equal
// exactly when their terms are, and makes ID comparable and usable as a map
// key. The zero ID is invalid.
type ID struct{ enc string }

// BinaryID returns the id made of the binary b (the usual form).
func BinaryID(b []byte) ID {
	buf := make([]byte, 5, 5+len(b))
	buf[0] = tagBinaryExt
	binary.BigEndian.PutUint32(buf[1:], uint32(len(b)))
	return ID{enc: string(append(buf, b...))}
}

// IDFromTerm returns the id for a received id term.
func IDFromTerm(t etf.Term) (ID, error) {
	if b, ok := t.([]byte); ok {
		if len(b)+5 > MaxIDSize {
			return ID{}, fmt.Errorf("plumtree: id of %d bytes: %w", len(b), ErrMalformed)
		}
		return BinaryID(b), nil
	}
	enc, err := etf.AppendTerm(nil, t, &etf.EncodeOptions{Deterministic: true})
	if err != nil {
		return ID{}, fmt.Errorf("plumtree: id: %w: %w", ErrMalformed, err)
	}
	if len(enc) > MaxIDSize {
		return ID{}, fmt.Errorf("plumtree: id of %d encoded bytes: %w", len(enc), ErrMalformed)
	}
	return ID{enc: string(enc)}, nil
}

// NewID computes an id the way barrel_p2p_plumtree:generate_msg_id/0 does:
// SHA-256 of term_to_binary({Node, HLCWall, HLCLogical, Rand}), with Rand
// drawn from 1..2^32-1 by the caller.
func NewID(node etf.Atom, wallMs, logical int64, rnd uint32) ID {
	b, err := etf.Encode(etf.Tuple{node, wallMs, logical, int64(rnd)})
	if err != nil {
		// Only an atom over 255 characters fails; hash its text instead so
		// the id stays unique without a failure path for callers.
		b = []byte(fmt.Sprintf("%s/%d/%d/%d", node, wallMs, logical, rnd))
	}
	sum := sha256.Sum256(b)
	return BinaryID(sum[:])
}

// IsZero reports whether id is the zero (invalid) ID.
func (id ID) IsZero() bool { return id.enc == "" }

// Bytes returns the id's bytes when it is a binary.
func (id ID) Bytes() ([]byte, bool) {
	if len(id.enc) < 5 || id.enc[0] != tagBinaryExt {
		return nil, false
	}
	n := binary.BigEndian.Uint32([]byte(id.enc[1:5]))
	if int(n) != len(id.enc)-5 {
		return nil, false
	}
	return []byte(id.enc[5:]), true
}

// Term returns the id as a term, to be put on the wire.
func (id ID) Term() etf.Term {
	if b, ok := id.Bytes(); ok {
		return b
	}
	if id.enc == "" {
		return []byte{}
	}
	t, _, err := etf.DecodeNext([]byte(id.enc), nil)
	if err != nil {
		// Unreachable: enc was produced by the encoder.
		return []byte(id.enc)
	}
	return t
}

// String returns the id in hex when it is a binary, else in Erlang syntax.
func (id ID) String() string {
	if b, ok := id.Bytes(); ok {
		return hex.EncodeToString(b)
	}
	return etf.Format(id.Term())
}
