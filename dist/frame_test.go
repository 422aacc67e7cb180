package dist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
)

// hdr builds a 131 68 frame with atom-cache refs. Each ref is
// {index, text}; text "" references the slot without defining it.
func hdr(t testing.TB, refs []cacheRef, long bool, body ...[]byte) []byte {
	t.Helper()
	n := len(refs)
	b := []byte{131, hdrNormal, byte(n)}
	if n > 0 {
		flags := make([]byte, n/2+1)
		set := func(i int, v byte) {
			if i%2 == 0 {
				flags[i/2] |= v
			} else {
				flags[i/2] |= v << 4
			}
		}
		for i, r := range refs {
			f := byte(r.idx>>8) & 7
			if r.text != "" {
				f |= 8
			}
			set(i, f)
		}
		if long {
			set(n, 1)
		}
		b = append(b, flags...)
		for _, r := range refs {
			b = append(b, byte(r.idx))
			if r.text != "" {
				if long {
					b = binary.BigEndian.AppendUint16(b, uint16(len(r.text)))
				} else {
					b = append(b, byte(len(r.text)))
				}
				b = append(b, r.text...)
			}
		}
	}
	for _, x := range body {
		b = append(b, x...)
	}
	return b
}

// insertAfterIdx adds the zero length of slot 0's definition after its
// index byte (the first ref's), for a header built with hdr whose first
// ref had no text.
func insertAfterIdx(f []byte, long bool) []byte {
	n := int(f[2])
	at := 3 + n/2 + 1 + 1
	zero := []byte{0}
	if long {
		zero = []byte{0, 0}
	}
	return append(f[:at:at], append(zero, f[at:]...)...)
}

type cacheRef struct {
	idx  int
	text string
}

// atomRef is ATOM_CACHE_REF (82) with an index into the header's refs.
func atomRef(i byte) []byte { return []byte{82, i} }

// sendSender is {22, From, To} encoded with the given pieces for the pids.
func sendSenderCtl(t testing.TB) []byte {
	return mustTerm(t, etf.Tuple{int64(OpSendSender), pidA, pidB})
}

func wantProto(t *testing.T, what string, m *Message, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: accepted (%+v)", what, m)
		return
	}
	if !errors.Is(err, ErrProtocol) {
		t.Errorf("%s: error %v does not wrap ErrProtocol", what, err)
	}
	if m != nil {
		t.Errorf("%s: message returned with the error", what)
	}
}

func TestDecoderAtomCache(t *testing.T) {
	var d Decoder
	// {6, From, '', Name} with '' and the name from the cache, in both
	// length forms, across two segments of the 2048-entry cache.
	ctl := func(to []byte) []byte {
		b := []byte{104, 4, 97, byte(OpRegSend)}
		b = append(b, mustTerm(t, pidA)...)
		b = append(b, atomRef(0)...)
		return append(b, to...)
	}
	for _, long := range []bool{false, true} {
		// Slot 0 holds '', the unused field of REG_SEND: an atom OTP
		// caches like any other.
		f := hdr(t, []cacheRef{{0, ""}, {0x7ff, "probe"}}, long)
		f[3] |= 8 // define slot 0, with zero-length text
		f = insertAfterIdx(f, long)
		f = append(f, ctl(atomRef(1))...)
		f = append(f, mustTerm(t, etf.Atom("msg"))...)
		m, err := d.Decode(f)
		if err != nil {
			t.Fatalf("long=%v: %v", long, err)
		}
		if m.Control.To != etf.Atom("probe") {
			t.Errorf("long=%v: to %v", long, m.Control.To)
		}
	}
	// A later message references the cached slots without redefining them.
	f := hdr(t, []cacheRef{{0, ""}, {0x7ff, ""}}, false, ctl(atomRef(1)), mustTerm(t, etf.Atom("msg")))
	m, err := d.Decode(f)
	if err != nil || m.Control.To != etf.Atom("probe") {
		t.Fatalf("cached references: %v %v", m, err)
	}
	// References to slots never filled are refused.
	for _, idx := range []int{1, 0x400, 0x7fe} {
		f := hdr(t, []cacheRef{{idx, ""}}, false, ctl(atomRef(0)), mustTerm(t, etf.Atom("msg")))
		m, err := d.Decode(f)
		wantProto(t, "reference to an empty cache slot", m, err)
		if err != nil && !strings.Contains(err.Error(), "empty slot") {
			t.Errorf("empty slot error: %v", err)
		}
	}
	// A term naming a ref index the header did not list.
	f = hdr(t, []cacheRef{{0x7ff, ""}}, false, ctl(atomRef(1)), mustTerm(t, etf.Atom("msg")))
	m, err = d.Decode(f)
	wantProto(t, "ATOM_CACHE_REF beyond the header's refs", m, err)
	// And without any header refs at all.
	f = hdr(t, nil, false, ctl(atomRef(0)), mustTerm(t, etf.Atom("msg")))
	m, err = d.Decode(f)
	wantProto(t, "ATOM_CACHE_REF without refs", m, err)
	// Nor in pass-through frames, which have no header.
	p := append([]byte{'p', 131}, ctl(atomRef(0))...)
	m, err = d.Decode(append(p, mustEncode(t, etf.Atom("msg"))...))
	wantProto(t, "ATOM_CACHE_REF in a pass-through frame", m, err)
}

