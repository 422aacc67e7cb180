package handshake

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Recorded OTP 27 handshakes over QUIC (../../shared/vectors/dist_handshakes.json).

type hsVectors struct {
	Cookie          string `json:"cookie"`
	DflagsReference []struct {
		Bit  int    `json:"bit"`
		Name string `json:"name"`
	} `json:"dflags_reference"`
	Connections []hsConnection `json:"connections"`
}

type hsConnection struct {
	ID           int        `json:"id"`
	Client       string     `json:"client"`
	Server       string     `json:"server"`
	TracedSides  []string   `json:"traced_sides"`
	Messages     []hsRecord `json:"handshake_messages"`
	DigestChecks struct {
		AckOK   *bool `json:"ack_digest_ok"`
		ReplyOK *bool `json:"reply_digest_ok"`
	} `json:"digest_checks"`
	Writes []struct {
		BytesHex        string `json:"bytes_hex"`
		Dir             string `json:"dir"`
		DuringHandshake bool   `json:"during_handshake"`
	} `json:"control_stream_writes"`
}

type hsRecord struct {
	Op       string `json:"op"`
	Dir      string `json:"dir"`
	SeenBy   string `json:"seen_by"`
	BytesHex string `json:"bytes_hex"`
	Parsed   struct {
		Msg       string   `json:"msg"`
		Creation  uint32   `json:"creation"`
		Challenge uint32   `json:"challenge"`
		FlagsHex  string   `json:"flags_hex"`
		Flags     []string `json:"flags"`
		Name      string   `json:"name"`
		Status    string   `json:"status"`
		DigestHex string   `json:"digest_hex"`
	} `json:"parsed"`
}

func (r hsRecord) bytes(t *testing.T) []byte {
	t.Helper()
	b, err := hex.DecodeString(r.BytesHex)
	if err != nil {
		t.Fatalf("bad hex %q: %v", r.BytesHex, err)
	}
	return b
}

func loadHandshakeVectors(t *testing.T) *hsVectors {
	t.Helper()
	path := filepath.Join("..", "..", "shared", "vectors", "dist_handshakes.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var v hsVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	if len(v.Connections) == 0 {
		t.Fatalf("%s has no connections", path)
	}
	return &v
}

// sent returns, in order, the messages the given side wrote (f_send), or,
// for an untraced side, what the other side received from it (f_recv).
func (c hsConnection) sent(dir string) []hsRecord {
	var send, recv []hsRecord
	for _, m := range c.Messages {
		if m.Dir != dir {
			continue
		}
		if m.Op == "f_send" {
			send = append(send, m)
		} else {
			recv = append(recv, m)
		}
	}
	if len(send) > 0 {
		return send
	}
	return recv
}

