package etf

import "sync"

// maxInterned bounds the atom intern table: atoms from the network are
// unbounded in number, so past this size new atoms are allocated instead of
// remembered.
const maxInterned = 1 << 16

var atomTable = struct {
	sync.RWMutex
	m map[string]Atom
}{m: make(map[string]Atom, 1024)}

// internAtom returns the atom spelled by raw, sharing one string per distinct
// atom so that decoding known atoms allocates nothing.
func internAtom(raw []byte) Atom {
	atomTable.RLock()
	a, ok := atomTable.m[string(raw)]
	atomTable.RUnlock()
	if ok {
		return a
	}
	a = Atom(raw)
	atomTable.Lock()
	if len(atomTable.m) < maxInterned {
		atomTable.m[string(a)] = a
	}
	atomTable.Unlock()
	return a
}
