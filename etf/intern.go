package etf

import (
	"sync"
	"sync/atomic"
)

// maxInterned bounds the atom intern table: atoms from the network are
// unbounded in number, so past this size new atoms are allocated instead of
// remembered.
const maxInterned = 1 << 16

// The table keeps each atom boxed in a Term, so that decoding a known atom
// allocates neither its text nor its interface value. Lookups read an
// immutable snapshot without locking (decoders on every connection share
// it, and even an RWMutex's read count would bounce between cores); new
// atoms wait in a locked map that is folded into a fresh snapshot once it
// is big enough, or used often enough, to be worth the copy.
var atomTable struct {
	snap    atomic.Pointer[map[string]Term]
	mu      sync.Mutex
	pending map[string]Term
	hits    int // pending lookups since the last fold
	total   int
}

// internAtom returns the atom spelled by raw, sharing one string per
// distinct atom.
func internAtom(raw []byte) Atom {
	return internAtomTerm(raw).(Atom)
}

// internAtomTerm is internAtom boxed as a Term.
func internAtomTerm(raw []byte) Term {
	if m := atomTable.snap.Load(); m != nil {
		if t, ok := (*m)[string(raw)]; ok {
			return t
		}
	}
	return internSlow(string(raw))
}

// internStringTerm is internAtomTerm for an atom already in a string.
func internStringTerm(s string) Term {
	if m := atomTable.snap.Load(); m != nil {
		if t, ok := (*m)[s]; ok {
			return t
		}
	}
	return internSlow(s)
}

func internSlow(s string) Term {
	atomTable.mu.Lock()
	defer atomTable.mu.Unlock()
	if m := atomTable.snap.Load(); m != nil {
		if t, ok := (*m)[s]; ok { // folded since the caller looked
			return t
		}
	}
	if t, ok := atomTable.pending[s]; ok {
		atomTable.hits++
		if atomTable.hits > 1000 {
			foldAtoms()
		}
		return t
	}
	var t Term = Atom(s)
	if atomTable.total >= maxInterned {
		return t
	}
	if atomTable.pending == nil {
		atomTable.pending = make(map[string]Term)
	}
	atomTable.pending[s] = t
	atomTable.total++
	snapLen := 0
	if m := atomTable.snap.Load(); m != nil {
		snapLen = len(*m)
	}
	if len(atomTable.pending) >= 64+snapLen/4 {
		foldAtoms()
	}
	return t
}

// foldAtoms publishes snapshot ∪ pending; the caller holds the mutex. The
// growth condition makes the copying cost O(1) per atom amortised.
func foldAtoms() {
	old := atomTable.snap.Load()
	n := len(atomTable.pending)
	if old != nil {
		n += len(*old)
	}
	m := make(map[string]Term, n)
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	for k, v := range atomTable.pending {
		m[k] = v
	}
	atomTable.snap.Store(&m)
	atomTable.pending = nil
	atomTable.hits = 0
}
