package dist

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
)

// Minimal views of /work/shared/vectors/dist_frames.json (README §3.7).
type vecFrames struct {
	Connections []vecConn `json:"connections"`
}

type vecConn struct {
	ID          int             `json:"id"`
	Label       string          `json:"label"`
	Writes      []vecWrite      `json:"writes"`
	Reads       []vecRead       `json:"reads"`
	Reassembled []vecReassembly `json:"reassembled_fragmented_messages"`
}

type vecWrite struct {
	Dir      string   `json:"dir"`
	StreamID int      `json:"stream_id"`
	BytesHex string   `json:"bytes_hex"`
	Len      int      `json:"len"`
	Frame    vecFrame `json:"frame"`
	bytes    []byte
}

type vecFrame struct {
	Kind               string `json:"kind"`
	LengthPrefix       int    `json:"length_prefix"`
	Dop                int    `json:"dop"`
	DopName            string `json:"dop_name"`
	HeaderHex          string `json:"header_hex"`
	Control            string `json:"control"`
	ControlHex         string `json:"control_hex"`
	Message            string `json:"message"`
	MessageHex         string `json:"message_hex"`
	SequenceID         uint64 `json:"sequence_id"`
	FragmentID         uint64 `json:"fragment_id"`
	FragmentPayloadLen int    `json:"fragment_payload_len"`
}

type vecRead struct {
	Side     string `json:"side"`
	StreamID int    `json:"stream_id"`
	BytesHex string `json:"bytes_hex"`
}

type vecReassembly struct {
	Control       string `json:"control"`
	ControlHex    string `json:"control_hex"`
	Dop           int    `json:"dop"`
	Fragments     int    `json:"fragments"`
	MessageSHA256 string `json:"message_sha256_hex"`
	MessageSize   int    `json:"message_size"`
	SequenceID    uint64 `json:"sequence_id"`
	TotalPayload  int    `json:"total_payload_len"`
}

var vecDir = filepath.Join("..", "..", "shared", "vectors")

var (
	vecOnce sync.Once
	vecData *vecFrames
	vecErr  error
)

// readFrames parses dist_frames.json once.
func readFrames() (*vecFrames, error) {
	vecOnce.Do(func() {
		raw, err := os.ReadFile(filepath.Join(vecDir, "dist_frames.json"))
		if err != nil {
			vecErr = err
			return
		}
		var v vecFrames
		if err := json.Unmarshal(raw, &v); err != nil {
			vecErr = fmt.Errorf("parse dist_frames.json: %w", err)
			return
		}
		for ci := range v.Connections {
			for wi := range v.Connections[ci].Writes {
				w := &v.Connections[ci].Writes[wi]
				if w.bytes, err = hex.DecodeString(w.BytesHex); err != nil {
					vecErr = fmt.Errorf("connection %d write %d: %w", v.Connections[ci].ID, wi, err)
					return
				}
			}
		}
		vecData = &v
	})
	return vecData, vecErr
}

