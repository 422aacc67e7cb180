package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testNode is one Go node: identity, pins, metrics, authenticator.
type testNode struct {
	name string
	kp   KeyPair
	pins *Pins
	m    *Metrics
	a    *Ed25519
}

func newTestNode(t testing.TB, name string, mut func(*Config)) *testNode {
	t.Helper()
	kp, err := GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{name: name, kp: kp, pins: NewMemoryPins(discardLogger()), m: m}
	cfg := Config{
		LocalName: name,
		Identity:  kp,
		Pins:      n.pins,
		Timeout:   5 * time.Second,
		Logger:    discardLogger(),
		Metrics:   m,
	}
	if mut != nil {
		mut(&cfg)
	}
	if n.a, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return n
}

// attempts reads barrel_p2p_dist_auth_attempts_total{role,outcome}.
func (n *testNode) attempts(role, outcome string) float64 {
	return testutil.ToFloat64(n.m.Attempts.WithLabelValues(role, outcome))
}

func (n *testNode) pub() [32]byte {
	var p [32]byte
	copy(p[:], n.kp.Public)
	return p
}

var testBinding = sha256.Sum256([]byte("test server certificate"))

// link is one simulated QUIC connection: the client's uni stream c2s and
// the server's s2c.
type link struct {
	c2s, s2c               *pipe
	clientBind, serverBind [32]byte
	deadlines              bool // readers expose SetReadDeadline
}

func newLink() *link {
	return &link{c2s: newPipe(), s2c: newPipe(), clientBind: testBinding, serverBind: testBinding}
}

func (l *link) reader(p *pipe) io.Reader {
	if l.deadlines {
		return deadlineReader{p}
	}
	return closerReader{p}
}

func (l *link) clientStreams() *Streams {
	return &Streams{Recv: l.reader(l.s2c), Open: func() (io.WriteCloser, error) { return sendSide{l.c2s}, nil }, Binding: l.clientBind}
}

func (l *link) serverStreams() *Streams {
	return &Streams{Recv: l.reader(l.c2s), Open: func() (io.WriteCloser, error) { return sendSide{l.s2c}, nil }, Binding: l.serverBind}
}

func (l *link) stop() {
	l.c2s.stopTimer()
	l.s2c.stopTimer()
}

type outcome struct {
	clientPeer, serverPeer string
	clientErr, serverErr   error
}

// exchange runs a Go client against a Go server over l.
func exchange(t testing.TB, cli, srv *testNode, dialed string, l *link) outcome {
	t.Helper()
	defer l.stop()
	var o outcome
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		o.clientPeer, o.clientErr = cli.a.Authenticate(context.Background(), Client, dialed, l.clientStreams())
	}()
	go func() {
		defer wg.Done()
		o.serverPeer, o.serverErr = srv.a.Authenticate(context.Background(), Server, "", l.serverStreams())
	}()
	wg.Wait()
	return o
}

// wantErr checks the sentinel and barrel_p2p's term.
func wantErr(t *testing.T, side string, err, kind error, term string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %s", side, term)
	}
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("%s: %T %v is not *Error", side, err, err)
	}
	if !errors.Is(err, kind) {
		t.Errorf("%s: %v is not %v", side, err, kind)
	}
	if ae.Term != term {
		t.Errorf("%s: term %s, want %s", side, ae.Term, term)
	}
}

// wantCounts checks one fail or ok attempt on each side.
func wantCounts(t *testing.T, cli, srv *testNode, cliOutcome, srvOutcome string) {
	t.Helper()
	if got := cli.attempts("outgoing", cliOutcome); got != 1 {
		t.Errorf("client attempts{outgoing,%s} = %v, want 1", cliOutcome, got)
	}
	if got := srv.attempts("incoming", srvOutcome); got != 1 {
		t.Errorf("server attempts{incoming,%s} = %v, want 1", srvOutcome, got)
	}
	if n := testutil.CollectAndCount(cli.m.Duration) + testutil.CollectAndCount(srv.m.Duration); n != 2 {
		t.Errorf("%d duration series, want 2", n)
	}
}

func frames(t *testing.T, p *pipe) []Message {
	t.Helper()
	var out []Message
	for _, w := range p.written() {
		fr := NewFrameReader(bytes.NewReader(w))
		b, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("write %x: %v", w, err)
		}
		m, err := Decode(b)
		if err != nil {
			t.Fatalf("write %x: %v", w, err)
		}
		out = append(out, m)
	}
	return out
}

