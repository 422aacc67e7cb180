package protodist

import (
	"crypto/rand"
	"encoding/binary"
)

// randomCreation returns a non-zero creation: quic_dist has no EPMD, and
// Erlang nodes on it pick small ones; a random u32 keeps restarts apart.
func randomCreation() uint32 {
	var b [4]byte
	for {
		_, _ = rand.Read(b[:])
		if c := binary.BigEndian.Uint32(b[:]); c > 3 {
			return c
		}
	}
}
