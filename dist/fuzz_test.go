package dist

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
)

// fuzzLimits are small enough that the fuzzer reaches every bound, and
// large enough for the recorded 150000-byte fragmented message.
var fuzzLimits = Limits{MaxMessage: 1 << 18, MaxPendingSequences: 4, MaxDepth: 200}

// splitFrames cuts fuzz input into frames: a 4-byte big-endian length, then
// that many bytes (or what is left).
func splitFrames(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 4 {
		n := int(min(binary.BigEndian.Uint32(b), uint32(len(b)-4)))
		out = append(out, b[4:4+n])
		b = b[4+n:]
	}
	if len(b) > 0 {
		out = append(out, b)
	}
	return out
}

func joinFrames(frames ...[]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// addVectorSeeds seeds with the recorded traffic: runs of consecutive
// writes of each connection direction (length prefixes included, as
// splitFrames and the TCP carrier expect), and with reads the chunks a
// receiver got, which can end inside a frame.
func addVectorSeeds(f *testing.F, reads bool) {
	v, err := readFrames()
	if err != nil {
		return // seeded by addCraftedSeeds alone
	}
	for _, conn := range v.Connections {
		run := map[string][]byte{}
		count := map[string]int{}
		for _, w := range conn.Writes {
			if count[w.Dir] == 8 {
				f.Add(run[w.Dir])
				run[w.Dir], count[w.Dir] = nil, 0
			}
			run[w.Dir] = append(run[w.Dir], w.bytes...)
			count[w.Dir]++
		}
		for _, b := range run {
			f.Add(b)
		}
		if reads {
			for _, r := range conn.Reads[:min(len(conn.Reads), 20)] {
				if b, err := hex.DecodeString(r.BytesHex); err == nil {
					f.Add(b)
				}
			}
		}
	}
}

// addCraftedSeeds adds frames that sit on the decoder's edges.
func addCraftedSeeds(f *testing.F) {
	ctl := sendSenderCtl(f)
	msg := mustTerm(f, etf.Atom("hello"))
	whole := append(append([]byte{}, ctl...), msg...)
	f.Add(joinFrames(nil, hdr(f, nil, false, whole)))
	f.Add(joinFrames(append([]byte{'p', 131}, append(append([]byte{}, ctl...), mustEncode(f, etf.Atom("x"))...)...)))
	f.Add(joinFrames(hdr(f, []cacheRef{{5, "abc"}, {0x123, "defgh"}}, true, ctl, msg), hdr(f, []cacheRef{{5, ""}}, false, ctl, msg)))
	f.Add(joinFrames(fragFrame(hdrFragment, 7, 3, whole[:5]), fragFrame(hdrContinue, 7, 2, whole[5:9]), fragFrame(hdrContinue, 7, 1, whole[9:])))
	f.Add(joinFrames(fragFrame(hdrFragment, 1, 2, whole[:5]), fragFrame(hdrFragment, 2, 2, whole[:5]),
		fragFrame(hdrContinue, 2, 1, whole[5:]), fragFrame(hdrContinue, 1, 1, whole[5:])))
}

func FuzzDecoder(f *testing.F) {
	addVectorSeeds(f, false)
	addCraftedSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		d := Decoder{Limits: fuzzLimits}
		// The same frames through the generic control decoder: the fast
		// path must agree on every message and every refusal.
		g := Decoder{Limits: fuzzLimits, genericControl: true}
		for _, frame := range splitFrames(in) {
			m, err := d.Decode(frame)
			gm, gerr := g.Decode(frame)
			if (err == nil) != (gerr == nil) {
				t.Fatalf("fast control path: %v; generic: %v", err, gerr)
			}
			if m != nil || gm != nil {
				if m == nil || gm == nil {
					t.Fatalf("fast control path gave %v, generic %v", m, gm)
				}
				ft, _ := m.Control.Tuple()
				gt, _ := gm.Control.Tuple()
				if !etf.Equal(ft, gt) || !etf.Equal(m.Payload, gm.Payload) {
					t.Fatalf("fast control path gave %s, generic %s", etf.Format(ft), etf.Format(gt))
				}
			}
			if err != nil {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("error does not wrap ErrProtocol: %v", err)
				}
				if m != nil {
					t.Fatal("message with an error")
				}
				return // the connection would close here
			}
			if d.total < 0 || d.total > 2*fuzzLimits.MaxMessage || len(d.seqs) > fuzzLimits.MaxPendingSequences {
				t.Fatalf("decoder holds %d bytes in %d sequences", d.total, len(d.seqs))
			}
			if m == nil {
				continue
			}
			checkReencode(t, m)
		}
	})
}

// checkReencode sends a decoded message back through our encoder, in small
// fragments, and requires the same message out of a fresh decoder.
func checkReencode(t *testing.T, m *Message) {
	t.Helper()
	if m.Control == nil || m.Control.Op.HasMessage() != (m.Payload != nil) {
		t.Fatalf("message %+v: payload presence does not match %v", m, m.Control.Op)
	}
	want, err := m.Control.Tuple()
	if err != nil {
		t.Fatalf("decoded %v does not encode: %v", m.Control.Op, err)
	}
	enc := Encoder{Fragments: true, FragmentSize: 64}
	frames, err := enc.Encode(nil, m.Control, m.Payload)
	if err != nil {
		t.Fatalf("decoded %s does not encode: %v", etf.Format(want), err)
	}
	d := Decoder{Limits: Limits{MaxMessage: 4 * fuzzLimits.MaxMessage, MaxPendingSequences: 1, MaxDepth: fuzzLimits.MaxDepth}}
	var back *Message
	for i, f := range frames {
		back, err = d.Decode(f)
		if err != nil {
			t.Fatalf("re-encoded %s frame %d: %v", etf.Format(want), i, err)
		}
	}
	if back == nil {
		t.Fatal("re-encoded message did not complete")
	}
	got, _ := back.Control.Tuple()
	if !etf.Equal(got, want) || !etf.Equal(back.Payload, m.Payload) {
		t.Fatalf("round trip changed %s %.200s into %s %.200s", etf.Format(want), etf.Format(m.Payload), etf.Format(got), etf.Format(back.Payload))
	}
}

// chunkReader returns at most n bytes per Read, like a stream that
// delivers frames in pieces.
type chunkReader struct {
	r *bytes.Reader
	n int
}

func (c *chunkReader) Read(b []byte) (int, error) {
	return c.r.Read(b[:min(len(b), c.n)])
}

func FuzzTCPCarrier(f *testing.F) {
	addVectorSeeds(f, true)
	addCraftedSeeds(f)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0})
	f.Add([]byte{0, 1, 0, 0, 131, 69})
	f.Fuzz(func(t *testing.T, in []byte) {
		chunk := 1 << 16
		if len(in) > 0 {
			chunk = int(in[0])%64 + 1 // frames arrive in small pieces
		}
		lim := Limits{MaxMessage: 1 << 16, MaxPendingSequences: 4, MaxDepth: 200}
		tc := NewTCPCarrier(&rwConn{r: &chunkReader{bytes.NewReader(in), chunk}}, lim)
		d := Decoder{Limits: lim}
		read := 0
		for {
			frame, err := tc.ReadFrame()
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrProtocol) {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			read += 4 + len(frame)
			if read > len(in) || len(frame) > lim.MaxMessage+64 {
				t.Fatalf("frame of %d bytes from %d bytes of input", len(frame), len(in))
			}
			if _, err := d.Decode(frame); err != nil && !errors.Is(err, ErrProtocol) {
				t.Fatalf("decode error does not wrap ErrProtocol: %v", err)
			}
		}
	})
}