func types(ms []Message) []MsgType {
	var out []MsgType
	for _, m := range ms {
		out = append(out, m.Type())
	}
	return out
}

func TestExchangeHappyPath(t *testing.T) {
	for _, deadlines := range []bool{false, true} {
		cli := newTestNode(t, "cli@127.0.0.1", nil)
		srv := newTestNode(t, "srv@127.0.0.1", nil)
		l := newLink()
		l.deadlines = deadlines
		o := exchange(t, cli, srv, "srv@127.0.0.1", l)
		if o.clientErr != nil || o.serverErr != nil {
			t.Fatalf("errors: %v / %v", o.clientErr, o.serverErr)
		}
		if o.clientPeer != "srv@127.0.0.1" || o.serverPeer != "cli@127.0.0.1" {
			t.Fatalf("peers %q %q", o.clientPeer, o.serverPeer)
		}
		// TOFU: both sides pinned each other.
		if !cli.pins.IsTrusted("srv@127.0.0.1", srv.kp.Public) || !srv.pins.IsTrusted("cli@127.0.0.1", cli.kp.Public) {
			t.Error("TOFU pins missing")
		}
		if p, _ := srv.pins.Get("cli@127.0.0.1"); p.Level != TOFU {
			t.Errorf("pin level %v", p.Level)
		}
		// Per-stream order of auth.md §8.1, each side FINs.
		if got := types(frames(t, l.c2s)); !equalTypes(got, TypeHello, TypeChallenge, TypeResponse) {
			t.Errorf("client stream %v", got)
		}
		if got := types(frames(t, l.s2c)); !equalTypes(got, TypeHello, TypeChallenge, TypeResponse, TypeOK) {
			t.Errorf("server stream %v", got)
		}
		if !l.c2s.finished() || !l.s2c.finished() {
			t.Error("missing FIN")
		}
		wantCounts(t, cli, srv, "ok", "ok")
		// A second connection with the pins in place succeeds too.
		if o := exchange(t, cli, srv, "srv@127.0.0.1", newLink()); o.clientErr != nil || o.serverErr != nil {
			t.Fatalf("second exchange: %v / %v", o.clientErr, o.serverErr)
		}
	}
}

func equalTypes(got []MsgType, want ...MsgType) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func strict(c *Config) { c.TrustMode = TrustStrict }

func TestAttackUnknownKeyStrictServer(t *testing.T) {
	cli := newTestNode(t, "cli@127.0.0.1", nil)
	srv := newTestNode(t, "srv@127.0.0.1", strict)
	l := newLink()
	o := exchange(t, cli, srv, "srv@127.0.0.1", l)
	wantErr(t, "server", o.serverErr, ErrUntrustedKey, "untrusted_key")
	wantErr(t, "client", o.clientErr, ErrAuthRejected, `{auth_rejected,<<"untrusted_key">>}`)
	if ae := (*Error)(nil); errors.As(o.clientErr, &ae) && ae.FailReason != "untrusted_key" {
		t.Errorf("FailReason %q", ae.FailReason)
	}
	// The server answered with a lone FAIL on its fresh stream.
	if got := frames(t, l.s2c); len(got) != 1 || got[0] != (Fail{Reason: "untrusted_key"}) {
		t.Errorf("server stream %v", got)
	}
	wantCounts(t, cli, srv, "fail", "fail")
	if _, ok := srv.pins.Lookup("cli@127.0.0.1"); ok {
		t.Error("strict mode pinned")
	}
}

func TestAttackUnknownKeyStrictClient(t *testing.T) {
	cli := newTestNode(t, "cli@127.0.0.1", strict)
	srv := newTestNode(t, "srv@127.0.0.1", nil)
	l := newLink()
	o := exchange(t, cli, srv, "srv@127.0.0.1", l)
	wantErr(t, "client", o.clientErr, ErrUntrustedKey, "untrusted_key")
	// The client sends nothing more and closes; the server sees the end.
	wantErr(t, "server", o.serverErr, ErrConnectionClosed, "{recv_challenge_failed,{connection_closed,eof}}")
	if got := types(frames(t, l.c2s)); !equalTypes(got, TypeHello) {
		t.Errorf("client stream %v", got)
	}
	wantCounts(t, cli, srv, "fail", "fail")
}