func TestDecoderTruncatedHeaders(t *testing.T) {
	full := hdr(t, []cacheRef{{5, "abc"}, {0x123, "defgh"}, {7, "ij"}}, true, sendSenderCtl(t), mustTerm(t, etf.Atom("m")))
	var ok Decoder
	if _, err := ok.Decode(full); err != nil {
		t.Fatalf("full frame: %v", err)
	}
	// Every proper prefix fails cleanly (the shortest are not even headers).
	for n := 1; n < len(full); n++ {
		var d Decoder
		m, err := d.Decode(full[:n])
		wantProto(t, fmt.Sprintf("%d-byte prefix", n), m, err)
	}
	frag := func(kind byte, seq, id uint64) []byte {
		b := []byte{131, kind}
		b = binary.BigEndian.AppendUint64(b, seq)
		return binary.BigEndian.AppendUint64(b, id)
	}
	first := append(frag(hdrFragment, 9, 2), 0)
	first = append(first, sendSenderCtl(t)...)
	for n := 1; n < 19; n++ {
		var d Decoder
		m, err := d.Decode(first[:n])
		wantProto(t, "truncated first fragment", m, err)
	}
	var d Decoder
	if m, err := d.Decode(first); m != nil || err != nil {
		t.Fatalf("first fragment: %v %v", m, err)
	}
	cont := frag(hdrContinue, 9, 1)
	for n := 1; n < 18; n++ {
		m, err := d.Decode(cont[:n])
		wantProto(t, "truncated continuation", m, err)
	}
	// The sequence is still pending and completes.
	m, err := d.Decode(append(cont, mustTerm(t, etf.Atom("m"))...))
	if err != nil || m == nil || m.Payload != etf.Atom("m") {
		t.Fatalf("completing after truncated continuations: %v %v", m, err)
	}
}

func fragFrame(kind byte, seq, id uint64, data []byte) []byte {
	b := []byte{131, kind}
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, id)
	if kind == hdrFragment {
		b = append(b, 0)
	}
	return append(b, data...)
}

