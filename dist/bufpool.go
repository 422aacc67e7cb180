package dist

import (
	"sync"

	"github.com/barrelgo/barrelgo/etf"
)

// Encode buffers are pooled by capacity class, so that a stream of large
// messages reuses warm memory: a fresh 1 MiB buffer per message cost more
// in page faults and clearing than the encoding itself (3x in a
// microbenchmark, more under a real node's GC).
var bufClasses = [...]int{4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20}

var bufPools [len(bufClasses)]sync.Pool

// boxes holds empty *[]byte boxes: a pool stores pointers, and boxing a
// returned buffer afresh cost an allocation per message sent.
var boxes sync.Pool

// getBuf returns an empty buffer with room for at least n bytes.
func getBuf(n int) []byte {
	for i, c := range bufClasses {
		if n <= c {
			if p, ok := bufPools[i].Get().(*[]byte); ok {
				b := (*p)[:0]
				*p = nil
				boxes.Put(p)
				return b
			}
			return make([]byte, 0, c)
		}
	}
	return make([]byte, 0, n)
}

// putBuf gives b back for reuse; nothing may refer to it any more.
func putBuf(b []byte) {
	c := cap(b)
	if c < bufClasses[0] || c > 2*bufClasses[len(bufClasses)-1] {
		return
	}
	for i := len(bufClasses) - 1; i >= 0; i-- {
		if c >= bufClasses[i] {
			p, ok := boxes.Get().(*[]byte)
			if !ok {
				p = new([]byte)
			}
			*p = b[:0]
			bufPools[i].Put(p)
			return
		}
	}
}

// sizeHint estimates the encoded size of t from its binaries and strings,
// looking at no more than a few dozen terms: it only has to pick a buffer
// class, and a message whose bulk hides deeper just grows its buffer as
// before.
func sizeHint(t etf.Term) int {
	budget := 64
	return hint(t, &budget)
}

func hint(t etf.Term, budget *int) int {
	if *budget <= 0 {
		return 0
	}
	*budget--
	switch v := t.(type) {
	case []byte:
		return 5 + len(v)
	case string:
		return 5 + len(v)
	case etf.Tuple:
		n := 2
		for _, e := range v {
			n += hint(e, budget)
		}
		return n
	case etf.List:
		n := 6
		for _, e := range v {
			n += hint(e, budget)
		}
		return n
	case etf.Map:
		n := 5
		for _, kv := range v {
			n += hint(kv.Key, budget) + hint(kv.Value, budget)
		}
		return n
	}
	return 16
}
