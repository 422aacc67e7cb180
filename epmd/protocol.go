package epmd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// Message tags, as in OTP's erts/epmd/src/epmd.h.
const (
	tagAlive2Req      = 120 // 'x'
	tagAlive2Resp     = 121 // 'y', 16-bit creation
	tagAlive2XResp    = 118 // 'v', 32-bit creation
	tagPortPlease2Req = 122 // 'z'
	tagPort2Resp      = 119 // 'w'
	tagNamesReq       = 110 // 'n'
	tagDumpReq        = 100 // 'd'
	tagKillReq        = 107 // 'k'
	tagStopReq        = 115 // 's'
)

// NodeType is the node type byte of ALIVE2_REQ and PORT2_RESP.
type NodeType uint8

// Node types understood by OTP.
const (
	NodeTypeNormal NodeType = 77 // 'M': a normal, published Erlang node
	NodeTypeHidden NodeType = 72 // 'H': a hidden node (C node, -hidden)
)

func (t NodeType) String() string {
	switch t {
	case NodeTypeNormal:
		return "normal"
	case NodeTypeHidden:
		return "hidden"
	}
	return "NodeType(" + strconv.Itoa(int(t)) + ")"
}

// ProtocolTCPIPv4 is the only protocol value OTP sends in ALIVE2_REQ, even
// for IPv6 distribution.
const ProtocolTCPIPv4 uint8 = 0

// Distribution protocol versions that Register advertises by default: what
// OTP's erl_epmd sends (see the package documentation for why 5 and not 6).
const (
	DefaultHighVersion uint16 = 6
	DefaultLowVersion  uint16 = 5
)

// Limits taken from epmd (erts/epmd/src/epmd_int.h): a node name is at most
// 255 characters of UTF-8 (MAXSYMLEN = 255*4 bytes), the extra field at most
// MAXSYMLEN bytes, and epmd drops any request whose length prefix reaches its
// input buffer size of 3*MAXSYMLEN.
const (
	MaxNameChars = 255
	MaxNameBytes = 255 * 4
	MaxExtraLen  = 255 * 4

	maxRequestLen = 3*MaxNameBytes - 3 // largest accepted 2-byte length prefix
	// A PORT2_RESP is at most 12 fixed bytes + name + 2 + extra.
	maxPort2RespLen = 14 + MaxNameBytes + MaxExtraLen
	// NAMES_RESP is unbounded in the protocol; this caps what the client
	// buffers (about 9000 names of 100 bytes).
	maxNamesRespLen = 1 << 20
)

// NodeInfo is what a node registers with EPMD and what PORT_PLEASE2 returns.
type NodeInfo struct {
	Name        string // the part of the node name before '@'
	Port        uint16 // the distribution listen port
	Type        NodeType
	Protocol    uint8
	HighVersion uint16
	LowVersion  uint16
	Extra       []byte
}

// NameEntry is one line of a NAMES_RESP.
type NameEntry struct {
	Name string
	Port int
}

var errMalformed = errors.New("malformed message")

// validateName applies epmd's checks on a node name (node_reg2 and the
// PORT2_REQ handler): 1..255 UTF-8 characters, no NUL bytes.
func validateName(name string) error {
	if name == "" {
		return errors.New("empty node name")
	}
	if len(name) > MaxNameBytes {
		return fmt.Errorf("node name is %d bytes, more than %d", len(name), MaxNameBytes)
	}
	if !utf8.ValidString(name) {
		return errors.New("node name is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(name); n > MaxNameChars {
		return fmt.Errorf("node name has %d characters, more than %d", n, MaxNameChars)
	}
	if bytes.IndexByte([]byte(name), 0) >= 0 {
		return errors.New("node name contains a NUL byte")
	}
	return nil
}

func appendUint16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }

// appendRequest frames body with the 2-byte length prefix.
func appendRequest(dst []byte, body []byte) ([]byte, error) {
	if len(body) == 0 || len(body) > maxRequestLen {
		return dst, fmt.Errorf("request of %d bytes does not fit epmd's limit of %d", len(body), maxRequestLen)
	}
	dst = appendUint16(dst, uint16(len(body)))
	return append(dst, body...), nil
}

// encodeAlive2Req returns the framed ALIVE2_REQ for n.
func encodeAlive2Req(n NodeInfo) ([]byte, error) {
	if err := validateName(n.Name); err != nil {
		return nil, err
	}
	if len(n.Extra) > MaxExtraLen {
		return nil, fmt.Errorf("extra field is %d bytes, more than %d", len(n.Extra), MaxExtraLen)
	}
	body := make([]byte, 0, 13+len(n.Name)+len(n.Extra))
	body = append(body, tagAlive2Req)
	body = appendUint16(body, n.Port)
	body = append(body, byte(n.Type), n.Protocol)
	body = appendUint16(body, n.HighVersion)
	body = appendUint16(body, n.LowVersion)
	body = appendUint16(body, uint16(len(n.Name)))
	body = append(body, n.Name...)
	body = appendUint16(body, uint16(len(n.Extra)))
	body = append(body, n.Extra...)
	return appendRequest(nil, body)
}