func TestVectorsParse(t *testing.T) {
	v := loadHandshakeVectors(t)
	for _, c := range v.Connections {
		var serverChallenge, clientChallenge uint32
		for _, m := range c.Messages {
			b := m.bytes(t)
			p := m.Parsed
			switch {
			case strings.HasPrefix(p.Msg, "send_name"):
				got, err := ParseNameMessage(b)
				if err != nil {
					t.Fatalf("conn %d: %v", c.ID, err)
				}
				checkFlags(t, c.ID, got.Flags, p.FlagsHex, p.Flags)
				if got.Name != p.Name || got.Name != c.Client || got.Creation != p.Creation {
					t.Errorf("conn %d: name = %+v, recorded %+v", c.ID, got, p)
				}
				out, err := got.Marshal()
				if err != nil || !bytes.Equal(out, b) {
					t.Errorf("conn %d: re-encoded name = %x (%v), recorded %x", c.ID, out, err, b)
				}
			case p.Msg == "send_status":
				st, err := ParseStatus(b)
				if err != nil || st.String() != p.Status {
					t.Errorf("conn %d: status = %v (%v), recorded %q", c.ID, st, err, p.Status)
				}
				out, _ := MarshalStatus(st)
				if !bytes.Equal(out, b) {
					t.Errorf("conn %d: re-encoded status = %x, recorded %x", c.ID, out, b)
				}
			case strings.HasPrefix(p.Msg, "send_challenge ("):
				got, err := ParseChallengeMessage(b)
				if err != nil {
					t.Fatalf("conn %d: %v", c.ID, err)
				}
				checkFlags(t, c.ID, got.Flags, p.FlagsHex, p.Flags)
				if got.Name != p.Name || got.Name != c.Server || got.Creation != p.Creation || got.Challenge != p.Challenge {
					t.Errorf("conn %d: challenge = %+v, recorded %+v", c.ID, got, p)
				}
				serverChallenge = got.Challenge
				out, err := got.Marshal()
				if err != nil || !bytes.Equal(out, b) {
					t.Errorf("conn %d: re-encoded challenge = %x (%v), recorded %x", c.ID, out, err, b)
				}
			case p.Msg == "send_challenge_reply":
				got, err := ParseReplyMessage(b)
				if err != nil {
					t.Fatalf("conn %d: %v", c.ID, err)
				}
				if got.Challenge != p.Challenge || hex.EncodeToString(got.Digest[:]) != p.DigestHex {
					t.Errorf("conn %d: reply = %+v, recorded %+v", c.ID, got, p)
				}
				if !digestMatches(got.Digest, v.Cookie, serverChallenge) {
					t.Errorf("conn %d: reply digest does not verify with cookie %q and challenge %d", c.ID, v.Cookie, serverChallenge)
				}
				clientChallenge = got.Challenge
				if !bytes.Equal(got.Marshal(), b) {
					t.Errorf("conn %d: re-encoded reply differs", c.ID)
				}
			case p.Msg == "send_challenge_ack":
				got, err := ParseAckMessage(b)
				if err != nil {
					t.Fatalf("conn %d: %v", c.ID, err)
				}
				if hex.EncodeToString(got.Digest[:]) != p.DigestHex {
					t.Errorf("conn %d: ack = %x, recorded %s", c.ID, got.Digest, p.DigestHex)
				}
				if !digestMatches(got.Digest, v.Cookie, clientChallenge) {
					t.Errorf("conn %d: ack digest does not verify with cookie %q and challenge %d", c.ID, v.Cookie, clientChallenge)
				}
				if !bytes.Equal(got.Marshal(), b) {
					t.Errorf("conn %d: re-encoded ack differs", c.ID)
				}
				// A wrong cookie must not verify.
				if digestMatches(got.Digest, v.Cookie+"x", clientChallenge) {
					t.Errorf("conn %d: ack verifies with the wrong cookie", c.ID)
				}
			default:
				t.Fatalf("conn %d: unknown recorded message %q", c.ID, p.Msg)
			}
		}
		if c.DigestChecks.ReplyOK != nil && (!*c.DigestChecks.ReplyOK || !*c.DigestChecks.AckOK) {
			t.Errorf("conn %d: recorded digest checks failed", c.ID)
		}
	}
}

func checkFlags(t *testing.T, id int, got Flags, wantHex string, names []string) {
	t.Helper()
	want, err := strconv.ParseUint(strings.TrimPrefix(wantHex, "0x"), 16, 64)
	if err != nil || uint64(got) != want {
		t.Errorf("conn %d: flags %#x, recorded %s", id, uint64(got), wantHex)
	}
	for i, n := range names {
		names[i] = strings.TrimPrefix(n, "DFLAG_")
	}
	if s := got.String(); s != strings.Join(names, "|") {
		t.Errorf("conn %d: flags print as %s, recorded %v", id, s, names)
	}
}

