package handshake

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"strconv"
)

// Digest is dist_util:gen_digest/2: MD5 of the cookie followed by the
// challenge in decimal. MD5 is what the protocol fixes; it proves knowledge
// of the shared cookie, it does not protect the connection.
func Digest(cookie string, challenge uint32) [digestSize]byte {
	buf := make([]byte, 0, len(cookie)+10)
	buf = append(buf, cookie...)
	buf = strconv.AppendUint(buf, uint64(challenge), 10)
	return md5.Sum(buf)
}

// digestMatches compares in constant time so a peer probing digests learns
// nothing from timing.
func digestMatches(got [digestSize]byte, cookie string, challenge uint32) bool {
	want := Digest(cookie, challenge)
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// newChallenge draws a challenge from crypto/rand, unlike OTP's
// statistics-based gen_challenge, so it cannot be predicted.
func newChallenge() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return binary.BigEndian.Uint32(b[:])
}
