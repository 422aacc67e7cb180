package dist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
)

// placedRun reads every frame of in through a TCP carrier and decodes it,
// placing bodies straight into reassembly buffers when placing is set. It
// returns the messages, how many frames were placed and the error that
// ended the run (io.EOF at a clean end).
func placedRun(in []byte, chunk, direct int, lim Limits, placing bool) (msgs []*Message, placed int, err error) {
	tc := NewTCPCarrier(&rwConn{r: &chunkReader{bytes.NewReader(in), chunk}}, lim)
	tc.r.direct = direct
	d := Decoder{Limits: lim}
	place := func(head []byte, size int) []byte {
		b := d.Place(head, size)
		if b != nil {
			placed++
		}
		return b
	}
	for {
		var frame []byte
		if placing {
			frame, err = tc.ReadFramePlaced(place)
		} else {
			frame, err = tc.ReadFrame()
		}
		if err != nil {
			return msgs, placed, err
		}
		m, err := d.Decode(frame)
		if err != nil {
			return msgs, placed, err
		}
		if m != nil {
			msgs = append(msgs, m)
		}
	}
}

// A stream of fragmented and whole bulk messages, small messages and
// ticks, cut in pieces of every size, decodes right, and every large
// continuation fragment or whole message is placed.
func TestPlacedReadBulk(t *testing.T) {
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	var in []byte
	var want []etf.Term
	fragments := 0
	add := func(enc *Encoder, msg etf.Term) {
		frames, err := enc.Encode(nil, &Control{Op: OpSend, To: pidA}, msg)
		if err != nil {
			t.Fatal(err)
		}
		if len(frames) == 1 && len(frames[0]) >= directFrame {
			fragments++ // a whole large message
		}
		for _, f := range frames[1:] {
			if len(f) >= directFrame { // the last one is usually smaller
				fragments++
			}
		}
		in = append(in, joinFrames(frames...)...)
		want = append(want, msg)
	}
	frag := &Encoder{Fragments: true}
	whole := &Encoder{Fragments: true, FragmentSize: 4 << 20}
	pass := &Encoder{}
	add(frag, etf.Tuple{etf.Atom("big"), big})
	add(frag, etf.Atom("small"))
	in = append(in, 0, 0, 0, 0) // a tick
	add(frag, etf.Tuple{etf.Atom("big"), big[:200_000]})
	add(whole, etf.Tuple{etf.Atom("whole"), big})
	add(pass, etf.Tuple{etf.Atom("pass"), big[:300_000]})
	add(whole, etf.Tuple{etf.Atom("whole"), big[:20_000]})
	add(frag, etf.Tuple{etf.Atom("big"), big[1:]})
	for _, chunk := range []int{1, 13, 4096, 70_000, len(in)} {
		t.Run(fmt.Sprint("chunk=", chunk), func(t *testing.T) {
			if chunk == 1 && testing.Short() {
				t.Skip("byte by byte is slow")
			}
			msgs, placed, err := placedRun(in, chunk, directFrame, Limits{}, true)
			if err != io.EOF {
				t.Fatalf("run ended with %v, want EOF", err)
			}
			if len(msgs) != len(want) {
				t.Fatalf("%d messages, want %d", len(msgs), len(want))
			}
			for i, m := range msgs {
				if !reflect.DeepEqual(m.Payload, want[i]) {
					t.Errorf("message %d came back different", i)
				}
			}
			if placed != fragments {
				t.Errorf("%d frames placed, want every large continuation or whole message (%d)", placed, fragments)
			}
		})
	}
}

