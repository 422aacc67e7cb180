package auth

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"
)

func codecSeeds(frames bool) [][]byte {
	var out [][]byte
	var c codecFile
	// The vectors are optional for fuzzing; without them the hand seeds
	// below still cover every type.
	if b, err := readVector("auth_codec_cases.json"); err == nil {
		_ = jsonUnmarshal(b, &c)
	}
	for _, d := range c.DecodeCases {
		s := d.Msg
		if frames {
			s = d.Frame
		}
		if b, err := hex.DecodeString(s); err == nil {
			out = append(out, b)
		}
	}
	for _, m := range []Message{Hello{Name: "a@b"}, Challenge{Timestamp: 1}, Response{}, OK{}, Fail{Reason: "key_mismatch"}} {
		if frames {
			b, _ := AppendFrame(nil, m)
			out = append(out, b)
		} else {
			out = append(out, m.AppendTo(nil))
		}
	}
	return out
}

// FuzzDecode: never panics; whatever decodes re-encodes to the same bytes
// and a HELLO name always passes §4.
func FuzzDecode(f *testing.F) {
	for _, b := range codecSeeds(false) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || m != nil {
				t.Fatalf("bad error %T %v / %v", err, err, m)
			}
			_ = de.Term()
			return
		}
		if re := m.AppendTo(nil); !bytes.Equal(re, b) {
			t.Fatalf("re-encode %x != %x", re, b)
		}
		if h, ok := m.(Hello); ok && ValidateNodeName(h.Name) != nil {
			t.Fatalf("invalid name decoded: %q", h.Name)
		}
		_ = m.Term()
	})
}

// FuzzFrameReader: any byte stream, delivered in any chunking, deframes to
// the same messages as the reference split, and never panics or returns
// more than 65535 bytes.
func FuzzFrameReader(f *testing.F) {
	for i, b := range codecSeeds(true) {
		f.Add(b, uint8(i))
	}
	f.Add([]byte{0xff, 0xff, 1}, uint8(1))
	f.Add([]byte{0, 0, 0, 1, 4}, uint8(3))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		var want [][]byte
		rest := stream
		for len(rest) >= 2 {
			n := int(rest[0])<<8 | int(rest[1])
			if len(rest) < 2+n {
				break
			}
			want = append(want, rest[2:2+n])
			rest = rest[2+n:]
		}
		fr := NewFrameReader(&chunker{b: stream, n: int(chunk%17) + 1})
		for i := 0; ; i++ {
			msg, err := fr.ReadFrame()
			if err != nil {
				if i != len(want) {
					t.Fatalf("stopped after %d of %d frames: %v", i, len(want), err)
				}
				if (len(rest) == 0) != errors.Is(err, io.EOF) || (len(rest) > 0) != errors.Is(err, ErrTruncatedFrame) {
					t.Fatalf("end error %v with %d trailing bytes", err, len(rest))
				}
				break
			}
			if i >= len(want) || !bytes.Equal(msg, want[i]) || len(msg) > MaxMessage {
				t.Fatalf("frame %d = %x", i, msg)
			}
			_, _ = Decode(msg)
		}
	})
}

// chunker delivers b n bytes per Read.
type chunker struct {
	b []byte
	n int
}

func (c *chunker) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := min(c.n, len(p), len(c.b))
	copy(p, c.b[:k])
	c.b = c.b[k:]
	return k, nil
}