func TestDecoderFragmentAttacks(t *testing.T) {
	ctl := sendSenderCtl(t)
	msg := mustTerm(t, bytes.Repeat([]byte{1}, 100))
	whole := append(append([]byte{}, ctl...), msg...)

	t.Run("storm", func(t *testing.T) {
		d := Decoder{Limits: Limits{MaxPendingSequences: 4}}
		for seq := uint64(0); seq < 4; seq++ {
			if m, err := d.Decode(fragFrame(hdrFragment, seq, 2, whole[:10])); m != nil || err != nil {
				t.Fatalf("sequence %d: %v %v", seq, m, err)
			}
		}
		m, err := d.Decode(fragFrame(hdrFragment, 4, 2, whole[:10]))
		wantProto(t, "fifth sequence", m, err)
		// The default bound holds too.
		var dd Decoder
		var err2 error
		for seq := uint64(0); seq <= DefaultMaxPendingSequences && err2 == nil; seq++ {
			_, err2 = dd.Decode(fragFrame(hdrFragment, seq, 1<<40, nil))
		}
		if !errors.Is(err2, ErrProtocol) || len(dd.seqs) != DefaultMaxPendingSequences {
			t.Errorf("default bound: %v with %d pending", err2, len(dd.seqs))
		}
	})
	t.Run("unknown sequence", func(t *testing.T) {
		var d Decoder
		m, err := d.Decode(fragFrame(hdrContinue, 77, 1, whole))
		wantProto(t, "continuation of an unknown sequence", m, err)
	})
	t.Run("restart", func(t *testing.T) {
		var d Decoder
		d.Decode(fragFrame(hdrFragment, 1, 3, whole[:10]))
		m, err := d.Decode(fragFrame(hdrFragment, 1, 3, whole[:10]))
		wantProto(t, "sequence started twice", m, err)
	})
	t.Run("fragment id 0", func(t *testing.T) {
		var d Decoder
		m, err := d.Decode(fragFrame(hdrFragment, 1, 0, whole))
		wantProto(t, "first fragment id 0", m, err)
	})
	t.Run("order", func(t *testing.T) {
		for _, ids := range [][]uint64{{3, 1}, {3, 3}, {3, 2, 2}, {2, 2}, {2, 3}, {3, 4}, {3, 0}} {
			var d Decoder
			if _, err := d.Decode(fragFrame(hdrFragment, 5, ids[0], whole[:10])); err != nil {
				t.Fatal(err)
			}
			var err error
			var m *Message
			for _, id := range ids[1:] {
				if m, err = d.Decode(fragFrame(hdrContinue, 5, id, whole[10:20])); err != nil {
					break
				}
			}
			wantProto(t, "fragment ids out of order", m, err)
		}
		// The right order works, with a whole message interleaved.
		var d Decoder
		for i, f := range [][]byte{
			fragFrame(hdrFragment, 5, 3, whole[:10]),
			fragFrame(hdrContinue, 5, 2, whole[10:20]),
			hdr(t, nil, false, whole),
			fragFrame(hdrContinue, 5, 1, whole[20:]),
		} {
			m, err := d.Decode(f)
			if err != nil || (m != nil) != (i >= 2) {
				t.Fatalf("frame %d: %v %v", i, m, err)
			}
		}
	})
	t.Run("only fragment", func(t *testing.T) {
		// FragId 1 in a first fragment is a whole message.
		var d Decoder
		m, err := d.Decode(fragFrame(hdrFragment, 5, 1, whole))
		if err != nil || m == nil || len(d.seqs) != 0 {
			t.Fatalf("%v %v", m, err)
		}
	})
	t.Run("oversized", func(t *testing.T) {
		lim := Limits{MaxMessage: len(whole) - 1}
		d := Decoder{Limits: lim}
		m, err := d.Decode(hdr(t, nil, false, whole))
		wantProto(t, "whole message over MaxMessage", m, err)
		m, err = d.Decode(append(append([]byte{'p', 131}, ctl...), mustEncode(t, bytes.Repeat([]byte{1}, 100))...))
		wantProto(t, "pass-through message over MaxMessage", m, err)
		// Fragments that add up beyond MaxMessage.
		d = Decoder{Limits: lim}
		d.Decode(fragFrame(hdrFragment, 1, 3, whole[:50]))
		d.Decode(fragFrame(hdrContinue, 1, 2, whole[50:100]))
		m, err = d.Decode(fragFrame(hdrContinue, 1, 1, whole[100:]))
		wantProto(t, "fragmented message over MaxMessage", m, err)
		// A first fragment alone over MaxMessage, from a carrier that does
		// not bound frames.
		d = Decoder{Limits: lim}
		m, err = d.Decode(fragFrame(hdrFragment, 1, 2, whole))
		wantProto(t, "first fragment over MaxMessage", m, err)
		if d.total != 0 {
			t.Errorf("refused fragment left %d bytes accounted", d.total)
		}
		// Many sequences, each under MaxMessage, cannot buffer more than
		// twice MaxMessage in total.
		d = Decoder{Limits: Limits{MaxMessage: 1000, MaxPendingSequences: 100}}
		chunk := make([]byte, 900)
		var n int
		for seq := uint64(0); seq < 100; seq++ {
			if _, err = d.Decode(fragFrame(hdrFragment, seq, 2, chunk)); err != nil {
				break
			}
			n++
		}
		if !errors.Is(err, ErrProtocol) || n != 2 || d.total > 2000 {
			t.Errorf("total bound: %d sequences accepted, %d bytes, err %v", n, d.total, err)
		}
	})
	t.Run("bytes freed", func(t *testing.T) {
		d := Decoder{Limits: Limits{MaxMessage: len(whole)}}
		for i := 0; i < 10; i++ {
			seq := uint64(100 + i)
			d.Decode(fragFrame(hdrFragment, seq, 2, whole[:30]))
			if m, err := d.Decode(fragFrame(hdrContinue, seq, 1, whole[30:])); err != nil || m == nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		if d.total != 0 || len(d.seqs) != 0 {
			t.Errorf("after complete messages: %d bytes, %d sequences pending", d.total, len(d.seqs))
		}
	})
}

func TestDecoderGarbage(t *testing.T) {
	ctl := sendSenderCtl(t)
	msg := mustTerm(t, etf.Atom("hello"))
	link := mustTerm(t, etf.Tuple{int64(OpLink), pidA, pidB})
	cases := []struct {
		name  string
		frame []byte
	}{
		{"bad first byte", []byte{0, 1, 2, 3}},
		{"version only", []byte{131}},
		{"unknown header type", []byte{131, 71, 0}},
		{"131 68 without refs count", []byte{131, 68}},
		{"pass-through empty", []byte{'p'}},
		{"pass-through without version", append([]byte{'p'}, ctl...)},
		{"pass-through second term without version", append(append([]byte{'p', 131}, ctl...), msg...)},
		{"control is not a tuple", hdr(t, nil, false, mustTerm(t, etf.Atom("hi")))},
		{"unknown op", hdr(t, nil, false, mustTerm(t, etf.Tuple{int64(99), pidA, pidB}))},
		{"malformed control", hdr(t, nil, false, mustTerm(t, etf.Tuple{int64(OpSendSender), pidA}), msg)},
		{"truncated control", hdr(t, nil, false, ctl[:len(ctl)-1])},
		{"op with message, none given", hdr(t, nil, false, ctl)},
		{"op with message, truncated", hdr(t, nil, false, ctl, msg[:len(msg)-1])},
		{"garbage after message", hdr(t, nil, false, ctl, msg, []byte{0})},
		{"two messages", hdr(t, nil, false, ctl, msg, msg)},
		{"op without message, given one", hdr(t, nil, false, link, msg)},
		{"garbage after control", hdr(t, nil, false, link, []byte{1, 2})},
		{"deep nesting", hdr(t, nil, false, ctl, bytes.Repeat([]byte{104, 1}, 20000), msg)},
		{"huge declared list", hdr(t, nil, false, ctl, []byte{108, 0xff, 0xff, 0xff, 0xff, 106})},
	}
	for _, tc := range cases {
		var d Decoder
		m, err := d.Decode(tc.frame)
		wantProto(t, tc.name, m, err)
	}
	// The control says which ops carry a message; with and without.
	var d Decoder
	if m, err := d.Decode(hdr(t, nil, false, link)); err != nil || m.Payload != nil {
		t.Errorf("LINK alone: %v %v", m, err)
	}
	if m, err := d.Decode(hdr(t, nil, false, ctl, msg)); err != nil || m.Payload != etf.Atom("hello") {
		t.Errorf("SEND_SENDER with message: %v %v", m, err)
	}
	// MaxDepth is honoured.
	d = Decoder{Limits: Limits{MaxDepth: 3}}
	m, err := d.Decode(hdr(t, nil, false, ctl, bytes.Repeat([]byte{104, 1}, 4), msg))
	wantProto(t, "nesting over MaxDepth", m, err)
}

// rwConn is a net.Conn over a reader, for feeding a TCPCarrier bytes.
type rwConn struct {
	net.Conn
	r      io.Reader
	w      bytes.Buffer
	closed bool
}

func (c *rwConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *rwConn) Write(b []byte) (int, error) { return c.w.Write(b) }
func (c *rwConn) Close() error                { c.closed = true; return nil }

func TestTCPCarrierFraming(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 3<<20+17) // read in 1 MiB steps
	var in bytes.Buffer
	for _, f := range [][]byte{{}, []byte("abc"), {}, big, {7}} {
		binary.Write(&in, binary.BigEndian, uint32(len(f)))
		in.Write(f)
	}
	c := &rwConn{r: &in}
	tc := NewTCPCarrier(c, Limits{})
	for i, want := range [][]byte{nil, []byte("abc"), nil, big, {7}} {
		f, err := tc.ReadFrame()
		if err != nil || !bytes.Equal(f, want) {
			t.Fatalf("frame %d: %d bytes, %v", i, len(f), err)
		}
	}
	if _, err := tc.ReadFrame(); err != io.EOF {
		t.Errorf("at the end: %v", err)
	}
	// Writes: frames of one message in order, each length-prefixed, a tick
	// is four zero bytes.
	if err := tc.WriteFrames(1, [][]byte{[]byte("ab"), {}, []byte("c")}); err != nil {
		t.Fatal(err)
	}
	if err := tc.WriteTick(); err != nil {
		t.Fatal(err)
	}
	// Writes are queued for the carrier's writer goroutine; Close lets
	// them out before closing the connection.
	tc.Close()
	want := []byte{0, 0, 0, 2, 'a', 'b', 0, 0, 0, 0, 0, 0, 0, 1, 'c', 0, 0, 0, 0}
	if !bytes.Equal(c.w.Bytes(), want) {
		t.Errorf("written %x, want %x", c.w.Bytes(), want)
	}
	if !c.closed {
		t.Error("Close did not close the connection")
	}
}

