package dist

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
)

// A fragmented message is assembled in the buffer reserved from its
// fragment count, its binaries come out intact, and the in-flight
// accounting returns to zero.
func TestFragmentReservation(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	enc := Encoder{Fragments: true, FragmentSize: 1000}
	frames, err := enc.Encode(nil, &Control{Op: OpSend, To: pidA}, etf.Tuple{etf.Atom("big"), big})
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) < 60 {
		t.Fatalf("%d frames, want the message cut in about 66", len(frames))
	}
	var d Decoder
	var m *Message
	for i, f := range frames {
		if m, err = d.Decode(f); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if i == 0 {
			p := d.seqs[enc.seq]
			if p == nil || cap(p.buf) < len(frames)*1000 || d.total != p.accounted {
				t.Fatalf("first fragment reserved %d bytes (accounted %d of %d), want about %d",
					cap(p.buf), p.accounted, d.total, len(frames)*1000)
			}
		}
	}
	if m == nil {
		t.Fatal("no message after the last fragment")
	}
	if got, ok := m.Payload.(etf.Tuple); !ok || len(got) != 2 || !bytes.Equal(got[1].([]byte), big) {
		t.Fatalf("payload came back different")
	}
	if d.total != 0 || len(d.seqs) != 0 {
		t.Errorf("after the message: %d bytes in flight, %d sequences", d.total, len(d.seqs))
	}
}

// A fragment count a peer inflates reserves no more than the cap and half
// the in-flight bound, and received bytes up to MaxMessage still fit.
func TestFragmentReservationBounded(t *testing.T) {
	lim := Limits{MaxMessage: 1000}
	d := Decoder{Limits: lim}
	first := func(seq uint64, data []byte) []byte {
		f := []byte{etf.Version, hdrFragment}
		f = binary.BigEndian.AppendUint64(f, seq)
		f = binary.BigEndian.AppendUint64(f, 1<<40)
		return append(append(f, 0), data...)
	}
	for seq := uint64(1); seq <= 10; seq++ {
		if _, err := d.Decode(first(seq, make([]byte, 90))); err != nil {
			t.Fatalf("sequence %d: %v (in flight %d)", seq, err, d.total)
		}
		if d.total > 2*lim.MaxMessage {
			t.Fatalf("sequence %d: %d bytes accounted, bound %d", seq, d.total, 2*lim.MaxMessage)
		}
	}
	for _, p := range d.seqs {
		if cap(p.buf) > lim.MaxMessage {
			t.Errorf("reserved %d bytes for a %d-byte MaxMessage", cap(p.buf), lim.MaxMessage)
		}
	}
}

// The in-place fragment layout gives the frames a fresh buffer per
// fragment would: the same headers and chunks, for every way the payload
// can end against the fragment size.
func TestEncoderFragmentLayout(t *testing.T) {
	for _, fs := range []int{1, 7, 100, 1000} {
		for _, size := range []int{fs - 20, fs - 1, fs, fs + 1, 2*fs - 1, 2 * fs, 5*fs + 3, 37 * fs} {
			if size < 0 {
				continue
			}
			msg := make([]byte, size)
			for i := range msg {
				msg[i] = byte(i * 7)
			}
			ctl := &Control{Op: OpSend, To: pidA}
			enc := Encoder{Fragments: true, FragmentSize: fs}
			frames, err := enc.Encode(nil, ctl, msg)
			if err != nil {
				t.Fatal(err)
			}
			whole := []byte{etf.Version, hdrNormal, 0}
			tup, _ := ctl.Tuple()
			whole, _ = etf.AppendTerm(whole, tup, nil)
			whole, _ = etf.AppendTerm(whole, msg, nil)
			payload := whole[3:]
			if len(payload) <= fs {
				if len(frames) != 1 || !bytes.Equal(frames[0], whole) {
					t.Fatalf("fs %d size %d: unfragmented frame differs", fs, size)
				}
				continue
			}
			n := (len(payload) + fs - 1) / fs
			if len(frames) != n {
				t.Fatalf("fs %d size %d: %d frames, want %d", fs, size, len(frames), n)
			}
			for i, f := range frames {
				want := []byte{etf.Version, hdrContinue}
				if i == 0 {
					want[1] = hdrFragment
				}
				want = binary.BigEndian.AppendUint64(want, enc.seq)
				want = binary.BigEndian.AppendUint64(want, uint64(n-i))
				if i == 0 {
					want = append(want, 0)
				}
				want = append(want, payload[i*fs:min(len(payload), (i+1)*fs)]...)
				if !bytes.Equal(f, want) || cap(f) != len(f) {
					t.Fatalf("fs %d size %d: frame %d differs (cap %d, len %d)", fs, size, i, cap(f), len(f))
				}
			}
		}
	}
}
