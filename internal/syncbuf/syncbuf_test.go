package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

// Writers and a reader at once: the race detector checks the locking, the
// final contents that no write was lost.
func TestConcurrentWriteAndRead(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("x"))
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			_ = b.String()
			_ = b.Bytes()
		}
	})
	wg.Wait()
	if got := b.String(); got != strings.Repeat("x", 400) {
		t.Fatalf("String() = %d bytes, want 400 x", len(got))
	}
	c := b.Bytes()
	c[0] = 'y'
	if b.String()[0] != 'x' {
		t.Fatal("Bytes() shares the buffer's storage")
	}
}