// encodePortPlease2Req returns the framed PORT_PLEASE2_REQ for name.
func encodePortPlease2Req(name string) ([]byte, error) {
	if err := validateName(name); err != nil {
		return nil, err
	}
	return appendRequest(nil, append([]byte{tagPortPlease2Req}, name...))
}

// encodeAlive2Resp builds the reply to ALIVE2_REQ: the 32-bit ALIVE2_X_RESP
// when extended, otherwise the 16-bit ALIVE2_RESP (epmd picks by highvsn >= 6).
func encodeAlive2Resp(extended bool, result byte, creation uint32) []byte {
	if extended {
		return binary.BigEndian.AppendUint32([]byte{tagAlive2XResp, result}, creation)
	}
	return appendUint16([]byte{tagAlive2Resp, result}, uint16(creation))
}

// decodeAlive2Resp parses a complete ALIVE2_RESP or ALIVE2_X_RESP.
func decodeAlive2Resp(b []byte) (result byte, creation uint32, err error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("empty ALIVE2 response: %w", errMalformed)
	}
	switch b[0] {
	case tagAlive2XResp:
		if len(b) != 6 {
			return 0, 0, fmt.Errorf("ALIVE2_X_RESP of %d bytes, want 6: %w", len(b), errMalformed)
		}
		return b[1], binary.BigEndian.Uint32(b[2:]), nil
	case tagAlive2Resp:
		if len(b) != 4 {
			return 0, 0, fmt.Errorf("ALIVE2_RESP of %d bytes, want 4: %w", len(b), errMalformed)
		}
		return b[1], uint32(binary.BigEndian.Uint16(b[2:])), nil
	}
	return 0, 0, fmt.Errorf("unexpected tag %d in ALIVE2 response: %w", b[0], errMalformed)
}

// readAlive2Resp reads exactly one ALIVE2 response from r, which stays open
// afterwards (the registration lives on that connection).
func readAlive2Resp(r io.Reader) (result byte, creation uint32, err error) {
	buf := make([]byte, 6)
	if _, err := io.ReadFull(r, buf[:1]); err != nil {
		return 0, 0, err
	}
	n := 4
	switch buf[0] {
	case tagAlive2XResp:
		n = 6
	case tagAlive2Resp:
	default:
		return 0, 0, fmt.Errorf("unexpected tag %d in ALIVE2 response: %w", buf[0], errMalformed)
	}
	if _, err := io.ReadFull(r, buf[1:n]); err != nil {
		return 0, 0, err
	}
	return decodeAlive2Resp(buf[:n])
}

// encodePort2Resp builds PORT2_RESP: the full record for n, or [119, 1] when
// n is nil (unknown node).
func encodePort2Resp(n *NodeInfo) []byte {
	if n == nil {
		return []byte{tagPort2Resp, 1}
	}
	b := make([]byte, 0, 14+len(n.Name)+len(n.Extra))
	b = append(b, tagPort2Resp, 0)
	b = appendUint16(b, n.Port)
	b = append(b, byte(n.Type), n.Protocol)
	b = appendUint16(b, n.HighVersion)
	b = appendUint16(b, n.LowVersion)
	b = appendUint16(b, uint16(len(n.Name)))
	b = append(b, n.Name...)
	b = appendUint16(b, uint16(len(n.Extra)))
	return append(b, n.Extra...)
}

// decodePort2Resp parses a complete PORT2_RESP. A nonzero result comes back
// with a nil NodeInfo and no error; epmd sends only [119, Result] then.
func decodePort2Resp(b []byte) (result byte, n *NodeInfo, err error) {
	if len(b) < 2 {
		return 0, nil, fmt.Errorf("PORT2_RESP of %d bytes: %w", len(b), errMalformed)
	}
	if b[0] != tagPort2Resp {
		return 0, nil, fmt.Errorf("unexpected tag %d in PORT2_RESP: %w", b[0], errMalformed)
	}
	if b[1] != 0 {
		return b[1], nil, nil
	}
	if len(b) < 12 {
		return 0, nil, fmt.Errorf("PORT2_RESP of %d bytes: %w", len(b), errMalformed)
	}
	info := &NodeInfo{
		Port:        binary.BigEndian.Uint16(b[2:]),
		Type:        NodeType(b[4]),
		Protocol:    b[5],
		HighVersion: binary.BigEndian.Uint16(b[6:]),
		LowVersion:  binary.BigEndian.Uint16(b[8:]),
	}
	rest := b[12:]
	nlen := int(binary.BigEndian.Uint16(b[10:]))
	if nlen > len(rest) {
		return 0, nil, fmt.Errorf("PORT2_RESP name length %d exceeds %d remaining bytes: %w", nlen, len(rest), errMalformed)
	}
	info.Name = string(rest[:nlen])
	rest = rest[nlen:]
	if len(rest) < 2 {
		return 0, nil, fmt.Errorf("PORT2_RESP truncated before extra length: %w", errMalformed)
	}
	elen := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if elen != len(rest) {
		return 0, nil, fmt.Errorf("PORT2_RESP extra length %d but %d bytes follow: %w", elen, len(rest), errMalformed)
	}
	if elen > 0 {
		info.Extra = bytes.Clone(rest)
	}
	return 0, info, nil
}

