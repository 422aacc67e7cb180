package node

import (
	"testing"

	"go.uber.org/goleak"
)

// Nodes start listeners, connection readers, tickers and process
// goroutines; every test stops its nodes, and goleak checks nothing of them
// outlives the package's tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
