// Package epmd speaks the Erlang Port Mapper Daemon protocol: a client that
// registers a barrelgo node and looks up other nodes' distribution ports, and
// an embedded EPMD server so that a Go-only cluster needs no Erlang install.
//
// The wire format follows the "EPMD Protocol" section of the Erlang/OTP
// Distribution Protocol guide and the behaviour of OTP's epmd (erts/epmd):
// every request is a 2-byte big-endian length followed by the request, a
// registration lives exactly as long as the TCP connection that made it, and
// other requests are answered once before the server closes the connection.
//
// The client advertises distribution versions 5..6 in ALIVE2_REQ, exactly
// what OTP's erl_epmd sends. The Distribution Protocol guide says OTP 25+
// sends 6 as the lowest version, and kernel's dist.hrl agrees, but OTP builds
// erl_epmd with -Depmd_dist_low=5 -Depmd_dist_high=6 (erts/epmd/epmd.mk, still
// so on OTP master), and an OTP 25 erl registering with our server sends 6
// and 5 (see TestErlRegistersWithEmbeddedServer). Matching OTP keeps a barrelgo node's
// EPMD entry indistinguishable from an Erlang node's; the low version costs
// nothing, because a peer picks min(its highest, our highest) = 6 and
// barrelgo, like OTP 25+, only speaks the version 6 handshake. A highest
// version of 6 is what makes epmd answer with ALIVE2_X_RESP and a 32-bit
// creation.
package epmd
