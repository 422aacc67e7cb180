package interop

import (
	"testing"

	"go.uber.org/goleak"
)

// Every erl VM a test starts is reaped by its cleanup; goleak checks that the
// harness's reader and waiter goroutines went with them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