func TestTCPCarrierBounds(t *testing.T) {
	lim := Limits{MaxMessage: 1000}
	// A length over the bound fails before anything is allocated or read.
	for _, n := range []uint32{1065, 1 << 31, 0xffffffff} {
		var in bytes.Buffer
		binary.Write(&in, binary.BigEndian, n)
		tc := NewTCPCarrier(&rwConn{r: &in}, lim)
		if _, err := tc.ReadFrame(); !errors.Is(err, ErrProtocol) {
			t.Errorf("length %d: %v", n, err)
		}
	}
	// Exactly at the bound is fine.
	var in bytes.Buffer
	binary.Write(&in, binary.BigEndian, uint32(1064))
	in.Write(make([]byte, 1064))
	if f, err := NewTCPCarrier(&rwConn{r: &in}, lim).ReadFrame(); err != nil || len(f) != 1064 {
		t.Errorf("frame at the bound: %v", err)
	}
	// Truncated length or body.
	for _, b := range [][]byte{{0, 0}, {0, 0, 0, 5, 1, 2}} {
		_, err := NewTCPCarrier(&rwConn{r: bytes.NewReader(b)}, lim).ReadFrame()
		if err != io.ErrUnexpectedEOF {
			t.Errorf("truncated %x: %v", b, err)
		}
	}
	// A big frame whose body never comes fails once the stream ends,
	// having read (and so allocated) only what arrived.
	var trunc bytes.Buffer
	binary.Write(&trunc, binary.BigEndian, uint32(200<<20))
	trunc.Write(make([]byte, 10))
	if _, err := NewTCPCarrier(&rwConn{r: &trunc}, Limits{}).ReadFrame(); err != io.ErrUnexpectedEOF {
		t.Errorf("truncated big frame: %v", err)
	}
}

func TestTCPCarrierBigFrameAllocation(t *testing.T) {
	var trunc bytes.Buffer
	binary.Write(&trunc, binary.BigEndian, uint32(200<<20))
	trunc.Write(make([]byte, 10))
	c := NewTCPCarrier(&rwConn{r: &trunc}, Limits{})
	var before, after runtimeMem
	before.read()
	if _, err := c.ReadFrame(); err == nil {
		t.Fatal("truncated frame read")
	}
	after.read()
	if grown := after.total - before.total; grown > 8<<20 {
		t.Errorf("a 4-byte length made the carrier allocate %d bytes", grown)
	}
}

type runtimeMem struct{ total uint64 }

func (m *runtimeMem) read() {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	m.total = s.TotalAlloc
}