func TestStrictWithPinsSucceeds(t *testing.T) {
	cli := newTestNode(t, "cli@127.0.0.1", strict)
	srv := newTestNode(t, "srv@127.0.0.1", strict)
	if err := cli.pins.Store(srv.name, srv.kp.Public); err != nil {
		t.Fatal(err)
	}
	if err := srv.pins.Store(cli.name, cli.kp.Public); err != nil {
		t.Fatal(err)
	}
	o := exchange(t, cli, srv, srv.name, newLink())
	if o.clientErr != nil || o.serverErr != nil {
		t.Fatalf("%v / %v", o.clientErr, o.serverErr)
	}
	wantCounts(t, cli, srv, "ok", "ok")
}

func TestAttackPinnedKeyChanged(t *testing.T) {
	t.Run("server holds old pin", func(t *testing.T) {
		cli := newTestNode(t, "cli@127.0.0.1", nil)
		srv := newTestNode(t, "srv@127.0.0.1", nil)
		old, _ := GenerateKeyPair(nil)
		if err := srv.pins.Store(cli.name, old.Public); err != nil {
			t.Fatal(err)
		}
		l := newLink()
		o := exchange(t, cli, srv, srv.name, l)
		wantErr(t, "server", o.serverErr, ErrKeyMismatch, "key_mismatch")
		wantErr(t, "client", o.clientErr, ErrAuthRejected, `{auth_rejected,<<"key_mismatch">>}`)
		if got := frames(t, l.s2c); len(got) != 1 || got[0] != (Fail{Reason: "key_mismatch"}) {
			t.Errorf("server stream %v", got)
		}
		// The pin is never overwritten by the handshake.
		if !srv.pins.IsTrusted(cli.name, old.Public) {
			t.Error("pin replaced")
		}
		wantCounts(t, cli, srv, "fail", "fail")
	})
	t.Run("client holds old pin", func(t *testing.T) {
		cli := newTestNode(t, "cli@127.0.0.1", nil)
		srv := newTestNode(t, "srv@127.0.0.1", nil)
		old, _ := GenerateKeyPair(nil)
		if err := cli.pins.Store(srv.name, old.Public); err != nil {
			t.Fatal(err)
		}
		o := exchange(t, cli, srv, srv.name, newLink())
		wantErr(t, "client", o.clientErr, ErrKeyMismatch, "key_mismatch")
		wantErr(t, "server", o.serverErr, ErrConnectionClosed, "{recv_challenge_failed,{connection_closed,eof}}")
		wantCounts(t, cli, srv, "fail", "fail")
	})
}

// tamperResponse flips a bit of the first RESPONSE written on p.
func tamperResponse(p *pipe) {
	p.tamper = func(b []byte) []byte {
		if len(b) == 2+1+SignatureSize && b[2] == byte(TypeResponse) {
			b[10] ^= 1
		}
		return b
	}
}

func TestAttackBadSignature(t *testing.T) {
	cli := newTestNode(t, "cli@127.0.0.1", nil)
	srv := newTestNode(t, "srv@127.0.0.1", nil)
	l := newLink()
	tamperResponse(l.c2s)
	o := exchange(t, cli, srv, srv.name, l)
	wantErr(t, "server", o.serverErr, ErrSignatureVerificationFailed, "signature_verification_failed")
	// The server's own RESPONSE was good; the client reads FAIL where it
	// expects OK (auth.md §8.4 ordering note).
	wantErr(t, "client", o.clientErr, ErrAuthRejected, `{auth_rejected,<<"signature_invalid">>}`)
	got := frames(t, l.s2c)
	if len(got) != 4 || got[3] != (Fail{Reason: "signature_invalid"}) {
		t.Errorf("server stream %v", types(got))
	}
	wantCounts(t, cli, srv, "fail", "fail")
	if _, ok := srv.pins.Lookup(cli.name); ok {
		t.Error("pinned after failure")
	}

	// And a forged server RESPONSE is caught by the client.
	cli2 := newTestNode(t, "cli@127.0.0.1", nil)
	srv2 := newTestNode(t, "srv@127.0.0.1", nil)
	l2 := newLink()
	tamperResponse(l2.s2c)
	o = exchange(t, cli2, srv2, srv2.name, l2)
	wantErr(t, "client", o.clientErr, ErrSignatureVerificationFailed, "signature_verification_failed")
	wantCounts(t, cli2, srv2, "fail", "ok") // the server's view was fine
}

