package plumtree

import (
	"fmt"

	"github.com/barrelgo/barrelgo/etf"
)

// short renders a term for an error message without formatting more than
// a few dozen nodes of it: peer-supplied terms can be megabytes.
func short(t etf.Term) string {
	budget := 48
	if !fits(t, &budget) {
		return describe(t)
	}
	s := etf.Format(t)
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

func fits(t etf.Term, budget *int) bool {
	*budget--
	if *budget < 0 {
		return false
	}
	switch v := t.(type) {
	case etf.Tuple:
		for _, e := range v {
			if !fits(e, budget) {
				return false
			}
		}
	case etf.List:
		for _, e := range v {
			if !fits(e, budget) {
				return false
			}
		}
	case etf.Map:
		for _, p := range v {
			if !fits(p.Key, budget) || !fits(p.Value, budget) {
				return false
			}
		}
	case etf.ImproperList:
		for _, e := range v.Elems {
			if !fits(e, budget) {
				return false
			}
		}
		return fits(v.Tail, budget)
	case []byte:
		return len(v) <= 256
	case etf.ByteList:
		return len(v) <= 256
	case etf.LocalFun:
		return false
	}
	return true
}

func describe(t etf.Term) string {
	switch v := t.(type) {
	case etf.Tuple:
		if len(v) > 0 {
			if a, ok := v[0].(etf.Atom); ok {
				return fmt.Sprintf("{%s, ...} (%d elements)", etf.Format(a), len(v))
			}
		}
		return fmt.Sprintf("a tuple of %d elements", len(v))
	case etf.List:
		return fmt.Sprintf("a list of %d elements", len(v))
	case etf.Map:
		return fmt.Sprintf("a map of %d pairs", len(v))
	case []byte:
		return fmt.Sprintf("a binary of %d bytes", len(v))
	}
	return fmt.Sprintf("a large %T", t)
}