// appendNamesLine appends one NAMES_RESP line in epmd's exact format,
// io:format("name ~ts at port ~p~n", [Name, Port]).
func appendNamesLine(dst []byte, name string, port uint16) []byte {
	dst = append(dst, "name "...)
	dst = append(dst, name...)
	dst = append(dst, " at port "...)
	dst = strconv.AppendUint(dst, uint64(port), 10)
	return append(dst, '\n')
}

// decodeNamesResp parses a complete NAMES_RESP: the 4-byte port epmd listens
// on, then text lines. Like OTP's net_adm:names (erl_epmd:scan_names) it
// skips lines it cannot parse and an unterminated last line; the name ends
// at the first space.
func decodeNamesResp(b []byte) (epmdPort uint32, names []NameEntry, err error) {
	if len(b) < 4 {
		return 0, nil, fmt.Errorf("NAMES_RESP of %d bytes: %w", len(b), errMalformed)
	}
	epmdPort = binary.BigEndian.Uint32(b)
	rest := b[4:]
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		if e, ok := parseNamesLine(rest[:i]); ok {
			names = append(names, e)
		}
		rest = rest[i+1:]
	}
	return epmdPort, names, nil
}

func parseNamesLine(line []byte) (NameEntry, bool) {
	after, ok := bytes.CutPrefix(line, []byte("name "))
	if !ok {
		return NameEntry{}, false
	}
	name, after, ok := bytes.Cut(after, []byte(" "))
	if !ok {
		return NameEntry{}, false
	}
	portText, ok := bytes.CutPrefix(after, []byte("at port "))
	if !ok {
		return NameEntry{}, false
	}
	port, err := strconv.ParseUint(string(portText), 10, 16)
	if err != nil {
		return NameEntry{}, false
	}
	return NameEntry{Name: string(name), Port: int(port)}, true
}

// request is one decoded request as the server sees it.
type request struct {
	tag  byte
	node NodeInfo // ALIVE2_REQ
	name string   // PORT_PLEASE2_REQ, STOP_REQ
}

// readRequest reads one length-prefixed request body from r, refusing a
// length outside 1..maxRequestLen before allocating.
func readRequest(r io.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n == 0 || n > maxRequestLen {
		return nil, fmt.Errorf("request length %d outside 1..%d: %w", n, maxRequestLen, errMalformed)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return body, nil
}

// decodeRequest parses a request body (without its length prefix). It checks
// structure only; whether a name is acceptable is decided by the server, which
// answers a bad ALIVE2 name with result 1 the way epmd does.
func decodeRequest(b []byte) (request, error) {
	if len(b) == 0 {
		return request{}, fmt.Errorf("empty request: %w", errMalformed)
	}
	req := request{tag: b[0]}
	switch b[0] {
	case tagAlive2Req:
		// epmd requires more than 13 bytes: at least one name byte.
		if len(b) <= 13 {
			return request{}, fmt.Errorf("ALIVE2_REQ of %d bytes: %w", len(b), errMalformed)
		}
		nlen := int(binary.BigEndian.Uint16(b[9:]))
		if 13+nlen > len(b) {
			return request{}, fmt.Errorf("ALIVE2_REQ name length %d exceeds request: %w", nlen, errMalformed)
		}
		elen := int(binary.BigEndian.Uint16(b[11+nlen:]))
		if 13+nlen+elen > len(b) {
			return request{}, fmt.Errorf("ALIVE2_REQ extra length %d exceeds request: %w", elen, errMalformed)
		}
		req.node = NodeInfo{
			Port:        binary.BigEndian.Uint16(b[1:]),
			Type:        NodeType(b[3]),
			Protocol:    b[4],
			HighVersion: binary.BigEndian.Uint16(b[5:]),
			LowVersion:  binary.BigEndian.Uint16(b[7:]),
			Name:        string(b[11 : 11+nlen]),
		}
		if elen > 0 {
			req.node.Extra = bytes.Clone(b[13+nlen : 13+nlen+elen])
		}
		// Bytes after Extra are ignored, as epmd does.
	case tagPortPlease2Req, tagStopReq:
		name := b[1:]
		// Very old clients NUL-terminate the name; epmd strips one NUL.
		if len(name) > 0 && name[len(name)-1] == 0 {
			name = name[:len(name)-1]
		}
		if len(name) == 0 {
			return request{}, fmt.Errorf("request %d without a node name: %w", b[0], errMalformed)
		}
		req.name = string(name)
	case tagNamesReq, tagDumpReq, tagKillReq:
	default:
		return request{}, fmt.Errorf("unknown request tag %d: %w", b[0], errMalformed)
	}
	return req, nil
}
