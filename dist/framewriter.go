package dist

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// FrameWriter writes length-prefixed frames (u32 big-endian length, then
// the bytes) to one ordered stream from a goroutine of its own. Writers
// queue their frames and return; the goroutine writes everything queued in
// one system call. Messages sent back to back, or by many processes at
// once, thus share a write, the way ERTS batches a dist port's queue,
// while a lone message still leaves at once: the first frame queued wakes
// the goroutine, which on the Go scheduler runs as soon as the sender
// blocks (typically waiting for the reply).
type FrameWriter struct {
	w         io.Writer
	copyLimit int
	maxQueued int
	keepFlat  int // largest flat buffer kept for reuse
	onError   func(error)

	mu     sync.Mutex
	ready  sync.Cond // the writer goroutine waits for frames
	space  sync.Cond // senders wait while the queue is full
	bufs   net.Buffers
	flat   []byte // small frames and all length prefixes are copied here
	flatAt int    // flat[:flatAt] is already in bufs
	queued int
	spare  []byte
	// backing holds the recyclable buffers that queued frames point into;
	// they go back to the pool once their batch is written.
	backing [][]byte
	recycle func([]byte)
	err     error
	closed  bool
	started bool
	done    chan struct{}
}

// FrameWriterOptions tune a FrameWriter; zero values pick the defaults.
type FrameWriterOptions struct {
	// CopyLimit: frames up to this size are copied into the queue, larger
	// ones are written from the caller's slice (with writev where w
	// supports it), so the caller must not modify them after WriteFrames.
	// Negative copies every frame, for writers that gain nothing from
	// net.Buffers (each buffer would be its own Write). Default 4 KiB.
	CopyLimit int
	// MaxQueued is how many bytes may wait before WriteFrames blocks, which
	// is what pushes a slow peer's backpressure onto senders. Default
	// 256 KiB; one message may exceed it.
	MaxQueued int
	// OnError is called once, from the writer goroutine, when a write
	// fails; carriers close their connection there so the reader ends too.
	OnError func(error)
}

// ErrWriterClosed is returned by WriteFrames after Close.
var ErrWriterClosed = errors.New("dist: frame writer closed")

// keepSlack is what the flat buffer kept for reuse may hold beyond
// MaxQueued: the message that crossed it (small frames and the headers of
// large ones).
const keepSlack = 64 << 10

// NewFrameWriter returns a writer for w. Its goroutine starts with the
// first frame; Close ends it.
func NewFrameWriter(w io.Writer, opts FrameWriterOptions) *FrameWriter {
	if opts.CopyLimit == 0 {
		opts.CopyLimit = 4 << 10
	}
	if opts.MaxQueued <= 0 {
		opts.MaxQueued = 256 << 10
	}
	f := &FrameWriter{w: w, copyLimit: opts.CopyLimit, maxQueued: opts.MaxQueued, keepFlat: opts.MaxQueued + keepSlack, onError: opts.OnError,
		recycle: putBuf, done: make(chan struct{})}
	f.ready.L = &f.mu
	f.space.L = &f.mu
	return f
}

// WriteFrames queues the frames of one message; they are written together
// and in order. It blocks while the queue is full, and fails once a write
// has failed or the writer is closed.
func (f *FrameWriter) WriteFrames(frames [][]byte) error {
	return f.WriteFramesRecycle(frames, nil)
}

// WriteFramesRecycle is WriteFrames for frames cut from backing, a buffer
// of the encode pool (Encoder.EncodeInto): the writer recycles it as soon
// as nothing it queued points into it any more, at once when every frame
// was copied. The caller must not touch backing afterwards.
func (f *FrameWriter) WriteFramesRecycle(frames [][]byte, backing []byte) error {
	f.mu.Lock()
	held, err := f.queue(frames)
	if held && backing != nil {
		f.backing = append(f.backing, backing)
	}
	f.mu.Unlock()
	if !held && backing != nil {
		f.recycle(backing)
	}
	return err
}

