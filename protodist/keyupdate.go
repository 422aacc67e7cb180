package protodist

import (
	"sync/atomic"
	_ "unsafe" // go:linkname
)

// quicKeyUpdateInterval is quic-go's packet count (sent or received with
// one key) after which it starts a QUIC key update. quic-go has no option
// for it, hence the linkname; a quic-go release that renames the variable
// fails the build here rather than silently restoring the default.
//
//go:linkname quicKeyUpdateInterval github.com/quic-go/quic-go/internal/handshake.keyUpdateInterval
var quicKeyUpdateInterval atomic.Uint64

// keyUpdateInterval is the AEAD confidentiality limit of
// AEAD_AES_128_GCM (RFC 9001 §6.6), the point at which erlang_quic itself
// starts a key update.
const keyUpdateInterval = 1 << 23

func init() {
	// quic-go updates keys 100 packets into a connection and then every
	// 100,000 packets. erlang_quic 1.8.1 follows the first update but keeps
	// the previous keys afterwards and decrypts every packet of the peer's
	// second update with them: from then on it drops everything the Go node
	// sends, and the link dies (seen live after ~100k messages). Updating
	// only at the confidentiality limit leaves that failure to links that
	// carried 2^23 packets.
	if quicKeyUpdateInterval.Load() < keyUpdateInterval {
		quicKeyUpdateInterval.Store(keyUpdateInterval)
	}
}