func TestAttackMITMBinding(t *testing.T) {
	cli := newTestNode(t, "cli@127.0.0.1", nil)
	srv := newTestNode(t, "srv@127.0.0.1", nil)
	l := newLink()
	// The relay's certificate is what the client hashed.
	l.clientBind = sha256.Sum256([]byte("attacker certificate"))
	o := exchange(t, cli, srv, srv.name, l)
	wantErr(t, "client", o.clientErr, ErrSignatureVerificationFailed, "signature_verification_failed")
	wantErr(t, "server", o.serverErr, ErrSignatureVerificationFailed, "signature_verification_failed")
	wantCounts(t, cli, srv, "fail", "fail")
}

func TestAttackReplayedResponse(t *testing.T) {
	cli := newTestNode(t, "cli@127.0.0.1", nil)
	srv := newTestNode(t, "srv@127.0.0.1", nil)
	// Session 1: record the client's genuine RESPONSE.
	l1 := newLink()
	if o := exchange(t, cli, srv, srv.name, l1); o.clientErr != nil || o.serverErr != nil {
		t.Fatalf("%v / %v", o.clientErr, o.serverErr)
	}
	recorded := l1.c2s.written()[2]
	// Session 2: an attacker holding only the client's public key replays
	// it (scripted client: HELLO with the victim's key, any CHALLENGE,
	// the old RESPONSE).
	l2 := newLink()
	defer l2.stop()
	done := make(chan struct{})
	var srvErr error
	go func() {
		defer close(done)
		_, srvErr = srv.a.Authenticate(context.Background(), Server, "", l2.serverStreams())
	}()
	w := sendSide{l2.c2s}
	if err := WriteFrame(w, Hello{Name: cli.name, PublicKey: cli.pub()}); err != nil {
		t.Fatal(err)
	}
	fr := NewFrameReader(closerReader{l2.s2c})
	readMsg(t, fr, TypeHello)
	sc := readMsg(t, fr, TypeChallenge).(Challenge)
	if err := WriteFrame(w, Challenge{Timestamp: sc.Timestamp}); err != nil {
		t.Fatal(err)
	}
	readMsg(t, fr, TypeResponse)
	if _, err := w.Write(recorded); err != nil {
		t.Fatal(err)
	}
	<-done
	_ = w.Close()
	wantErr(t, "server", srvErr, ErrSignatureVerificationFailed, "signature_verification_failed")
	if got := readMsg(t, fr, TypeFail).(Fail); got.Reason != "signature_invalid" {
		t.Errorf("FAIL %q", got.Reason)
	}
	if got := srv.attempts("incoming", "fail"); got != 1 {
		t.Errorf("server fail attempts %v", got)
	}
}

func readMsg(t *testing.T, fr *FrameReader, want MsgType) Message {
	t.Helper()
	b, err := fr.ReadFrame()
	if err != nil {
		t.Fatalf("read %v: %v", want, err)
	}
	m, err := Decode(b)
	if err != nil || m.Type() != want {
		t.Fatalf("read %v: got %v %v", want, m, err)
	}
	return m
}

func TestAttackTimestampOutsideWindow(t *testing.T) {
	skewed := func(c *Config) {
		c.Now = func() time.Time { return time.Now().Add(3*DefaultTimestampWindow + 5*time.Second) }
	}
	cli := newTestNode(t, "cli@127.0.0.1", skewed)
	srv := newTestNode(t, "srv@127.0.0.1", nil)
	o := exchange(t, cli, srv, srv.name, newLink())
	wantErr(t, "client", o.clientErr, ErrPeerTSSkew, "peer_ts_skew")
	wantErr(t, "server", o.serverErr, ErrPeerTSSkew, "peer_ts_skew")
	wantCounts(t, cli, srv, "fail", "fail")

	// Within 2 × window still passes (barrel_p2p's ±60 s default).
	near := func(c *Config) { c.Now = func() time.Time { return time.Now().Add(50 * time.Second) } }
	cli2 := newTestNode(t, "cli@127.0.0.1", near)
	srv2 := newTestNode(t, "srv@127.0.0.1", nil)
	if o := exchange(t, cli2, srv2, srv2.name, newLink()); o.clientErr != nil || o.serverErr != nil {
		t.Fatalf("50 s skew: %v / %v", o.clientErr, o.serverErr)
	}
}