// Place declines what it cannot take whole, and Decode then refuses or
// appends as it always did.
func TestPlaceDeclines(t *testing.T) {
	whole := append(append([]byte{}, sendSenderCtl(t)...), mustTerm(t, etf.Atom("hello"))...)
	var d Decoder
	if _, err := d.Decode(fragFrame(hdrFragment, 7, 3, whole[:5])); err != nil {
		t.Fatal(err)
	}
	cont := fragFrame(hdrContinue, 7, 2, whole[5:9])
	for name, c := range map[string]struct {
		head []byte
		size int
	}{
		"unknown sequence": {fragFrame(hdrContinue, 8, 2, nil), 30},
		"out of order":     {fragFrame(hdrContinue, 7, 1, nil), 30},
		"first fragment":   {fragFrame(hdrFragment, 7, 2, nil)[:ContinuationHead], 30},
		"whole, too large": {append([]byte{131, 68, 0}, make([]byte, 15)...), maxWhole + 1},
		"not a frame":      {make([]byte, ContinuationHead), 30},
		"short head":       {cont[:10], 30},
		"beyond reserve":   {cont[:ContinuationHead], ContinuationHead + 1<<20},
		"empty body":       {cont[:ContinuationHead], ContinuationHead},
	} {
		if b := d.Place(c.head, c.size); b != nil {
			t.Errorf("%s: placed %d bytes", name, len(b))
		}
	}
	// A frame other than the placed continuation is a carrier bug, not
	// data to decode.
	if b := d.Place(cont[:ContinuationHead], len(cont)); len(b) != 4 {
		t.Fatalf("placed %d bytes, want 4", len(b))
	}
	if _, err := d.Decode([]byte{131, 68, 0}); err == nil {
		t.Error("Decode took another frame after a placement")
	}
}

// The carrier's own buffer and the direct reads give the same frames and
// the same end as the plain path, for any input cut any way.
func FuzzPlacedRead(f *testing.F) {
	addVectorSeeds(f, true)
	addCraftedSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		chunk, direct := 1<<16, directFrame
		if len(in) > 1 {
			chunk = int(in[0])%64 + 1
			direct = int(in[1])%40 + 1 // low enough for fuzz-sized frames
		}
		lim := Limits{MaxMessage: 1 << 16, MaxPendingSequences: 4, MaxDepth: 200}
		want, _, werr := placedRun(in, chunk, direct, lim, false)
		got, _, gerr := placedRun(in, chunk, direct, lim, true)
		if len(got) != len(want) {
			t.Fatalf("placing: %d messages, plain: %d", len(got), len(want))
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("message %d: placing %v, plain %v", i, got[i], want[i])
			}
		}
		if errors.Is(gerr, ErrProtocol) != errors.Is(werr, ErrProtocol) || (gerr == io.EOF) != (werr == io.EOF) {
			t.Fatalf("placing ended with %v, plain with %v", gerr, werr)
		}
	})
}

// A whole large message placed in a buffer of its own is decoded without
// copying its binaries out of it.
func TestPlaceWholeShares(t *testing.T) {
	bin := bytes.Repeat([]byte{7}, 100_000)
	frames, err := (&Encoder{Fragments: true, FragmentSize: 1 << 20}).Encode(nil, &Control{Op: OpSend, To: pidA}, bin)
	if err != nil || len(frames) != 1 {
		t.Fatalf("encode: %d frames, %v", len(frames), err)
	}
	f := frames[0]
	var d Decoder
	dst := d.Place(f[:ContinuationHead], len(f))
	if len(dst) != len(f)-ContinuationHead {
		t.Fatalf("placed %d bytes of a %d-byte frame", len(dst), len(f))
	}
	copy(dst, f[ContinuationHead:])
	m, err := d.Decode(f[:ContinuationHead])
	if err != nil {
		t.Fatal(err)
	}
	got, ok := m.Payload.([]byte)
	if !ok || !bytes.Equal(got, bin) {
		t.Fatalf("payload %T came back different", m.Payload)
	}
	dst[len(dst)-1] = 8 // the binary's last byte, in the placed buffer
	if got[len(got)-1] != 8 {
		t.Error("the binary was copied out of the placed buffer")
	}
}
