package dist

import (
	"bytes"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
)

// gcUntil collects garbage until cond holds (finalizers run on their own
// goroutine after a collection), failing after 10 s.
func gcUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

// gcRounds runs n collections and waits each time until the finalizers
// queued by it have run, judged by a sentinel of its own.
func gcRounds(t *testing.T, n int) {
	t.Helper()
	for range n {
		done := make(chan struct{})
		runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) { close(done) })
		deadline := time.After(10 * time.Second)
		for fired := false; !fired; {
			runtime.GC()
			select {
			case <-done:
				fired = true
			case <-time.After(time.Second):
			case <-deadline:
				t.Fatal("gave up waiting for a collection's finalizers")
			}
		}
	}
}

func (r *recycler) idle() (bufs, bytes int, watching bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.free), r.bytes, r.watching
}

func TestRecycleReusesDroppedBuffer(t *testing.T) {
	r := &recycler{keep: 8 << 20}
	b := r.get(300 << 10)
	if len(b) != 300<<10 || cap(b) != 320<<10 {
		t.Fatalf("len %d cap %d, want 300 KiB rounded up to 320 KiB", len(b), cap(b))
	}
	b[0] = 1
	b = nil
	gcUntil(t, "the dropped buffer to come back", func() bool { n, _, _ := r.idle(); return n == 1 })
	if c := r.get(290 << 10); cap(c) != 320<<10 || r.reused != 1 || r.fresh != 1 {
		t.Fatalf("second get: cap %d, reused %d, fresh %d; want the first buffer again", cap(c), r.reused, r.fresh)
	}
	// Too small a request for it: a quarter wasted at most.
	r2 := &recycler{keep: 8 << 20}
	r2.put(make([]byte, 1<<20))
	if c := r2.get(700 << 10); cap(c) == 1<<20 || r2.reused != 0 {
		t.Fatalf("a 700 KiB request took the 1 MiB buffer (reused %d)", r2.reused)
	}
	if c := r2.get(900 << 10); cap(c) != 1<<20 || r2.reused != 1 {
		t.Fatalf("a 900 KiB request did not take the 1 MiB buffer (reused %d)", r2.reused)
	}
	if c := r2.get(1000); len(c) != 1000 || r2.fresh != 1 {
		t.Fatal("small buffers are not counted as recycled")
	}
}

// A slice into the middle of a buffer keeps the whole buffer from being
// recycled: a decoded binary is such a slice.
func TestRecycleKeepsReferencedBuffer(t *testing.T) {
	r := &recycler{keep: 8 << 20}
	b := r.get(512 << 10)
	copy(b[1000:], "payload")
	kept := b[1000:1007:1007]
	b = nil
	gcRounds(t, 3)
	if n, _, _ := r.idle(); n != 0 {
		t.Fatalf("%d buffers recycled while a slice of one is alive", n)
	}
	if string(kept) != "payload" {
		t.Fatalf("kept slice reads %q", kept)
	}
	kept = nil
	gcUntil(t, "the buffer to come back once unreferenced", func() bool { n, _, _ := r.idle(); return n == 1 })
}

func TestRecycleKeepBound(t *testing.T) {
	r := &recycler{keep: 8 << 20}
	for range 3 {
		r.put(make([]byte, 3<<20))
	}
	if n, sz, _ := r.idle(); n != 2 || sz != 6<<20 {
		t.Fatalf("%d idle buffers of %d bytes, want 2 of 6 MiB under an 8 MiB bound", n, sz)
	}
}

// Idle buffers go back to the garbage collector after two collections,
// and then nothing of the recycler's stays armed.
func TestRecycleReleasesIdleBuffers(t *testing.T) {
	r := &recycler{keep: 8 << 20}
	r.put(make([]byte, 1<<20))
	if n, _, watching := r.idle(); n != 1 || !watching {
		t.Fatalf("after put: %d idle, watching %v", n, watching)
	}
	gcUntil(t, "the idle buffer to be released", func() bool {
		n, sz, watching := r.idle()
		return n == 0 && sz == 0 && !watching
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gcs != 2 {
		t.Fatalf("released after %d collections, want 2", r.gcs)
	}
}

// Messages decoded into reused buffers (filled with garbage first) come
// out the same as into fresh ones: every byte a message exposes was read.
func TestDecodeIntoRecycledBuffers(t *testing.T) {
	recvBufs.mu.Lock()
	recvBufs.scribble = true
	recvBufs.mu.Unlock()
	t.Cleanup(func() {
		recvBufs.mu.Lock()
		recvBufs.scribble = false
		recvBufs.mu.Unlock()
	})
	stream := func(seed byte) ([]byte, []etf.Term) {
		var in []byte
		var want []etf.Term
		for i, fs := range []int{64 << 10, 1 << 20, 64 << 10, 1 << 20} {
			bin := bytes.Repeat([]byte{seed + byte(i)}, 600<<10+i)
			msg := etf.Tuple{etf.Atom("bulk"), bin, int64(i)}
			frames, err := (&Encoder{Fragments: true, FragmentSize: fs}).Encode(nil, &Control{Op: OpSend, To: pidA}, msg)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range frames {
				in = append(in, byte(len(f)>>24), byte(len(f)>>16), byte(len(f)>>8), byte(len(f)))
				in = append(in, f...)
			}
			want = append(want, msg)
		}
		return in, want
	}
	run := func(in []byte, want []etf.Term) {
		msgs, placed, err := placedRun(in, 1<<20, directFrame, Limits{}, true)
		if err != io.EOF || placed == 0 {
			t.Fatalf("run ended with %v after placing %d frames", err, placed)
		}
		if len(msgs) != len(want) {
			t.Fatalf("%d messages, want %d", len(msgs), len(want))
		}
		for i, m := range msgs {
			if !etf.Equal(m.Payload, want[i]) {
				t.Fatalf("message %d decoded differently from a recycled buffer", i)
			}
		}
	}
	// Both streams are made first: two collections in between would
	// release the idle buffers.
	in1, want1 := stream(1)
	in2, want2 := stream(9)
	run(in1, want1)
	gcUntil(t, "receive buffers to come back", func() bool { n, _, _ := recvBufs.idle(); return n >= 2 })
	recvBufs.mu.Lock()
	before := recvBufs.reused
	recvBufs.mu.Unlock()
	run(in2, want2)
	recvBufs.mu.Lock()
	after := recvBufs.reused
	recvBufs.mu.Unlock()
	if after-before < 2 {
		t.Fatalf("the second run reused %d buffers, want at least 2", after-before)
	}
}