func TestAttackStaleResponse(t *testing.T) {
	// The server's clock jumps past the window between making its
	// CHALLENGE and verifying the answer: the response is stale.
	var mu sync.Mutex
	calls := 0
	base := time.Now()
	srv := newTestNode(t, "srv@127.0.0.1", func(c *Config) {
		c.Now = func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls >= 3 { // newChallenge, checkPeerTS, then verify
				return base.Add(DefaultTimestampWindow + time.Millisecond)
			}
			return base
		}
	})
	cli := newTestNode(t, "cli@127.0.0.1", nil)
	o := exchange(t, cli, srv, srv.name, newLink())
	wantErr(t, "server", o.serverErr, ErrSignatureVerificationFailed, "signature_verification_failed")
	wantErr(t, "client", o.clientErr, ErrAuthRejected, `{auth_rejected,<<"signature_invalid">>}`)
	wantCounts(t, cli, srv, "fail", "fail")
}

// fakeServer answers the client's HELLO with script(fr, w).
func fakeServer(t *testing.T, cli *testNode, dialed string, script func(fr *FrameReader, w io.WriteCloser)) error {
	t.Helper()
	l := newLink()
	defer l.stop()
	done := make(chan error, 1)
	go func() {
		_, err := cli.a.Authenticate(context.Background(), Client, dialed, l.clientStreams())
		done <- err
	}()
	fr := NewFrameReader(closerReader{l.c2s})
	readMsg(t, fr, TypeHello)
	script(fr, sendSide{l.s2c})
	return <-done
}

func TestAttackForgedAuthOK(t *testing.T) {
	t.Run("OK instead of HELLO", func(t *testing.T) {
		cli := newTestNode(t, "cli@127.0.0.1", nil)
		err := fakeServer(t, cli, "srv@127.0.0.1", func(_ *FrameReader, w io.WriteCloser) {
			_ = WriteFrame(w, OK{})
			_ = w.Close()
		})
		wantErr(t, "client", err, ErrUnexpectedAuthOK, "unexpected_auth_ok")
		if got := cli.attempts("outgoing", "fail"); got != 1 {
			t.Errorf("fail attempts %v", got)
		}
	})
	t.Run("OK instead of CHALLENGE", func(t *testing.T) {
		cli := newTestNode(t, "cli@127.0.0.1", nil)
		srvKey, _ := GenerateKeyPair(nil)
		var h Hello
		h.Name = "srv@127.0.0.1"
		copy(h.PublicKey[:], srvKey.Public)
		err := fakeServer(t, cli, "srv@127.0.0.1", func(fr *FrameReader, w io.WriteCloser) {
			_ = WriteFrame(w, h)
			_ = WriteFrame(w, OK{})
			_ = w.Close()
		})
		wantErr(t, "client", err, ErrUnexpectedMessage, "{unexpected_message,ok}")
		if got := cli.attempts("outgoing", "fail"); got != 1 {
			t.Errorf("fail attempts %v", got)
		}
		if _, ok := cli.pins.Lookup("srv@127.0.0.1"); ok {
			t.Error("pinned a forged server")
		}
	})
	t.Run("OK instead of RESPONSE", func(t *testing.T) {
		cli := newTestNode(t, "cli@127.0.0.1", nil)
		srvKey, _ := GenerateKeyPair(nil)
		var h Hello
		h.Name = "srv@127.0.0.1"
		copy(h.PublicKey[:], srvKey.Public)
		err := fakeServer(t, cli, "srv@127.0.0.1", func(fr *FrameReader, w io.WriteCloser) {
			_ = WriteFrame(w, h)
			_ = WriteFrame(w, Challenge{Timestamp: uint64(time.Now().UnixMilli())})
			_ = WriteFrame(w, OK{})
			_ = w.Close()
		})
		wantErr(t, "client", err, ErrUnexpectedMessage, "{unexpected_message,ok}")
	})
}

