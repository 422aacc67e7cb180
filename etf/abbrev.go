package etf

import "fmt"

// Abbrev renders a term for an error message or a log line without
// formatting more than a few dozen nodes of it: peer-supplied terms can be
// megabytes.
func Abbrev(t Term) string {
	budget := 48
	if !abbrevFits(t, &budget) {
		return abbrevDescribe(t)
	}
	s := Format(t)
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

func abbrevFits(t Term, budget *int) bool {
	*budget--
	if *budget < 0 {
		return false
	}
	switch v := t.(type) {
	case Tuple:
		for _, e := range v {
			if !abbrevFits(e, budget) {
				return false
			}
		}
	case List:
		for _, e := range v {
			if !abbrevFits(e, budget) {
				return false
			}
		}
	case Map:
		for _, p := range v {
			if !abbrevFits(p.Key, budget) || !abbrevFits(p.Value, budget) {
				return false
			}
		}
	case ImproperList:
		for _, e := range v.Elems {
			if !abbrevFits(e, budget) {
				return false
			}
		}
		return abbrevFits(v.Tail, budget)
	case []byte:
		return len(v) <= 256
	case ByteList:
		return len(v) <= 256
	case LocalFun:
		return false
	}
	return true
}

func abbrevDescribe(t Term) string {
	switch v := t.(type) {
	case Tuple:
		if len(v) > 0 {
			if a, ok := v[0].(Atom); ok {
				return fmt.Sprintf("{%s, ...} (%d elements)", Format(a), len(v))
			}
		}
		return fmt.Sprintf("a tuple of %d elements", len(v))
	case List:
		return fmt.Sprintf("a list of %d elements", len(v))
	case Map:
		return fmt.Sprintf("a map of %d pairs", len(v))
	case []byte:
		return fmt.Sprintf("a binary of %d bytes", len(v))
	}
	return fmt.Sprintf("a large %T", t)
}
