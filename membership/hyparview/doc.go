// Package hyparview is barrel_p2p's HyParView membership protocol as a pure
// state machine (no goroutines, sockets or clock), with the codecs of its
// seven wire messages and of the #peer{} record.
// A runtime feeds State each input (message, nodeup/nodedown, connect result,
// timer, Join, Leave, Block) with the current time and performs the returned
// Actions; a simulation does the same with virtual time.
package hyparview