func TestCookieOnly(t *testing.T) {
	t.Run("both sides list each other", func(t *testing.T) {
		cli := newTestNode(t, "mon@127.0.0.1", func(c *Config) { c.CookieOnlyNodes = []string{"srv@*"} })
		srv := newTestNode(t, "srv@127.0.0.1", func(c *Config) { c.CookieOnlyNodes = []string{"mon@127.0.0.1"} })
		l := newLink()
		o := exchange(t, cli, srv, srv.name, l)
		if o.clientErr != nil || o.serverErr != nil || o.clientPeer != "" || o.serverPeer != "" {
			t.Fatalf("%+v", o)
		}
		if got := frames(t, l.s2c); len(got) != 1 || got[0] != (OK{}) {
			t.Errorf("server stream %v", got)
		}
		wantCounts(t, cli, srv, "ok", "ok")
		if len(srv.pins.List())+len(cli.pins.List()) != 0 {
			t.Error("cookie-only pinned")
		}
	})
	t.Run("client does not list the server", func(t *testing.T) {
		cli := newTestNode(t, "mon@127.0.0.1", nil)
		srv := newTestNode(t, "srv@127.0.0.1", func(c *Config) { c.CookieOnlyNodes = []string{"*@*"} })
		o := exchange(t, cli, srv, srv.name, newLink())
		wantErr(t, "client", o.clientErr, ErrUnexpectedAuthOK, "unexpected_auth_ok")
		if o.serverErr != nil {
			t.Errorf("server: %v", o.serverErr)
		}
	})
	t.Run("unknown dial target", func(t *testing.T) {
		cli := newTestNode(t, "mon@127.0.0.1", func(c *Config) { c.CookieOnlyNodes = []string{"*@*"} })
		srv := newTestNode(t, "srv@127.0.0.1", func(c *Config) { c.CookieOnlyNodes = []string{"*@*"} })
		o := exchange(t, cli, srv, "", newLink())
		wantErr(t, "client", o.clientErr, ErrUnexpectedAuthOK, "unexpected_auth_ok")
	})
}

func TestMatchCookieOnly(t *testing.T) {
	for _, c := range []struct {
		patterns []string
		node     string
		want     bool
	}{
		{[]string{"mon@h"}, "mon@h", true},
		{[]string{"*@h"}, "x@h", true},
		{[]string{"mon@*"}, "mon@other", true},
		{[]string{"*@*"}, "a@b", true},
		{[]string{"mon*@h"}, "mon1@h", false},
		{[]string{"mon*@h"}, "mon*@h", true},
		{[]string{"monh"}, "monh", false},
		{[]string{"mon@h"}, "mon@h2", false},
		{[]string{"a@b@c"}, "a@b@c", true}, // split at the first '@' on both sides
		{nil, "a@b", false},
	} {
		if got := MatchCookieOnly(c.patterns, c.node); got != c.want {
			t.Errorf("MatchCookieOnly(%q, %q) = %v", c.patterns, c.node, got)
		}
	}
}

func TestHelloNameMustMatchDialed(t *testing.T) {
	cli := newTestNode(t, "cli@127.0.0.1", nil)
	srv := newTestNode(t, "srv@127.0.0.1", nil)
	o := exchange(t, cli, srv, "other@127.0.0.1", newLink())
	wantErr(t, "client", o.clientErr, ErrNameMismatch, `{hello_name_mismatch,<<"other@127.0.0.1">>,<<"srv@127.0.0.1">>}`)
	if _, ok := cli.pins.Lookup(srv.name); ok {
		t.Error("pinned")
	}
	wantCounts(t, cli, srv, "fail", "fail")
}

// fakeClient sends raw bytes as the client's stream, then FIN (or not).
func fakeClient(t *testing.T, srv *testNode, raw []byte, fin bool, deadlines bool) (*link, error) {
	t.Helper()
	l := newLink()
	l.deadlines = deadlines
	defer l.stop()
	if _, err := (sendSide{l.c2s}).Write(raw); err != nil && len(raw) > 0 {
		t.Fatal(err)
	}
	if fin {
		_ = l.c2s.finish()
	}
	_, err := srv.a.Authenticate(context.Background(), Server, "", l.serverStreams())
	return l, err
}

