// Package interop holds barrelgo's tests against a real Erlang/OTP VM: terms
// encoded in Go are decoded by the BEAM and back, byte for byte where OTP's
// output is deterministic.
// The tests skip with one line when erl is not installed; the harness lives
// in interop/erlharness and the term generator in interop/termgen.
package interop
