// Package examples holds small programs that show barrelgo from a user's
// side: a Go gen_server Erlang calls, Go calling Erlang, joining a
// barrel_p2p cluster, and an interop test suite. Its test keeps the code
// quoted in docs/ identical to these programs.
package examples
