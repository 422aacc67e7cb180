package epmd

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"reflect"
	"testing"
	"time"
)

func mustAlive2(tb testing.TB, n NodeInfo) []byte {
	tb.Helper()
	b, err := encodeAlive2Req(n)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func requestSeeds(tb testing.TB) [][]byte {
	pp, _ := encodePortPlease2Req("node")
	return [][]byte{
		mustAlive2(tb, NodeInfo{Name: "a", Port: 1, Type: NodeTypeNormal, HighVersion: 6, LowVersion: 5}),
		mustAlive2(tb, NodeInfo{Name: "héllo", Port: 65535, Type: NodeTypeHidden, HighVersion: 6, LowVersion: 6, Extra: []byte{0, 1}}),
		pp,
		{0, 1, tagNamesReq},
		{0, 1, tagKillReq},
		{0, 1, tagDumpReq},
		{0, 3, tagStopReq, 'x', 0},
		{0, 0},
		{0xff, 0xff},
		{0, 14, tagAlive2Req, 0, 1, 77, 0, 0, 6, 0, 6, 0xff, 0xff, 'a', 0, 0},
	}
}

// FuzzDecodeRequest drives the server's framing and request decoder.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range requestSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		body, err := readRequest(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(body) == 0 || len(body) > maxRequestLen {
			t.Fatalf("readRequest returned %d bytes", len(body))
		}
		req, err := decodeRequest(body)
		if err != nil {
			return
		}
		switch req.tag {
		case tagAlive2Req:
			// Whatever decodes and passes validation re-encodes to a
			// request that decodes to the same node.
			if validateName(req.node.Name) != nil || len(req.node.Extra) > MaxExtraLen {
				return
			}
			enc, err := encodeAlive2Req(req.node)
			if err != nil {
				t.Fatalf("re-encode %+v: %v", req.node, err)
			}
			again, err := decodeRequest(enc[2:])
			if err != nil || !reflect.DeepEqual(again.node, req.node) {
				t.Fatalf("round trip: %+v, %v; want %+v", again.node, err, req.node)
			}
		case tagPortPlease2Req, tagStopReq:
			if req.name == "" {
				t.Fatal("empty name accepted")
			}
		}
	})
}

// FuzzDecodeAlive2Resp drives the client's ALIVE2 reply decoders.
func FuzzDecodeAlive2Resp(f *testing.F) {
	f.Add(encodeAlive2Resp(true, 0, 1234567))
	f.Add(encodeAlive2Resp(false, 0, 3))
	f.Add(encodeAlive2Resp(true, 1, 99))
	f.Add([]byte{tagAlive2XResp, 0, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		result, creation, err := decodeAlive2Resp(data)
		r2, c2, err2 := readAlive2Resp(bytes.NewReader(data))
		if err == nil {
			extended := data[0] == tagAlive2XResp
			if !bytes.Equal(encodeAlive2Resp(extended, result, creation), data) {
				t.Fatalf("re-encode of %v differs", data)
			}
			if err2 != nil || r2 != result || c2 != creation {
				t.Fatalf("readAlive2Resp = %d, %d, %v; decode = %d, %d", r2, c2, err2, result, creation)
			}
		}
	})
}

// FuzzDecodePort2Resp drives the client's PORT2_RESP decoder.
func FuzzDecodePort2Resp(f *testing.F) {
	f.Add(encodePort2Resp(&NodeInfo{Name: "n", Port: 1, Type: 77, HighVersion: 6, LowVersion: 5}))
	f.Add(encodePort2Resp(&NodeInfo{Name: "x", Port: 2, Type: 72, HighVersion: 6, LowVersion: 6, Extra: []byte("e")}))
	f.Add(encodePort2Resp(nil))
	f.Add([]byte{tagPort2Resp, 0, 0, 1, 77, 0, 0, 6, 0, 5, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		result, info, err := decodePort2Resp(data)
		if err != nil {
			return
		}
		if result != 0 {
			if info != nil {
				t.Fatal("NodeInfo with a failure result")
			}
			return
		}
		if !bytes.Equal(encodePort2Resp(info), data) {
			t.Fatalf("re-encode of %+v differs from %v", info, data)
		}
	})
}

// FuzzDecodeNamesResp drives the client's NAMES_RESP parser.
func FuzzDecodeNamesResp(f *testing.F) {
	ok := binary.BigEndian.AppendUint32(nil, 4369)
	ok = appendNamesLine(ok, "a", 1)
	ok = appendNamesLine(ok, "b", 65535)
	f.Add(ok)
	f.Add(append(binary.BigEndian.AppendUint32(nil, 1), "name x at port 99999\nname y at port 2"...))
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		port, names, err := decodeNamesResp(data)
		if err != nil {
			return
		}
		// Every parsed entry prints back to a line that parses the same.
		b := binary.BigEndian.AppendUint32(nil, port)
		for _, n := range names {
			if n.Port < 0 || n.Port > 65535 {
				t.Fatalf("port %d out of range", n.Port)
			}
			b = appendNamesLine(b, n.Name, uint16(n.Port))
		}
		_, again, err := decodeNamesResp(b)
		if err != nil || !reflect.DeepEqual(again, names) {
			t.Fatalf("round trip %v -> %v, %v", names, again, err)
		}
	})
}

// FuzzServer throws arbitrary bytes at a live embedded server: it must not
// crash, and must keep answering.
func FuzzServer(f *testing.F) {
	for _, s := range requestSeeds(f) {
		f.Add(s)
	}
	srv, err := Start(context.Background(), "127.0.0.1:0", WithLogger(quietLog), WithReadTimeout(time.Second))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	addr := srv.Addr().String()
	f.Fuzz(func(t *testing.T, data []byte) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = conn.Write(data)
		// Closing our side ends a registration and unblocks a partial
		// read, so the server always finishes with this connection.
		_ = conn.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, conn)
		names := rawExchange(t, addr, []byte{0, 1, tagNamesReq})
		if len(names) < 4 || binary.BigEndian.Uint32(names) != uint32(srv.Port()) {
			t.Fatalf("server stopped answering NAMES properly: %v", names)
		}
	})
}