func TestAttackMalformedFrames(t *testing.T) {
	short := func(c *Config) { c.Timeout = 100 * time.Millisecond }
	longName := bytes.Repeat([]byte("a"), 300)
	longName = append(longName, "@h"...)
	var pub [32]byte
	bigHello := Hello{Name: string(longName), PublicKey: pub}.AppendTo(nil)
	frame := func(msg []byte) []byte {
		return append([]byte{byte(len(msg) >> 8), byte(len(msg))}, msg...)
	}
	cases := []struct {
		name string
		raw  []byte
		fin  bool
		kind error
		term string
	}{
		{"oversized name", frame(bigHello), true, ErrUnexpectedMessage, "{unexpected_message,{error,invalid_node_name}}"},
		{"max-size garbage frame", frame(append([]byte{0x07}, make([]byte, 0xFFFE)...)), true, ErrUnexpectedMessage, "{unexpected_message,{error,{unknown_message_type,7}}}"},
		{"v1 hello", frame(append([]byte{1, 1, 0, 3, 'a', '@', 'b'}, pub[:]...)), true, ErrUnexpectedMessage, "{unexpected_message,{error,{unsupported_version,1}}}"},
		{"empty frame", []byte{0, 0}, true, ErrUnexpectedMessage, "{unexpected_message,{error,malformed_message}}"},
		{"hello with trailing byte", frame(append(Hello{Name: "a@b"}.AppendTo(nil), 0)), true, ErrUnexpectedMessage, "{unexpected_message,{error,invalid_hello_payload}}"},
		{"client sends OK", frame([]byte{4}), true, ErrUnexpectedMessage, "{unexpected_message,ok}"},
		{"client sends FAIL", frame(Fail{Reason: "x"}.AppendTo(nil)), true, ErrUnexpectedMessage, `{unexpected_message,{fail,<<"x">>}}`},
		{"truncated frame then FIN", []byte{0, 48, 1, 2, 0}, true, ErrConnectionClosed, "{recv_hello_failed,{connection_closed,eof}}"},
		{"half a length then FIN", []byte{0}, true, ErrConnectionClosed, "{recv_hello_failed,{connection_closed,eof}}"},
		{"FIN without data", nil, true, ErrConnectionClosed, "{connection_closed,eof}"},
		{"stalled mid-frame", []byte{0, 48, 1, 2}, false, ErrAuthStreamTimeout, "{recv_hello_failed,auth_stream_timeout}"},
		{"stalled peer", nil, false, ErrAuthStreamTimeout, "auth_stream_timeout"},
	}
	for _, c := range cases {
		for _, deadlines := range []bool{false, true} {
			srv := newTestNode(t, "srv@127.0.0.1", short)
			l, err := fakeClient(t, srv, c.raw, c.fin, deadlines)
			wantErr(t, c.name, err, c.kind, c.term)
			if got := srv.attempts("incoming", "fail"); got != 1 {
				t.Errorf("%s: fail attempts %v", c.name, got)
			}
			// Nothing is sent to a peer whose first message is bad.
			if w := l.s2c.written(); len(w) != 0 {
				t.Errorf("%s: server wrote %x", c.name, w)
			}
		}
	}
}

func TestStalledServer(t *testing.T) {
	// The client sent HELLO and the server never answers: the one
	// deadline expires with barrel_p2p's bare term.
	cli := newTestNode(t, "cli@127.0.0.1", func(c *Config) { c.Timeout = 50 * time.Millisecond })
	l := newLink()
	defer l.stop()
	_, err := cli.a.Authenticate(context.Background(), Client, "srv@127.0.0.1", l.clientStreams())
	wantErr(t, "client", err, ErrAuthStreamTimeout, "auth_stream_timeout")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v does not wrap DeadlineExceeded", err)
	}
	if got := cli.attempts("outgoing", "fail"); got != 1 {
		t.Errorf("fail attempts %v", got)
	}
	if !l.c2s.finished() {
		t.Error("client did not FIN")
	}

	// Stalled after HELLO+CHALLENGE: the deadline covers every read.
	cli2 := newTestNode(t, "cli@127.0.0.1", func(c *Config) { c.Timeout = 50 * time.Millisecond })
	err = fakeServer(t, cli2, "srv@127.0.0.1", func(fr *FrameReader, w io.WriteCloser) {
		k, _ := GenerateKeyPair(nil)
		var h Hello
		h.Name = "srv@127.0.0.1"
		copy(h.PublicKey[:], k.Public)
		_ = WriteFrame(w, h)
	})
	wantErr(t, "client", err, ErrAuthStreamTimeout, "{recv_challenge_failed,auth_stream_timeout}")
}

func TestCanceledContext(t *testing.T) {
	cli := newTestNode(t, "cli@127.0.0.1", nil)
	l := newLink()
	l.deadlines = true
	defer l.stop()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := cli.a.Authenticate(ctx, Client, "srv@127.0.0.1", l.clientStreams())
		done <- err
	}()
	cancel()
	err := <-done
	if !errors.Is(err, ErrCanceled) && !errors.Is(err, ErrAuthStreamTimeout) {
		t.Fatalf("%v", err)
	}
	if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v does not wrap the context error", err)
	}
}

