package protodist

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

// A stream deadline firing just before ctx notices is still the handshake
// deadline: handshake.stepError (and doctor) need context.DeadlineExceeded.
func TestCtlFramerStreamDeadlineIsContextDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	f := &ctlFramer{}
	err := f.readErr(ctx, fmt.Errorf("quic: %w", os.ErrDeadlineExceeded))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("readErr = %v, want context.DeadlineExceeded", err)
	}
	// Without a deadline on ctx, a stream deadline is someone else's.
	err = f.readErr(context.Background(), os.ErrDeadlineExceeded)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("readErr without ctx deadline = %v", err)
	}
}