// queue appends the frames under f.mu; held reports whether the queue
// now points into them.
func (f *FrameWriter) queue(frames [][]byte) (held bool, _ error) {
	for f.queued >= f.maxQueued && f.err == nil && !f.closed {
		f.space.Wait()
	}
	if f.err != nil {
		return false, f.err
	}
	if f.closed {
		return false, ErrWriterClosed
	}
	if !f.started {
		f.started = true
		go f.run()
	}
	// One growth per message at most: appending a 1 MiB message frame by
	// frame doubled the buffer several times.
	need := 0
	for _, fr := range frames {
		need += 4
		if f.copyLimit < 0 || len(fr) <= f.copyLimit {
			need += len(fr)
		}
	}
	f.flat = f.grow(need)
	wasEmpty := f.queued == 0
	for _, fr := range frames {
		f.flat = binary.BigEndian.AppendUint32(f.flat, uint32(len(fr)))
		if f.copyLimit < 0 || len(fr) <= f.copyLimit {
			f.flat = append(f.flat, fr...)
		} else {
			f.bufs = append(f.bufs, f.flat[f.flatAt:len(f.flat):len(f.flat)], fr)
			f.flatAt = len(f.flat)
			held = true
		}
		f.queued += 4 + len(fr)
	}
	if wasEmpty {
		f.ready.Signal()
	}
	return held, nil
}

// grow makes room for need more bytes in f.flat. Growth stops at
// keepFlat while the bytes fit there: a buffer doubled past it would not
// be kept, and a sender outpacing the peer would allocate a new one,
// doubling up from nothing, every few hundred messages.
func (f *FrameWriter) grow(need int) []byte {
	if cap(f.flat)-len(f.flat) >= need {
		return f.flat
	}
	size := max(2*cap(f.flat), len(f.flat)+need, 512)
	if size > f.keepFlat && len(f.flat)+need <= f.keepFlat {
		size = f.keepFlat
	}
	return append(make([]byte, 0, size), f.flat...)
}

func (f *FrameWriter) run() {
	defer close(f.done)
	var batch net.Buffers
	var backing [][]byte
	for {
		f.mu.Lock()
		for f.queued == 0 && !f.closed {
			f.ready.Wait()
		}
		if f.queued == 0 {
			f.mu.Unlock()
			return
		}
		if len(f.flat) > f.flatAt {
			f.bufs = append(f.bufs, f.flat[f.flatAt:])
		}
		flat := f.flat
		batch, f.bufs = f.bufs, batch[:0]
		backing, f.backing = f.backing, backing[:0]
		f.flat, f.spare, f.flatAt, f.queued = f.spare[:0], nil, 0, 0
		f.space.Broadcast()
		f.mu.Unlock()

		var err error
		if len(batch) == 1 {
			_, err = f.w.Write(batch[0])
		} else {
			b := batch
			_, err = b.WriteTo(f.w)
		}
		clear(batch) // drop the callers' frames
		if err != nil {
			// A failed write may still be reading the buffers (a stream
			// that copies lazily): leave them to the GC.
			clear(backing)
			f.mu.Lock()
			f.err = err
			f.space.Broadcast()
			f.mu.Unlock()
			if f.onError != nil {
				f.onError(err)
			}
			return
		}
		for i, b := range backing {
			f.recycle(b)
			backing[i] = nil
		}
		f.mu.Lock()
		if f.spare == nil && cap(flat) <= f.keepFlat {
			f.spare = flat[:0]
		}
		f.mu.Unlock()
	}
}

// Close stops accepting frames and lets the goroutine write what is
// queued; it waits at most grace for that (0: not at all). The caller
// closes the underlying stream afterwards, which ends a write stuck on a
// peer that stopped reading, and then calls Wait.
func (f *FrameWriter) Close(grace time.Duration) {
	f.mu.Lock()
	if !f.closed {
		f.closed = true
		if !f.started {
			f.started = true
			close(f.done)
		}
		f.ready.Signal()
		f.space.Broadcast()
	}
	f.mu.Unlock()
	if grace <= 0 {
		return
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-f.done:
	case <-t.C:
	}
}

// Wait returns once the writer goroutine has ended (after Close, and the
// underlying stream's close for a stuck write).
func (f *FrameWriter) Wait() { <-f.done }

// Done is closed when the writer goroutine has ended.
func (f *FrameWriter) Done() <-chan struct{} { return f.done }