func TestKeypairMismatchRefusesToSign(t *testing.T) {
	a, _ := GenerateKeyPair(nil)
	b, _ := GenerateKeyPair(nil)
	torn := KeyPair{Private: a.Private, Public: b.Public}
	cli := newTestNode(t, "cli@127.0.0.1", func(c *Config) { c.Identity = torn })
	l := newLink()
	defer l.stop()
	_, err := cli.a.Authenticate(context.Background(), Client, "srv@127.0.0.1", l.clientStreams())
	wantErr(t, "client", err, ErrKeypairMismatch, "keypair_mismatch")
	if len(l.c2s.written()) != 0 {
		t.Error("sent with a torn keypair")
	}
}

func TestMissingBinding(t *testing.T) {
	cli := newTestNode(t, "cli@127.0.0.1", nil)
	l := newLink()
	defer l.stop()
	l.clientBind = [32]byte{}
	_, err := cli.a.Authenticate(context.Background(), Client, "srv@127.0.0.1", l.clientStreams())
	wantErr(t, "client", err, ErrChannelBinding, "{channel_binding_failed,{peercert_unavailable,no_peercert}}")
}

func TestOpenFails(t *testing.T) {
	cli := newTestNode(t, "cli@127.0.0.1", nil)
	s := &Streams{Recv: bytes.NewReader(nil), Binding: testBinding,
		Open: func() (io.WriteCloser, error) { return nil, errors.New("too many streams") }}
	_, err := cli.a.Authenticate(context.Background(), Client, "srv@127.0.0.1", s)
	wantErr(t, "client", err, ErrOpenAuthStream, `{open_auth_stream_failed,<<"too many streams">>}`)
}

func TestDisabledTouchesNothing(t *testing.T) {
	d := NewDisabled(discardLogger())
	s := &Streams{
		Recv: readerFunc(func([]byte) (int, error) { panic("Recv used") }),
		Open: func() (io.WriteCloser, error) { panic("Open used") },
	}
	for _, r := range []Role{Client, Server} {
		peer, err := d.Authenticate(context.Background(), r, "x@y", s)
		if peer != "" || err != nil {
			t.Errorf("%v: %q %v", r, peer, err)
		}
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

func TestSetTrustMode(t *testing.T) {
	cli := newTestNode(t, "cli@127.0.0.1", nil)
	srv := newTestNode(t, "srv@127.0.0.1", nil)
	if err := srv.a.SetTrustMode(TrustStrict); err != nil {
		t.Fatal(err)
	}
	o := exchange(t, cli, srv, srv.name, newLink())
	wantErr(t, "server", o.serverErr, ErrUntrustedKey, "untrusted_key")
	if srv.a.SetTrustMode(0) == nil {
		t.Error("mode 0 accepted")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	kp, _ := GenerateKeyPair(nil)
	good := Config{LocalName: "a@b", Identity: kp, Pins: NewMemoryPins(discardLogger())}
	if _, err := New(good); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"ipv6 name":   func(c *Config) { c.LocalName = "a@::1" },
		"no identity": func(c *Config) { c.Identity = nil },
		"no pins":     func(c *Config) { c.Pins = nil },
		"bad mode":    func(c *Config) { c.TrustMode = 7 },
		"neg timeout": func(c *Config) { c.Timeout = -1 },
	} {
		c := good
		mut(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestMetricsRegistration(t *testing.T) {
	if m, err := NewMetrics(nil); m != nil || err != nil {
		t.Fatalf("nil registerer: %v %v", m, err)
	}
	reg := prometheus.NewRegistry()
	m1, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m1.observe(Client, true, time.Millisecond)
	if got := testutil.ToFloat64(m2.Attempts.WithLabelValues("outgoing", "ok")); got != 1 {
		t.Errorf("shared collector: %v", got)
	}
	if err := testutil.GatherAndCompare(reg, bytes.NewBufferString(`
# HELP barrel_p2p_dist_auth_attempts_total Ed25519 peer authentication exchanges (barrel_p2p.dist.auth.attempts).
# TYPE barrel_p2p_dist_auth_attempts_total counter
barrel_p2p_dist_auth_attempts_total{outcome="ok",role="outgoing"} 1
`), MetricAttempts); err != nil {
		t.Error(err)
	}
}

func TestErrorText(t *testing.T) {
	cli := newTestNode(t, "cli@127.0.0.1", func(c *Config) { c.Timeout = 20 * time.Millisecond })
	l := newLink()
	defer l.stop()
	_, err := cli.a.Authenticate(context.Background(), Client, "srv@127.0.0.1", l.clientStreams())
	want := "auth: client: auth_stream_timeout: context deadline exceeded: pipe: read side closed"
	if err == nil || err.Error() != want {
		t.Errorf("error text %q, want %q", err, want)
	}
}