// TestVectorsReplayAccept runs Accept as every recorded server, fed the
// client's messages and the recorded challenge, and expects the recorded
// server messages byte for byte.
func TestVectorsReplayAccept(t *testing.T) {
	v := loadHandshakeVectors(t)
	for _, c := range v.Connections {
		fromClient := c.sent("client->server")
		fromServer := c.sent("server->client")
		var in, want [][]byte
		for _, m := range fromClient {
			in = append(in, m.bytes(t))
		}
		var challenge uint32
		for _, m := range fromServer {
			want = append(want, m.bytes(t))
			if strings.HasPrefix(m.Parsed.Msg, "send_challenge (") {
				challenge = m.Parsed.Challenge
			}
		}
		sf := &scriptFramer{in: in}
		cfg := Config{Name: c.Server, Cookie: v.Cookie, Creation: 4, Challenge: func() uint32 { return challenge }}
		res, err := Accept(context.Background(), sf, cfg)
		if err != nil {
			t.Fatalf("conn %d: Accept: %v", c.ID, err)
		}
		if len(sf.out) != len(want) {
			t.Fatalf("conn %d: wrote %d messages, recorded %d", c.ID, len(sf.out), len(want))
		}
		for i := range want {
			if !bytes.Equal(sf.out[i], want[i]) {
				t.Errorf("conn %d: message %d = %x, recorded %x", c.ID, i, sf.out[i], want[i])
			}
		}
		hidden := strings.HasPrefix(c.Client, "eval")
		if res.PeerName != c.Client || res.PeerCreation != 4 || res.Hidden != hidden || res.Status != StatusOK || !res.OTP26Compatible {
			t.Errorf("conn %d: result %+v", c.ID, res)
		}
		wantFlags := DefaultFlags
		if hidden {
			wantFlags &^= FlagPublished
		}
		if res.Flags != wantFlags {
			t.Errorf("conn %d: negotiated %v, want %v", c.ID, res.Flags, wantFlags)
		}
	}
}

// TestVectorsReplayDial runs Dial as every traced client and expects the
// recorded client messages byte for byte.
func TestVectorsReplayDial(t *testing.T) {
	v := loadHandshakeVectors(t)
	n := 0
	for _, c := range v.Connections {
		if len(c.TracedSides) != 2 {
			continue
		}
		n++
		var in, want [][]byte
		for _, m := range c.sent("server->client") {
			in = append(in, m.bytes(t))
		}
		var challenge uint32
		for _, m := range c.sent("client->server") {
			want = append(want, m.bytes(t))
			if m.Parsed.Msg == "send_challenge_reply" {
				challenge = m.Parsed.Challenge
			}
		}
		sf := &scriptFramer{in: in}
		cfg := Config{Name: c.Client, Cookie: v.Cookie, Creation: 4, Challenge: func() uint32 { return challenge }}
		res, err := Dial(context.Background(), sf, cfg, c.Server)
		if err != nil {
			t.Fatalf("conn %d: Dial: %v", c.ID, err)
		}
		if len(sf.out) != len(want) {
			t.Fatalf("conn %d: wrote %d messages, recorded %d", c.ID, len(sf.out), len(want))
		}
		for i := range want {
			if !bytes.Equal(sf.out[i], want[i]) {
				t.Errorf("conn %d: message %d = %x, recorded %x", c.ID, i, sf.out[i], want[i])
			}
		}
		if res.PeerName != c.Server || res.Flags != DefaultFlags || res.Hidden || res.PeerCreation != 4 {
			t.Errorf("conn %d: result %+v", c.ID, res)
		}
		// The same transcript with another cookie must fail on the ack.
		sf = &scriptFramer{in: in}
		cfg.Cookie = "not_" + v.Cookie
		if _, err := Dial(context.Background(), sf, cfg, c.Server); !isCookieMismatch(err) {
			t.Errorf("conn %d: Dial with wrong cookie: %v, want cookie mismatch", c.ID, err)
		}
	}
	if n == 0 {
		t.Fatal("no connection traced on both sides")
	}
}

// TestVectorsOneMessagePerWrite checks what transport.md §3.3 relies on: each
// handshake message was one write on stream 0.
func TestVectorsOneMessagePerWrite(t *testing.T) {
	v := loadHandshakeVectors(t)
	for _, c := range v.Connections {
		if len(c.TracedSides) != 2 {
			continue
		}
		var writes []string
		for _, w := range c.Writes {
			if w.DuringHandshake {
				writes = append(writes, w.BytesHex)
			}
		}
		var sends []string
		for _, m := range c.Messages {
			if m.Op == "f_send" {
				sends = append(sends, m.BytesHex)
			}
		}
		if strings.Join(writes, ",") != strings.Join(sends, ",") {
			t.Errorf("conn %d: stream-0 writes %v differ from handshake sends %v", c.ID, writes, sends)
		}
	}
}
