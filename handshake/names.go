package handshake

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// NameMode says whether a node runs with short host names (erl -sname,
// "a@host") or long ones (erl -name, "a@host.domain" or "a@10.0.0.1").
// OTP refuses to connect nodes of different modes.
type NameMode uint8

// Name modes.
const (
	ShortNames NameMode = iota + 1
	LongNames
)

func (m NameMode) String() string {
	switch m {
	case ShortNames:
		return "short names"
	case LongNames:
		return "long names"
	}
	return fmt.Sprintf("NameMode(%d)", uint8(m))
}

// SplitNodeName checks that name is a full node name, "alive@host", that can
// travel in a handshake, and splits it. Like dist_util:is_node_name/1 it
// wants exactly one '@' with text on both sides; it also bounds the name to
// the 255 characters of an atom and to printable Latin-1, the only encoding
// the 'N' messages carry.
func SplitNodeName(name string) (alive, host string, err error) {
	if !utf8.ValidString(name) {
		return "", "", fmt.Errorf("handshake: node name %q is not valid UTF-8", name)
	}
	if n := utf8.RuneCountInString(name); n > maxNameBytes {
		return "", "", fmt.Errorf("handshake: node name of %d characters exceeds the %d-character limit", n, maxNameBytes)
	}
	for _, r := range name {
		if r <= ' ' || (r >= 0x7f && r <= 0xa0) || r > 0xff {
			return "", "", fmt.Errorf("handshake: node name %q contains %U, not a printable Latin-1 character", name, r)
		}
	}
	alive, host, ok := strings.Cut(name, "@")
	if !ok || alive == "" || host == "" || strings.Contains(host, "@") {
		return "", "", fmt.Errorf("handshake: node name %q is not of the form alive@host", name)
	}
	return alive, host, nil
}

// ModeOf returns the mode a host part implies: long when it is qualified
// (has a '.') or is an IP address.
func ModeOf(host string) NameMode {
	if strings.Contains(host, ".") {
		return LongNames
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return LongNames
	}
	return ShortNames
}

// CheckNameModes reports whether a node running with local's mode may talk to
// peer, following inet_tcp_dist:splitnode/3: a long-name node needs a
// qualified host or an IP address, a short-name node refuses any host with
// a '.' (IPv4 addresses included).
func CheckNameModes(local, peer string) error {
	_, lhost, err := SplitNodeName(local)
	if err != nil {
		return err
	}
	_, phost, err := SplitNodeName(peer)
	if err != nil {
		return err
	}
	switch ModeOf(lhost) {
	case LongNames:
		if ModeOf(phost) != LongNames {
			return fmt.Errorf("handshake: %s runs with long names but peer %s has the unqualified host %q", local, peer, phost)
		}
	case ShortNames:
		if strings.Contains(phost, ".") {
			return fmt.Errorf("handshake: %s runs with short names but peer %s has the qualified host %q", local, peer, phost)
		}
	}
	return nil
}
