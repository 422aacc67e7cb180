package epmd

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The byte layouts below are written out from the tables in the
// Distribution Protocol guide, independently of the encoders.

func TestEncodeAlive2ReqLayout(t *testing.T) {
	got, err := encodeAlive2Req(NodeInfo{Name: "ab", Port: 0x1234, Type: NodeTypeNormal, Protocol: 0, HighVersion: 6, LowVersion: 5, Extra: []byte{9}})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0, 16, // length
		120,        // ALIVE2_REQ
		0x12, 0x34, // PortNo
		77,   // NodeType
		0,    // Protocol
		0, 6, // HighestVersion
		0, 5, // LowestVersion
		0, 2, 'a', 'b', // Nlen, NodeName
		0, 1, 9, // Elen, Extra
	}
	if !bytes.Equal(got, want) {
		t.Errorf("ALIVE2_REQ = %v, want %v", got, want)
	}
}

func TestEncodePortPlease2ReqLayout(t *testing.T) {
	got, err := encodePortPlease2Req("node")
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0, 5, 122, 'n', 'o', 'd', 'e'}; !bytes.Equal(got, want) {
		t.Errorf("PORT_PLEASE2_REQ = %v, want %v", got, want)
	}
}

func TestDecodeAlive2Resp(t *testing.T) {
	for _, tc := range []struct {
		in       []byte
		result   byte
		creation uint32
	}{
		{[]byte{118, 0, 0x65, 0x43, 0x21, 0x0f}, 0, 0x6543210f},
		{[]byte{121, 0, 0, 3}, 0, 3},
		{[]byte{121, 1, 0, 99}, 1, 99},
	} {
		r, c, err := decodeAlive2Resp(tc.in)
		if err != nil || r != tc.result || c != tc.creation {
			t.Errorf("decodeAlive2Resp(%v) = %d, %d, %v", tc.in, r, c, err)
		}
	}
	for _, bad := range [][]byte{nil, {118, 0, 0, 0, 1}, {121, 0, 1}, {119, 0, 0, 1}, {118, 0, 0, 0, 0, 1, 7}} {
		if _, _, err := decodeAlive2Resp(bad); !errors.Is(err, errMalformed) {
			t.Errorf("decodeAlive2Resp(%v) err = %v, want malformed", bad, err)
		}
	}
}

func TestDecodePort2Resp(t *testing.T) {
	in := []byte{119, 0, 0x10, 0x01, 72, 0, 0, 6, 0, 5, 0, 3, 'a', 'b', 'c', 0, 2, 7, 8}
	result, info, err := decodePort2Resp(in)
	want := &NodeInfo{Name: "abc", Port: 0x1001, Type: NodeTypeHidden, HighVersion: 6, LowVersion: 5, Extra: []byte{7, 8}}
	if err != nil || result != 0 || !reflect.DeepEqual(info, want) {
		t.Errorf("decodePort2Resp = %d, %+v, %v; want %+v", result, info, err, want)
	}
	if result, info, err := decodePort2Resp([]byte{119, 1}); err != nil || result != 1 || info != nil {
		t.Errorf("failure reply decoded as %d, %+v, %v", result, info, err)
	}
	for _, bad := range [][]byte{
		nil,
		{119},
		{118, 0},
		in[:11],               // short fixed part
		in[:14],               // name cut
		in[:16],               // extra length cut
		in[:18],               // extra cut
		append(in[:19:19], 0), // trailing byte
	} {
		if _, _, err := decodePort2Resp(bad); !errors.Is(err, errMalformed) {
			t.Errorf("decodePort2Resp(%v) err = %v, want malformed", bad, err)
		}
	}
}

func TestDecodeNamesResp(t *testing.T) {
	in := []byte{0, 0, 0x11, 0x11}
	in = append(in, "name a at port 1\n"+
		"garbage line\n"+
		"name b at port 65536\n"+ // out of range: skipped
		"name c at port 3\n"+
		"name d at port 4"...) // unterminated: skipped, like OTP
	port, names, err := decodeNamesResp(in)
	want := []NameEntry{{"a", 1}, {"c", 3}}
	if err != nil || port != 0x1111 || !reflect.DeepEqual(names, want) {
		t.Errorf("decodeNamesResp = %d, %v, %v; want %v", port, names, err, want)
	}
	if _, _, err := decodeNamesResp([]byte{0, 0, 1}); !errors.Is(err, errMalformed) {
		t.Errorf("short NAMES_RESP err = %v", err)
	}
	if got := string(appendNamesLine(nil, "x", 4369)); got != "name x at port 4369\n" {
		t.Errorf("appendNamesLine = %q", got)
	}
}

func TestValidateName(t *testing.T) {
	ok := []string{"a", "node_1", strings.Repeat("é", 255), strings.Repeat("x", 255)}
	bad := []string{"", "a\x00", "\xc3", strings.Repeat("é", 256), strings.Repeat("𝄞", 256)}
	for _, n := range ok {
		if err := validateName(n); err != nil {
			t.Errorf("validateName(%d bytes) = %v", len(n), err)
		}
	}
	for _, n := range bad {
		if err := validateName(n); err == nil {
			t.Errorf("validateName(%q) accepted", n)
		}
	}
}

func TestNodeTypeString(t *testing.T) {
	if NodeTypeNormal.String() != "normal" || NodeTypeHidden.String() != "hidden" || NodeType(110).String() != "NodeType(110)" {
		t.Error("NodeType.String")
	}
}
