package handshake

import (
	"bytes"
	"testing"
)

func TestStatusRoundTrip(t *testing.T) {
	for s := StatusOK; s <= StatusAlive; s++ {
		b, err := MarshalStatus(s)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != "s"+s.String() {
			t.Errorf("%v encodes as %q", s, b)
		}
		got, err := ParseStatus(b)
		if err != nil || got != s {
			t.Errorf("ParseStatus(%q) = %v, %v", b, got, err)
		}
	}
	for _, s := range []Status{0, StatusNamed, 99} {
		if _, err := MarshalStatus(s); err == nil {
			t.Errorf("MarshalStatus(%v) succeeded", s)
		}
	}
	for _, b := range []string{"s", "sok ", "sOK", "sok_simultaneousN", "ok", "strue"} {
		if _, err := ParseStatus([]byte(b)); err == nil {
			t.Errorf("ParseStatus(%q) accepted", b)
		}
	}
}

func TestAliveReply(t *testing.T) {
	for _, v := range []bool{true, false} {
		got, err := ParseAliveReply(marshalAliveReply(v))
		if err != nil || got != v {
			t.Errorf("alive reply %v: %v, %v", v, got, err)
		}
	}
	for _, b := range []string{"", "s", "strue\n", "true", "sok"} {
		if _, err := ParseAliveReply([]byte(b)); err == nil {
			t.Errorf("ParseAliveReply(%q) accepted", b)
		}
	}
}

func TestNameMessageTrailingBytesIgnored(t *testing.T) {
	b, _ := NameMessage{Flags: DefaultFlags, Creation: 7, Name: "a@h"}.Marshal()
	got, err := ParseNameMessage(append(b, "junk"...))
	if err != nil || got.Name != "a@h" || got.Creation != 7 {
		t.Errorf("got %+v, %v", got, err)
	}
}

// Fuzz targets: decoders must never panic, and whatever they accept must
// encode back to the bytes they consumed.

func FuzzParseNameMessage(f *testing.F) {
	b, _ := NameMessage{Flags: DefaultFlags, Creation: 4, Name: "v2@127.0.0.1"}.Marshal()
	f.Add(b)
	f.Add([]byte("N"))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ParseNameMessage(in)
		if err != nil {
			return
		}
		out, err := m.Marshal()
		if err != nil || !bytes.HasPrefix(in, out) {
			t.Fatalf("re-encoded %x (%v) is not a prefix of %x", out, err, in)
		}
	})
}

func FuzzParseChallengeMessage(f *testing.F) {
	b, _ := ChallengeMessage{Flags: DefaultFlags, Challenge: 0x98fe3867, Creation: 4, Name: "v1@127.0.0.1"}.Marshal()
	f.Add(b)
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ParseChallengeMessage(in)
		if err != nil {
			return
		}
		out, err := m.Marshal()
		if err != nil || !bytes.HasPrefix(in, out) {
			t.Fatalf("re-encoded %x (%v) is not a prefix of %x", out, err, in)
		}
	})
}

func FuzzParseReplyMessage(f *testing.F) {
	f.Add(ReplyMessage{Challenge: 1, Digest: Digest("c", 1)}.Marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		if m, err := ParseReplyMessage(in); err == nil && !bytes.Equal(m.Marshal(), in) {
			t.Fatalf("re-encoded %x, input %x", m.Marshal(), in)
		}
	})
}

func FuzzParseAckMessage(f *testing.F) {
	f.Add(AckMessage{Digest: Digest("c", 1)}.Marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		if m, err := ParseAckMessage(in); err == nil && !bytes.Equal(m.Marshal(), in) {
			t.Fatalf("re-encoded %x, input %x", m.Marshal(), in)
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{"sok", "salive", "snamed:\x00\x01x\x00\x00\x00\x01", "strue"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ParseStatus(in)
		if err != nil || s == StatusNamed {
			return
		}
		if out, err := MarshalStatus(s); err != nil || !bytes.Equal(out, in) {
			t.Fatalf("re-encoded %q (%v), input %q", out, err, in)
		}
		_, _ = ParseAliveReply(in)
	})
}

// FuzzAccept feeds arbitrary first and third messages to a responder: it must
// fail cleanly or complete, never panic.
func FuzzAccept(f *testing.F) {
	name, _ := NameMessage{Flags: DefaultFlags, Creation: 1, Name: "a@127.0.0.1"}.Marshal()
	f.Add(name, ReplyMessage{Challenge: 3, Digest: Digest("c", 5)}.Marshal())
	f.Fuzz(func(t *testing.T, first, third []byte) {
		sf := &scriptFramer{in: [][]byte{first, third}}
		cfg := Config{Name: "b@127.0.0.1", Cookie: "c", Challenge: func() uint32 { return 5 }}
		res, err := Accept(t.Context(), sf, cfg)
		if err == nil && res.PeerName == "" {
			t.Fatal("accepted a peer without a name")
		}
	})
}