// loadFrames returns the recorded frames; tests skip when the shared
// vectors are not next to the repository.
func loadFrames(tb testing.TB) *vecFrames {
	tb.Helper()
	v, err := readFrames()
	if errors.Is(err, fs.ErrNotExist) {
		tb.Skipf("shared vectors not found: %v", err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// formatMessage prints a decoded control as the recorder did: the control
// tuple in io_lib:print form with node-qualified pids, which is etf.Format.
func formatControl(t *testing.T, c *Control) string {
	t.Helper()
	tup, err := c.Tuple()
	if err != nil {
		t.Fatalf("Tuple of decoded %v: %v", c.Op, err)
	}
	return etf.Format(tup)
}

// sameText compares a printed term with a recorded print. Where the prints
// differ only in layout (the recorder's io_lib:print may wrap or choose
// other escapes), it parses the recorded text and compares terms.
func sameText(got etf.Term, recorded string) bool {
	if etf.Format(got) == recorded {
		return true
	}
	want, err := etf.Parse(recorded)
	return err == nil && etf.Equal(got, want)
}

func TestVectorWrites(t *testing.T) {
	v := loadFrames(t)
	var stats struct{ ticks, messages, fragments, reencoded, printedExact, printedParsed, msgPrintedExact, msgPrintedParsed int }
	reassembled := map[int][]*Message{}
	for _, conn := range v.Connections {
		decs := map[string]*Decoder{}
		for wi, w := range conn.Writes {
			where := fmt.Sprintf("connection %d (%s) write %d %s stream %d", conn.ID, conn.Label, wi, w.Dir, w.StreamID)
			b := w.bytes
			if len(b) < 4 || int(binary.BigEndian.Uint32(b)) != len(b)-4 || len(b) != w.Len || w.Frame.LengthPrefix != len(b)-4 {
				t.Fatalf("%s: length prefix does not frame the write", where)
			}
			frame := b[4:]
			dec := decs[w.Dir]
			if dec == nil {
				dec = &Decoder{}
				decs[w.Dir] = dec
			}
			m, err := dec.Decode(frame)
			if err != nil {
				t.Fatalf("%s: Decode: %v", where, err)
			}
			kind := w.Frame.Kind
			switch {
			case kind == "tick":
				stats.ticks++
				if m != nil || len(frame) != 0 {
					t.Errorf("%s: tick gave %+v", where, m)
				}
			case strings.HasPrefix(kind, "dist header (131,68)"):
				stats.messages++
				if m == nil {
					t.Fatalf("%s: no message", where)
				}
				if int(m.Control.Op) != w.Frame.Dop || m.Control.Op.String() != w.Frame.DopName {
					t.Errorf("%s: op %v, recorded %d %s", where, m.Control.Op, w.Frame.Dop, w.Frame.DopName)
				}
				// The control tuple: print and exact bytes.
				if got := formatControl(t, m.Control); got == w.Frame.Control {
					stats.printedExact++
				} else {
					tup, _ := m.Control.Tuple()
					if !sameText(tup, w.Frame.Control) {
						t.Errorf("%s: control %s, recorded %s", where, got, w.Frame.Control)
					}
					stats.printedParsed++
				}
				tup, _ := m.Control.Tuple()
				cb, err := etf.AppendTerm(nil, tup, nil)
				if err != nil || !bytes.Equal(cb, mustHex(t, w.Frame.ControlHex)) {
					t.Errorf("%s: control re-encodes as %x, recorded %s (%v)", where, cb, w.Frame.ControlHex, err)
				}
				// The message, when the op carries one.
				if m.Control.Op.HasMessage() != (w.Frame.MessageHex != "") {
					t.Fatalf("%s: %v HasMessage=%v but recorded message %q", where, m.Control.Op, m.Control.Op.HasMessage(), w.Frame.MessageHex)
				}
				if m.Control.Op.HasMessage() {
					if etf.Format(m.Payload) == w.Frame.Message {
						stats.msgPrintedExact++
					} else {
						stats.msgPrintedParsed++
						if !sameText(m.Payload, w.Frame.Message) {
							t.Errorf("%s: message %s, recorded %s", where, etf.Format(m.Payload), w.Frame.Message)
						}
					}
					mb, err := etf.AppendTerm(nil, m.Payload, nil)
					if err != nil || !bytes.Equal(mb, mustHex(t, w.Frame.MessageHex)) {
						t.Errorf("%s: message re-encodes as %x, recorded %s (%v)", where, mb, w.Frame.MessageHex, err)
					}
				} else if m.Payload != nil {
					t.Errorf("%s: %v has payload %s", where, m.Control.Op, etf.Format(m.Payload))
				}
				// Re-encode the whole message as this side would send it. The
				// term codec keeps map pairs in wire order, so even OTP's
				// non-term-order small maps come out byte for byte.
				enc := Encoder{Fragments: true}
				out, err := enc.Encode(nil, m.Control, m.Payload)
				if err != nil {
					t.Fatalf("%s: Encode: %v", where, err)
				}
				if len(out) != 1 || !bytes.Equal(out[0], frame) {
					t.Errorf("%s: Encode gave %d frames\n got %x\nwant %x", where, len(out), out, frame)
				} else {
					stats.reencoded++
				}
			case strings.HasPrefix(kind, "first fragment (131,69)"), strings.HasPrefix(kind, "fragment continuation (131,70)"):
				stats.fragments++
				if len(frame) < 18 || binary.BigEndian.Uint64(frame[2:]) != w.Frame.SequenceID || binary.BigEndian.Uint64(frame[10:]) != w.Frame.FragmentID {
					t.Fatalf("%s: fragment header does not match the recorded seq %d frag %d", where, w.Frame.SequenceID, w.Frame.FragmentID)
				}
				if (w.Frame.FragmentID == 1) != (m != nil) {
					t.Fatalf("%s: fragment %d gave message %v", where, w.Frame.FragmentID, m != nil)
				}
				if m != nil {
					reassembled[conn.ID] = append(reassembled[conn.ID], m)
				}
			default:
				t.Fatalf("%s: unknown recorded kind %q", where, kind)
			}
		}
	}
	// The recording has 2 ticks, 579 whole messages and one 3-fragment one.
	if stats.ticks != 2 || stats.messages != 579 || stats.fragments != 3 || stats.reencoded != stats.messages {
		t.Errorf("stats %+v", stats)
	}
	t.Logf("%+v", stats)

	for _, conn := range v.Connections {
		if len(reassembled[conn.ID]) != len(conn.Reassembled) {
			t.Fatalf("connection %d: reassembled %d messages, recorded %d", conn.ID, len(reassembled[conn.ID]), len(conn.Reassembled))
		}
		for i, want := range conn.Reassembled {
			m := reassembled[conn.ID][i]
			if int(m.Control.Op) != want.Dop || formatControl(t, m.Control) != want.Control {
				t.Errorf("connection %d: reassembled control %s, recorded %s", conn.ID, formatControl(t, m.Control), want.Control)
			}
			mb, err := etf.AppendTerm(nil, m.Payload, nil)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(mb)
			if len(mb) != want.MessageSize || hex.EncodeToString(sum[:]) != want.MessageSHA256 {
				t.Errorf("connection %d: reassembled message %d bytes sha256 %x, recorded %d bytes %s",
					conn.ID, len(mb), sum, want.MessageSize, want.MessageSHA256)
			}
		}
	}
}

// The recorded fragments, checked without the Decoder: their payloads
// concatenate to the recorded control and message.
func TestVectorFragmentBytes(t *testing.T) {
	v := loadFrames(t)
	var total int
	for _, conn := range v.Connections {
		for _, want := range conn.Reassembled {
			var payload []byte
			var frags []uint64
			for _, w := range conn.Writes {
				if w.Frame.SequenceID != want.SequenceID || !strings.Contains(w.Frame.Kind, "fragment") {
					continue
				}
				f := w.bytes[4:]
				hdr := 18
				if f[1] == hdrFragment {
					hdr = 19 // plus the zero atom-cache ref count
				}
				if len(f)-hdr != w.Frame.FragmentPayloadLen {
					t.Errorf("fragment %d carries %d bytes, recorded %d", w.Frame.FragmentID, len(f)-hdr, w.Frame.FragmentPayloadLen)
				}
				payload = append(payload, f[hdr:]...)
				frags = append(frags, w.Frame.FragmentID)
			}
			total++
			if fmt.Sprint(frags) != "[3 2 1]" || len(payload) != want.TotalPayload {
				t.Fatalf("fragments %v, %d payload bytes; recorded %d", frags, len(payload), want.TotalPayload)
			}
			ctl := mustHex(t, want.ControlHex)
			if !bytes.HasPrefix(payload, ctl) {
				t.Fatal("reassembled payload does not start with the recorded control")
			}
			sum := sha256.Sum256(payload[len(ctl):])
			if hex.EncodeToString(sum[:]) != want.MessageSHA256 {
				t.Errorf("message sha256 %x, recorded %s", sum, want.MessageSHA256)
			}
		}
	}
	if total != 1 {
		t.Errorf("%d fragmented messages recorded, want 1", total)
	}
}

// TestVectorReads feeds the chunks each receiver got, which can end inside
// a frame, through per-stream buffers and one Decoder per receiving side.
func TestVectorReads(t *testing.T) {
	v := loadFrames(t)
	var frames, split int
	for _, conn := range v.Connections {
		type key struct {
			side   string
			stream int
		}
		bufs := map[key][]byte{}
		got := map[key][][]byte{}
		decs := map[string]*Decoder{}
		for ri, r := range conn.Reads {
			k := key{r.Side, r.StreamID}
			chunk := mustHex(t, r.BytesHex)
			buf := append(bufs[k], chunk...)
			for len(buf) >= 4 {
				n := int(binary.BigEndian.Uint32(buf))
				if len(buf) < 4+n {
					break
				}
				frame := buf[4 : 4+n : 4+n]
				got[k] = append(got[k], buf[:4+n:4+n])
				buf = buf[4+n:]
				frames++
				dec := decs[r.Side]
				if dec == nil {
					dec = &Decoder{}
					decs[r.Side] = dec
				}
				if _, err := dec.Decode(frame); err != nil {
					t.Fatalf("connection %d read %d (%s stream %d): %v", conn.ID, ri, r.Side, r.StreamID, err)
				}
			}
			if len(buf) > 0 {
				split++
			}
			bufs[k] = append([]byte(nil), buf...)
		}
		for k, rest := range bufs {
			if len(rest) != 0 {
				t.Errorf("connection %d %s stream %d: %d bytes of an unfinished frame at the end", conn.ID, k.side, k.stream, len(rest))
			}
		}
		for _, d := range decs {
			if len(d.seqs) != 0 || d.total != 0 {
				t.Errorf("connection %d: %d fragmented messages left pending (%d bytes)", conn.ID, len(d.seqs), d.total)
			}
		}
		// What a side read on a stream ends with what the other side was
		// recorded writing on it (connection 3's reads start earlier than
		// its write trace, and untraced helpers wrote nothing recorded).
		written := map[key][][]byte{}
		for _, w := range conn.Writes {
			side := "server"
			if w.Dir == "server->client" {
				side = "client"
			}
			k := key{side, w.StreamID}
			written[k] = append(written[k], w.bytes)
		}
		for k, ws := range written {
			rs := got[k]
			if len(rs) == 0 {
				continue // the receiving side was not traced
			}
			if len(rs) < len(ws) {
				t.Errorf("connection %d %s stream %d: read %d frames, %d written", conn.ID, k.side, k.stream, len(rs), len(ws))
				continue
			}
			for i, w := range ws {
				if !bytes.Equal(rs[len(rs)-len(ws)+i], w) {
					t.Errorf("connection %d %s stream %d: frame %d read differs from the write", conn.ID, k.side, k.stream, i)
					break
				}
			}
		}
	}
	if split == 0 {
		t.Error("no read chunk ended inside a frame: the buffering was not exercised")
	}
	t.Logf("%d frames from reads, %d chunks ended inside a frame", frames, split)
}

// recordedFragments returns the three recorded fragment frames (without
// the length prefix) and the message they carry.
func recordedFragments(t testing.TB) ([][]byte, *Message) {
	v := loadFrames(t)
	var frames [][]byte
	var msg *Message
	var d Decoder
	for _, w := range v.Connections[0].Writes {
		if !strings.Contains(w.Frame.Kind, "fragment") {
			continue
		}
		frames = append(frames, w.bytes[4:])
		m, err := d.Decode(w.bytes[4:])
		if err != nil {
			t.Fatal(err)
		}
		if m != nil {
			msg = m
		}
	}
	if len(frames) != 3 || msg == nil {
		t.Fatalf("connection 1 has %d fragments", len(frames))
	}
	return frames, msg
}

func TestEncoderFragmentsLikeOTP(t *testing.T) {
	want, m := recordedFragments(t)
	// Start our sequence so the next one is the recorded id; every other
	// byte must be what OTP wrote.
	enc := Encoder{Fragments: true, seq: binary.BigEndian.Uint64(want[0][2:]) - 1}
	out, err := enc.Encode(nil, m.Control, m.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 {
		t.Fatalf("%d fragments, want 3", len(out))
	}
	for i, f := range out {
		if frag := binary.BigEndian.Uint64(f[10:]); frag != uint64(3-i) {
			t.Errorf("fragment %d has FragId %d", i, frag)
		}
		if !bytes.Equal(f, want[i]) {
			t.Errorf("fragment %d (%d bytes) differs from the recorded one (%d bytes)", i, len(f), len(want[i]))
		}
	}
	if n := []int{len(out[0]) - 19, len(out[1]) - 18, len(out[2]) - 18}; fmt.Sprint(n) != "[65536 65536 18991]" {
		t.Errorf("fragment payloads %v", n)
	}
	// The next message gets a new sequence id.
	out2, _ := enc.Encode(nil, m.Control, m.Payload)
	if binary.BigEndian.Uint64(out2[0][2:]) == binary.BigEndian.Uint64(out[0][2:]) {
		t.Error("two fragmented messages share a sequence id")
	}
	// And our Decoder puts them back together, interleaved.
	var d Decoder
	var got []*Message
	for _, f := range [][]byte{out[0], out2[0], out[1], out2[1], out2[2], out[2]} {
		msg, err := d.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		if msg != nil {
			got = append(got, msg)
		}
	}
	if len(got) != 2 {
		t.Fatalf("reassembled %d messages", len(got))
	}
	for _, g := range got {
		if !etf.Equal(g.Payload, m.Payload) || formatControl(t, g.Control) != formatControl(t, m.Control) {
			t.Error("reassembled message differs")
		}
	}
}

// A 150000-byte binary message of our own, in the shape of the recorded one.
func TestEncoderFragments150000(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 150000/16)
	c := &Control{Op: OpRegSend, From: pidA, To: etf.Atom("accept_probe")}
	enc := Encoder{Fragments: true}
	out, err := enc.Encode(nil, c, payload)
	if err != nil {
		t.Fatal(err)
	}
	ctlLen := len(mustTerm(t, etf.Tuple{int64(OpRegSend), pidA, etf.Atom(""), etf.Atom("accept_probe")}))
	total := ctlLen + 5 + len(payload)
	if len(out) != 3 || len(out[0]) != 19+65536 || len(out[1]) != 18+65536 || len(out[2]) != 18+total-2*65536 {
		t.Fatalf("fragments of %d, %d, %d bytes for %d payload bytes", len(out[0]), len(out[1]), len(out[2]), total)
	}
	var d Decoder
	for i, f := range out {
		if f[0] != 131 || f[1] != []byte{hdrFragment, hdrContinue, hdrContinue}[i] || binary.BigEndian.Uint64(f[10:]) != uint64(3-i) {
			t.Errorf("fragment %d header %x", i, f[:18])
		}
		m, err := d.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		if (m != nil) != (i == 2) {
			t.Fatalf("fragment %d: message %v", i, m)
		}
		if m != nil && (!bytes.Equal(m.Payload.([]byte), payload) || m.Control.To != etf.Atom("accept_probe")) {
			t.Error("reassembled message differs")
		}
	}
	// Exactly FragmentSize bytes is one frame; one more is two.
	small := Encoder{Fragments: true, FragmentSize: total}
	if out, _ := small.Encode(nil, c, payload); len(out) != 1 || out[0][1] != hdrNormal {
		t.Errorf("message of exactly FragmentSize: %d frames", len(out))
	}
	small.FragmentSize = total - 1
	if out, _ := small.Encode(nil, c, payload); len(out) != 2 || len(out[1]) != 18+1 {
		t.Errorf("message one byte over FragmentSize: %d frames", len(out))
	}
}

func mustTerm(t testing.TB, term etf.Term) []byte {
	t.Helper()
	b, err := etf.AppendTerm(nil, term, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Without FRAGMENTS the encoder writes the 'p' pass-through form: each
// term with its own version byte, never split.
func TestEncoderPassThrough(t *testing.T) {
	c := &Control{Op: OpSendSender, From: pidA, To: pidB}
	msg := etf.Tuple{etf.Atom("hello"), bytes.Repeat([]byte{7}, 200000)}
	enc := Encoder{}
	out, err := enc.Encode(nil, c, msg)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{'p'}, mustEncode(t, etf.Tuple{int64(OpSendSender), pidA, pidB})...)
	want = append(want, mustEncode(t, msg)...)
	if len(out) != 1 || !bytes.Equal(out[0], want) {
		t.Fatalf("pass-through frame differs (%d frames)", len(out))
	}
	var d Decoder
	m, err := d.Decode(out[0])
	if err != nil || !etf.Equal(m.Payload, msg) || m.Control.From != pidA {
		t.Fatalf("decode pass-through: %v", err)
	}
	// Ops without a message ignore msg.
	out, _ = enc.Encode(nil, &Control{Op: OpLink, From: pidA, To: pidB}, etf.Atom("ignored"))
	if m, err := d.Decode(out[0]); err != nil || m.Payload != nil {
		t.Fatalf("LINK: %v %v", m, err)
	}
}

func mustEncode(t testing.TB, term etf.Term) []byte {
	t.Helper()
	b, err := etf.Encode(term)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
