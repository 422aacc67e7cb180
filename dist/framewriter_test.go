package dist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/internal/raceflag"
	"github.com/barrelgo/barrelgo/internal/syncbuf"
)

// writtenFrames splits a written stream into its frames.
func writtenFrames(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			t.Fatalf("stream ends inside a length prefix")
		}
		n := int(binary.BigEndian.Uint32(b))
		if len(b) < 4+n {
			t.Fatalf("stream ends inside a %d-byte frame", n)
		}
		out = append(out, b[4:4+n])
		b = b[4+n:]
	}
	return out
}

func TestFrameWriterOrderAndContent(t *testing.T) {
	for _, copyLimit := range []int{0, -1} {
		t.Run(fmt.Sprint("copyLimit=", copyLimit), func(t *testing.T) {
			var out syncbuf.Buffer
			fw := NewFrameWriter(&out, FrameWriterOptions{CopyLimit: copyLimit, MaxQueued: 8 << 10})
			const writers, msgs = 4, 300
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range msgs {
						// Every 7th message has a frame above the copy
						// limit; the second frame is empty, like a tick.
						size := 10 + i%50
						if i%7 == 0 {
							size = 9000
						}
						head := bytes.Repeat([]byte{byte(w)}, size)
						binary.BigEndian.PutUint32(head, uint32(i))
						if err := fw.WriteFrames([][]byte{head, {}}); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			fw.Close(time.Minute)
			fw.Wait()
			frames := writtenFrames(t, out.Bytes())
			if len(frames) != 2*writers*msgs {
				t.Fatalf("%d frames written, want %d", len(frames), 2*writers*msgs)
			}
			next := make([]int, writers)
			for i := 0; i < len(frames); i += 2 {
				f := frames[i]
				w := int(f[len(f)-1])
				if w >= writers || len(frames[i+1]) != 0 {
					t.Fatalf("frame %d: writer %d, following frame %d bytes: messages interleaved", i, w, len(frames[i+1]))
				}
				if seq := int(binary.BigEndian.Uint32(f)); seq != next[w] {
					t.Fatalf("writer %d: message %d arrived after %d", w, seq, next[w]-1)
				}
				if bytes.Count(f[4:], []byte{byte(w)}) != len(f)-4 {
					t.Fatalf("writer %d message %d: content changed", w, next[w])
				}
				next[w]++
			}
		})
	}
}

// blockingWriter blocks every Write until released, then fails them all.
type blockingWriter struct {
	release chan struct{}
	started chan struct{}
	once    sync.Once
}

var errBroken = errors.New("broken pipe")

func (b *blockingWriter) Write(p []byte) (int, error) {
	b.once.Do(func() { close(b.started) })
	<-b.release
	return 0, errBroken
}

func TestFrameWriterBackpressureAndError(t *testing.T) {
	bw := &blockingWriter{release: make(chan struct{}), started: make(chan struct{})}
	failed := make(chan error, 1)
	fw := NewFrameWriter(bw, FrameWriterOptions{MaxQueued: 100, OnError: func(err error) { failed <- err }})
	frame := make([]byte, 60)
	if err := fw.WriteFrames([][]byte{frame}); err != nil {
		t.Fatal(err)
	}
	<-bw.started // the first batch is now stuck in Write
	// 64 bytes queued, under the bound; 128 is over it, so the third
	// write waits.
	for range 2 {
		if err := fw.WriteFrames([][]byte{frame}); err != nil {
			t.Fatal(err)
		}
	}
	blocked := make(chan error, 1)
	go func() { blocked <- fw.WriteFrames([][]byte{frame}) }()
	select {
	case err := <-blocked:
		t.Fatalf("WriteFrames returned (%v) with the queue over its bound", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(bw.release)
	if err := <-blocked; !errors.Is(err, errBroken) {
		t.Errorf("blocked WriteFrames returned %v, want the write error", err)
	}
	if err := <-failed; !errors.Is(err, errBroken) {
		t.Errorf("OnError got %v", err)
	}
	if err := fw.WriteFrames([][]byte{frame}); !errors.Is(err, errBroken) {
		t.Errorf("WriteFrames after a failed write: %v", err)
	}
	fw.Close(0)
	fw.Wait()
}

func TestFrameWriterClose(t *testing.T) {
	// Never started: Close ends it without a goroutine.
	idle := NewFrameWriter(io.Discard, FrameWriterOptions{})
	idle.Close(0)
	idle.Wait()
	if err := idle.WriteFrames([][]byte{{1}}); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("WriteFrames after Close: %v", err)
	}

	var out syncbuf.Buffer
	fw := NewFrameWriter(&out, FrameWriterOptions{})
	for i := range 100 {
		if err := fw.WriteFrames([][]byte{{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	fw.Close(time.Minute)
	fw.Wait()
	if got := writtenFrames(t, out.Bytes()); len(got) != 100 {
		t.Errorf("%d frames written before Close returned, want all 100", len(got))
	}
	fw.Close(0) // idempotent
}

// gateWriter blocks every Write until the gate current at its start is
// opened, and records what it wrote.
type gateWriter struct {
	entered chan struct{}
	mu      sync.Mutex
	gate    chan struct{}
	syncbuf.Buffer
}

func (g *gateWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-gate
	return g.Buffer.Write(p)
}

// open lets the writes waiting now through; later ones wait again.
func (g *gateWriter) open() {
	g.mu.Lock()
	close(g.gate)
	g.gate = make(chan struct{})
	g.mu.Unlock()
}

// A recycled buffer goes back to the pool only once the frames pointing
// into it are written, and at once when every frame was copied: a buffer
// recycled early would be reused under a write still reading it.
func TestFrameWriterRecycle(t *testing.T) {
	g := &gateWriter{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	w := NewFrameWriter(g, FrameWriterOptions{CopyLimit: 16})
	recycled := make(chan []byte, 4)
	w.recycle = func(b []byte) { recycled <- b }

	small := []byte("tiny")
	if err := w.WriteFramesRecycle([][]byte{small}, small); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-recycled:
		if &b[0] != &small[0] {
			t.Fatal("recycled another buffer")
		}
	default:
		t.Fatal("a copied frame's buffer was not recycled at once")
	}
	<-g.entered // the writer goroutine is writing "tiny"
	big := bytes.Repeat([]byte{7}, 100)
	if err := w.WriteFramesRecycle([][]byte{big[:50], big[50:]}, big); err != nil {
		t.Fatal(err)
	}
	select {
	case <-recycled:
		t.Fatal("recycled while its frames were queued")
	default:
	}
	g.open()    // "tiny" written
	<-g.entered // the batch with big's frames
	select {
	case <-recycled:
		t.Fatal("recycled while its frames were being written")
	default:
	}
	close(g.gate) // and every write from now on
	b := <-recycled
	if &b[0] != &big[0] {
		t.Fatal("recycled another buffer")
	}
	w.Close(0)
	w.Wait()
	got := g.Bytes()
	want := append(binary.BigEndian.AppendUint32(nil, 4), small...)
	want = append(binary.BigEndian.AppendUint32(want, 50), big[:50]...)
	want = append(binary.BigEndian.AppendUint32(want, 50), big[50:]...)
	if !bytes.Equal(got, want) {
		t.Fatalf("wrote %x, want %x", got, want)
	}
}

func TestBufPoolClasses(t *testing.T) {
	for _, n := range []int{0, 100, 4 << 10, 5 << 10, 1 << 20, 3 << 20, 16 << 20, 40 << 20} {
		b := getBuf(n)
		if len(b) != 0 || cap(b) < n {
			t.Fatalf("getBuf(%d): len %d cap %d", n, len(b), cap(b))
		}
		putBuf(append(b, 1))
	}
	if h := sizeHint(etf.Tuple{etf.Atom("big"), make([]byte, 1<<20)}); h < 1<<20 {
		t.Fatalf("sizeHint of a 1 MiB binary message = %d", h)
	}
}

// A sender that keeps the queue full while the peer reads slowly fills
// the flat buffer to about MaxQueued; it must stay small enough to be kept
// and reused, not be doubled past the limit and dropped after every batch
// (which cost a new buffer, grown from nothing, every few hundred small
// messages).
func TestFrameWriterKeepsFullBuffer(t *testing.T) {
	g := &gateWriter{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	w := NewFrameWriter(g, FrameWriterOptions{})
	frame := bytes.Repeat([]byte{1}, 100)
	if err := w.WriteFrames([][]byte{frame}); err != nil {
		t.Fatal(err)
	}
	<-g.entered // the writer goroutine holds the first batch at the gate
	// Fill the queue up to MaxQueued behind it: the flat buffer grows.
	for {
		w.mu.Lock()
		full := w.queued >= w.maxQueued
		w.mu.Unlock()
		if full {
			break
		}
		if err := w.WriteFrames([][]byte{frame}); err != nil {
			t.Fatal(err)
		}
	}
	w.mu.Lock()
	grown := cap(w.flat)
	w.mu.Unlock()
	if grown > w.keepFlat {
		t.Fatalf("flat buffer grew to %d bytes, past the %d kept for reuse", grown, w.keepFlat)
	}
	close(g.gate) // let every batch through
	w.Close(time.Minute)
	w.Wait()
	if got := len(writtenFrames(t, g.Bytes())); got < 2 {
		t.Fatalf("%d frames written", got)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if cap(w.spare) != grown && cap(w.flat) != grown {
		t.Fatalf("the %d-byte buffer was not kept (spare %d, flat %d)", grown, cap(w.spare), cap(w.flat))
	}
}

func TestFrameWriterGrow(t *testing.T) {
	w := NewFrameWriter(io.Discard, FrameWriterOptions{MaxQueued: 1 << 10})
	keep := w.keepFlat
	for _, tc := range []struct{ len, cap, need, want int }{
		{0, 0, 10, 512},                         // a first small message
		{600, 600, 10, 1200},                    // doubling below the limit
		{keep - 100, keep - 100, 50, keep},      // doubling would pass the limit: stop there
		{keep - 10, keep - 10, 50, 2*keep - 20}, // it does not fit under the limit: double
		{0, 0, keep + 1, keep + 1},              // one message larger than the limit
		{50, 200, 100, 200},                     // room left: no growth
	} {
		w.flat = make([]byte, tc.len, tc.cap)
		if got := cap(w.grow(tc.need)); got != tc.want {
			t.Errorf("grow(%d) with len %d cap %d: cap %d, want %d", tc.need, tc.len, tc.cap, got, tc.want)
		}
	}
}

// Recycling an encode buffer allocates nothing once the pools are warm:
// the box a pool stores the buffer in is recycled too.
func TestBufPoolNoAllocs(t *testing.T) {
	if raceflag.Enabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	putBuf(getBuf(5000))
	if n := testing.AllocsPerRun(1000, func() { putBuf(getBuf(5000)) }); n != 0 {
		t.Fatalf("%.2f allocations per get and put, want 0", n)
	}
}
