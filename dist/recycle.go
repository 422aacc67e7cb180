package dist

import (
	"runtime"
	"sync"
	"unsafe"
)

// Large receive buffers (a whole frame Place reads into a buffer of its
// own, a fragmented message's reassembly buffer) are recycled once the
// garbage collector has proved that nothing refers to them. Decoded
// binaries share these buffers, so their owner is whoever keeps the
// message, and only a finalizer can tell when the last reference is gone.
//
// A fresh buffer per message made the Go runtime's memory management the
// cost of receiving bulk: for 1 MiB messages from Erlang the heap stayed a
// few MiB, so a collection ran every two or three messages and the
// scavenger returned pages that the next message faulted in again. That
// was half of the receiving process's CPU: 1,000 -> 500 µs a message with
// recycling, 1,270 -> 1,910 MB/s (Erlang to Erlang: 1,700-2,100), measured
// back to back. Idle buffers are live heap too, which spaces collections
// out the way a larger GOGC would, but only while bulk traffic lasts: a
// buffer left idle through two collections is given back to the garbage
// collector.
const (
	// recycleMin is the smallest buffer recycled; smaller ones are
	// ordinary allocations (the TCP carrier reuses its own up to a
	// default fragment).
	recycleMin = 256 << 10
	// recycleGrain rounds capacities up, so that messages of about the
	// same size find each other's buffers.
	recycleGrain = 64 << 10
	// recycleKeep bounds the bytes of idle buffers kept, across every
	// connection of the process. Receiving 1 MiB messages from Erlang,
	// 8, 32 and 128 MiB cost 535, 508 and 463 µs of CPU a message at the
	// same throughput, with the heap peaking near 20, 70 and 260 MB:
	// collections return only about half of the buffers whatever the
	// bound, since the collector paces itself on the kept ones too.
	recycleKeep = 8 << 20
)

// recycler is a free list of large buffers refilled by finalizers.
type recycler struct {
	keep int // bytes of idle buffers kept at most

	mu    sync.Mutex
	free  []idleBuf
	bytes int    // total capacity of free
	gcs   uint64 // collections seen while buffers were idle
	// watching says a sentinel counts collections (only while free is
	// not empty, so an idle process carries no finalizer of ours).
	watching bool
	// reused and fresh count get's outcomes, for tests.
	reused, fresh int
	// scribble makes get fill reused buffers, so that tests catch a
	// reader relying on fresh memory being zero.
	scribble bool
}

type idleBuf struct {
	b   []byte // at full capacity
	gcs uint64 // recycler.gcs when it became idle
}

var recvBufs = &recycler{keep: recycleKeep}

// get returns a buffer of length n whose contents are unspecified: the
// caller must overwrite every byte it exposes. Buffers of recycleMin bytes
// or more come back to the free list when the garbage collector finds
// them unreachable.
func (r *recycler) get(n int) []byte {
	if n < recycleMin {
		return make([]byte, n)
	}
	var b []byte
	r.mu.Lock()
	best := -1
	for i, f := range r.free {
		// At most a quarter of the buffer wasted: a small message must
		// not pin a large buffer for as long as it is kept.
		if c := cap(f.b); c >= n && c-n <= n/4 && (best < 0 || c < cap(r.free[best].b)) {
			best = i
		}
	}
	if best >= 0 {
		b = r.free[best].b
		last := len(r.free) - 1
		r.free[best], r.free[last] = r.free[last], idleBuf{}
		r.free = r.free[:last]
		r.bytes -= cap(b)
		r.reused++
	} else {
		r.fresh++
	}
	scribble := r.scribble
	r.mu.Unlock()
	if b == nil {
		b = make([]byte, (n+recycleGrain-1)/recycleGrain*recycleGrain)
	} else if scribble {
		for i := range b {
			b[i] = 0xa5
		}
	}
	c := cap(b)
	// The finalizer goes on the allocation's first byte, where the runtime
	// wants it; any slice into the buffer keeps the whole allocation, and
	// so the finalizer, waiting.
	runtime.SetFinalizer(&b[:1][0], func(p *byte) { r.put(unsafe.Slice(p, c)) })
	return b[:n]
}

// put takes back a buffer nothing refers to any more; beyond keep bytes of
// idle buffers it is left to the garbage collector.
func (r *recycler) put(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bytes+cap(b) > r.keep {
		return
	}
	r.free = append(r.free, idleBuf{b: b[:cap(b)], gcs: r.gcs})
	r.bytes += cap(b)
	if !r.watching {
		r.watching = true
		// The sentinel has a pointer so that it is not a tiny allocation,
		// whose finalizer could wait for its neighbours.
		runtime.SetFinalizer(&gcSentinel{r: r}, (*gcSentinel).collected)
	}
}

// gcSentinel's finalizer runs once per garbage collection: it re-arms
// itself for as long as the recycler keeps idle buffers.
type gcSentinel struct{ r *recycler }

func (s *gcSentinel) collected() {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gcs++
	kept := r.free[:0]
	for _, f := range r.free {
		if r.gcs-f.gcs < 2 {
			kept = append(kept, f)
		} else {
			r.bytes -= cap(f.b)
		}
	}
	clear(r.free[len(kept):])
	r.free = kept
	if len(r.free) == 0 {
		r.watching = false
		return
	}
	runtime.SetFinalizer(s, (*gcSentinel).collected)
}
