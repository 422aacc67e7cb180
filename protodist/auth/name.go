package auth

import "strings"

// MaxNodeName is the longest node name barrel_p2p accepts, in bytes.
const MaxNodeName = 255

// ValidateNodeName applies barrel_p2p_dist_protocol:validate_node_name/1
// (auth.md §4): 1..255 bytes, exactly one '@' with both halves non-empty,
// bytes from [A-Za-z0-9_.-], neither half starting with '.' or '-'. It
// returns ErrInvalidNodeName wrapped with the name otherwise.
func ValidateNodeName(name string) error {
	if !validNodeName([]byte(name)) {
		return &Error{Term: "invalid_node_name", kind: ErrInvalidNodeName, Peer: name}
	}
	return nil
}

func validNodeName(b []byte) bool {
	if len(b) < 1 || len(b) > MaxNodeName {
		return false
	}
	at := -1
	for i, c := range b {
		switch {
		case c == '@':
			if at >= 0 {
				return false
			}
			at = i
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	if at <= 0 || at == len(b)-1 {
		return false
	}
	first := func(c byte) bool { return c != '.' && c != '-' }
	return first(b[0]) && first(b[at+1])
}

// MatchCookieOnly reports whether node matches one of barrel_p2p's
// cookie_only_nodes patterns (auth.md §8.3): "Name@Host" where either half
// may be exactly "*"; both sides split at the first '@'; a pattern without
// '@' never matches; there are no partial globs.
func MatchCookieOnly(patterns []string, node string) bool {
	nn, nh, ok := strings.Cut(node, "@")
	if !ok {
		return false
	}
	for _, p := range patterns {
		pn, ph, ok := strings.Cut(p, "@")
		if !ok {
			continue
		}
		if (pn == "*" || pn == nn) && (ph == "*" || ph == nh) {
			return true
		}
	}
	return false
}
