package handshake

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptFramer replays canned input and records output, for tests that play
// one side of the handshake by hand.
type scriptFramer struct {
	in  [][]byte
	out [][]byte
}

func (s *scriptFramer) ReadMessage(context.Context) ([]byte, error) {
	if len(s.in) == 0 {
		return nil, io.EOF
	}
	m := s.in[0]
	s.in = s.in[1:]
	return m, nil
}

func (s *scriptFramer) WriteMessage(_ context.Context, m []byte) error {
	s.out = append(s.out, bytes.Clone(m))
	return nil
}

func isCookieMismatch(err error) bool {
	return err != nil && errors.Is(err, ErrCookieMismatch) && strings.Contains(err.Error(), "cookie mismatch")
}

const (
	nameA = "alpha@127.0.0.1"
	nameB = "beta@127.0.0.1"
)

type outcome struct {
	dres, ares *Result
	derr, aerr error
}

// runPair dials from dcfg to acfg over a net.Pipe (or TCP loopback when tcp is
// set). Each side closes its end when it returns, as a node would, so the
// other side sees the close.
func runPair(t *testing.T, tcp bool, dcfg, acfg Config) outcome {
	t.Helper()
	dconn, aconn := connPair(t, tcp)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var o outcome
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		o.ares, o.aerr = Accept(ctx, NewTCPFramer(aconn), acfg)
		aconn.Close()
	}()
	o.dres, o.derr = Dial(ctx, NewTCPFramer(dconn), dcfg, acfg.Name)
	dconn.Close()
	wg.Wait()
	return o
}

func connPair(t *testing.T, tcp bool) (net.Conn, net.Conn) {
	t.Helper()
	if !tcp {
		return net.Pipe()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-ch
	if a.err != nil {
		t.Fatal(a.err)
	}
	return d, a.c
}

func cfgs() (Config, Config) {
	return Config{Name: nameA, Cookie: "secret", Creation: 11},
		Config{Name: nameB, Cookie: "secret", Creation: 22}
}

func TestHandshakeOK(t *testing.T) {
	for _, tcp := range []bool{false, true} {
		d, a := cfgs()
		o := runPair(t, tcp, d, a)
		if o.derr != nil || o.aerr != nil {
			t.Fatalf("tcp=%v: dial err %v, accept err %v", tcp, o.derr, o.aerr)
		}
		want := Result{PeerName: nameB, PeerFlags: DefaultFlags, Flags: DefaultFlags, PeerCreation: 22, OTP26Compatible: true, Status: StatusOK}
		if *o.dres != want {
			t.Errorf("tcp=%v: dial result %+v, want %+v", tcp, *o.dres, want)
		}
		want.PeerName, want.PeerCreation = nameA, 11
		if *o.ares != want {
			t.Errorf("tcp=%v: accept result %+v, want %+v", tcp, *o.ares, want)
		}
	}
}

func TestHandshakeHidden(t *testing.T) {
	d, a := cfgs()
	d.Hidden = true
	o := runPair(t, false, d, a)
	if o.derr != nil || o.aerr != nil {
		t.Fatalf("dial err %v, accept err %v", o.derr, o.aerr)
	}
	if !o.ares.Hidden || o.ares.PeerFlags&FlagPublished != 0 || o.ares.Flags&FlagPublished != 0 {
		t.Errorf("acceptor sees %+v, want a hidden peer", o.ares)
	}
	if o.dres.Hidden || o.dres.Flags&FlagPublished != 0 {
		t.Errorf("initiator sees %+v, want a visible peer and no PUBLISHED negotiated", o.dres)
	}
}

func TestHandshakeNeverOffersAtomCacheOrNameMe(t *testing.T) {
	d, a := cfgs()
	d.Flags = DefaultFlags | FlagDistHdrAtomCache | FlagNameMe
	a.Flags = DefaultFlags | FlagDistHdrAtomCache
	o := runPair(t, false, d, a)
	if o.derr != nil || o.aerr != nil {
		t.Fatalf("dial err %v, accept err %v", o.derr, o.aerr)
	}
	if o.ares.PeerFlags != DefaultFlags || o.dres.PeerFlags != DefaultFlags {
		t.Errorf("offered %v / %v, want DefaultFlags", o.ares.PeerFlags, o.dres.PeerFlags)
	}
}

func TestCookieMismatchBothSides(t *testing.T) {
	d, a := cfgs()
	d.Cookie = "wrong"
	// Over TCP: net.Pipe refuses even SetReadDeadline once the other end
	// has closed, so the initiator would fail before it reads the close.
	o := runPair(t, true, d, a)
	if !isCookieMismatch(o.aerr) {
		t.Errorf("accept err = %v, want cookie mismatch", o.aerr)
	}
	// The acceptor closed without an ack.
	if !isCookieMismatch(o.derr) || !strings.Contains(o.derr.Error(), "closed") {
		t.Errorf("dial err = %v, want cookie mismatch after close", o.derr)
	}
}

func TestCookieMismatchBadAck(t *testing.T) {
	d, _ := cfgs()
	chal, _ := ChallengeMessage{Flags: DefaultFlags, Challenge: 42, Creation: 1, Name: nameB}.Marshal()
	sf := &scriptFramer{in: [][]byte{[]byte("sok"), chal, AckMessage{Digest: Digest("other", 7)}.Marshal()}}
	d.Challenge = func() uint32 { return 7 }
	_, err := Dial(context.Background(), sf, d, nameB)
	if !isCookieMismatch(err) {
		t.Fatalf("err = %v, want cookie mismatch", err)
	}
	// Our reply carried our challenge and the right digest of theirs.
	reply, perr := ParseReplyMessage(sf.out[1])
	if perr != nil || reply.Challenge != 7 || reply.Digest != Digest(d.Cookie, 42) {
		t.Errorf("reply = %+v, %v", reply, perr)
	}
}

func TestMissingMandatoryFlags(t *testing.T) {
	t.Run("initiator lacks", func(t *testing.T) {
		d, a := cfgs()
		d.Flags = DefaultFlags &^ (FlagV4NC | FlagUnlinkID)
		o := runPair(t, false, d, a)
		var mf *MissingFlagsError
		if !errors.As(o.aerr, &mf) || mf.Missing != FlagV4NC|FlagUnlinkID {
			t.Fatalf("accept err = %v, want MissingFlagsError", o.aerr)
		}
		want := "peer alpha@127.0.0.1 lacks mandatory distribution flags UNLINK_ID|V4_NC (OTP 26+ requires them)"
		if !strings.Contains(o.aerr.Error(), want) {
			t.Errorf("accept err = %q, want it to contain %q", o.aerr, want)
		}
		var se *StatusError
		if !errors.As(o.derr, &se) || se.Status != StatusNotAllowed || se.Local {
			t.Errorf("dial err = %v, want not_allowed from the peer", o.derr)
		}
	})
	t.Run("acceptor lacks", func(t *testing.T) {
		d, a := cfgs()
		a.Flags = DefaultFlags &^ FlagMapTag &^ FlagMandatory25Digest
		o := runPair(t, false, d, a)
		var mf *MissingFlagsError
		if !errors.As(o.derr, &mf) || mf.Missing != FlagMapTag || mf.Peer != nameB {
			t.Fatalf("dial err = %v, want MissingFlagsError for MAP_TAG", o.derr)
		}
		if o.aerr == nil {
			t.Error("accept succeeded although the initiator aborted")
		}
	})
	t.Run("digest bit stands for the OTP 25 set", func(t *testing.T) {
		d, a := cfgs()
		d.Flags = FlagMandatory25Digest | FlagUnlinkID | FlagV4NC | FlagPublished
		o := runPair(t, false, d, a)
		if o.derr != nil || o.aerr != nil {
			t.Fatalf("dial err %v, accept err %v", o.derr, o.aerr)
		}
		if !o.ares.OTP26Compatible || !o.ares.Flags.Has(mandatory25) {
			t.Errorf("accept result %+v: negotiated flags should include the expanded set", o.ares)
		}
	})
	t.Run("lowered requirement", func(t *testing.T) {
		d, a := cfgs()
		d.Flags = DefaultFlags &^ FlagV4NC
		a.Require = mandatory25
		o := runPair(t, false, d, a)
		if o.aerr != nil {
			t.Fatalf("accept err %v", o.aerr)
		}
		if o.ares.OTP26Compatible {
			t.Error("peer without V4_NC reported OTP 26 compatible")
		}
	})
}

// fakeArbiter answers a fixed status and records AliveReply calls.
type fakeArbiter struct {
	status Status
	mu     sync.Mutex
	peers  []Peer
	alive  []bool
}

func (f *fakeArbiter) Arbitrate(_ context.Context, p Peer) Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peers = append(f.peers, p)
	return f.status
}

func (f *fakeArbiter) AliveReply(_ context.Context, _ Peer, alive bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alive = append(f.alive, alive)
	return nil
}

func TestRefusingStatuses(t *testing.T) {
	for _, st := range []Status{StatusNok, StatusNotAllowed} {
		d, a := cfgs()
		arb := &fakeArbiter{status: st}
		a.Arbiter = arb
		o := runPair(t, false, d, a)
		var se *StatusError
		if !errors.As(o.derr, &se) || se.Status != st || se.Local || se.Peer != nameB {
			t.Errorf("%v: dial err = %v", st, o.derr)
		}
		if !errors.As(o.aerr, &se) || se.Status != st || !se.Local || se.Peer != nameA {
			t.Errorf("%v: accept err = %v", st, o.aerr)
		}
		want := Peer{Name: nameA, Flags: DefaultFlags, Creation: 11}
		if len(arb.peers) != 1 || arb.peers[0] != want {
			t.Errorf("%v: arbiter saw %+v, want %+v", st, arb.peers, want)
		}
	}
}

func TestOKSimultaneousStatus(t *testing.T) {
	d, a := cfgs()
	a.Arbiter = &fakeArbiter{status: StatusOKSimultaneous}
	o := runPair(t, false, d, a)
	if o.derr != nil || o.aerr != nil {
		t.Fatalf("dial err %v, accept err %v", o.derr, o.aerr)
	}
	if o.dres.Status != StatusOKSimultaneous || o.ares.Status != StatusOKSimultaneous {
		t.Errorf("statuses %v / %v", o.dres.Status, o.ares.Status)
	}
}

func TestAlive(t *testing.T) {
	for _, reply := range []bool{true, false} {
		d, a := cfgs()
		arb := &fakeArbiter{status: StatusAlive}
		a.Arbiter = arb
		var asked []string
		d.AliveReply = func(_ context.Context, peer string) bool {
			asked = append(asked, peer)
			return reply
		}
		o := runPair(t, false, d, a)
		if len(asked) != 1 || asked[0] != nameB {
			t.Errorf("reply=%v: AliveReply asked about %v", reply, asked)
		}
		if len(arb.alive) != 1 || arb.alive[0] != reply {
			t.Errorf("reply=%v: arbiter told %v", reply, arb.alive)
		}
		if reply {
			if o.derr != nil || o.aerr != nil || o.ares.Status != StatusAlive {
				t.Errorf("dial err %v, accept err %v, accept result %+v", o.derr, o.aerr, o.ares)
			}
		} else if o.derr == nil || o.aerr == nil {
			t.Errorf("answered false but dial err %v, accept err %v", o.derr, o.aerr)
		}
	}
}

func TestAliveCookieMismatchKeepsOldConnection(t *testing.T) {
	d, a := cfgs()
	d.Cookie = "wrong"
	arb := &fakeArbiter{status: StatusAlive}
	a.Arbiter = arb
	o := runPair(t, false, d, a)
	if !isCookieMismatch(o.aerr) {
		t.Fatalf("accept err = %v", o.aerr)
	}
	if len(arb.alive) != 0 {
		t.Errorf("arbiter told %v before the cookie was proved", arb.alive)
	}
}

func TestResolveSimultaneous(t *testing.T) {
	cases := []struct {
		local, remote string
		want          Status
	}{
		{"b@h", "a@h", StatusNok},
		{"a@h", "b@h", StatusOKSimultaneous},
		{"a@h", "a@h", StatusOKSimultaneous},
		{"node@z", "node@a.b", StatusNok},
		{"Z@h", "a@h", StatusOKSimultaneous}, // 'Z' (90) < 'a' (97)
		{"é@h", "z@h", StatusNok},            // é (233) sorts after z
	}
	for _, c := range cases {
		if got := ResolveSimultaneous(c.local, c.remote); got != c.want {
			t.Errorf("ResolveSimultaneous(%q, %q) = %v, want %v", c.local, c.remote, got, c.want)
		}
	}
}

// simNode is an Arbiter for a node that is dialing some peers right now.
type simNode struct {
	name    string
	dialing map[string]bool
}

func (n *simNode) Arbitrate(_ context.Context, p Peer) Status {
	if n.dialing[p.Name] {
		return ResolveSimultaneous(n.name, p.Name)
	}
	return StatusOK
}

func (n *simNode) AliveReply(context.Context, Peer, bool) error { return nil }

// TestSimultaneousConnect has two nodes dial each other at once: only the
// connection started by the higher name survives.
func TestSimultaneousConnect(t *testing.T) {
	na := &simNode{name: nameA, dialing: map[string]bool{nameB: true}}
	nb := &simNode{name: nameB, dialing: map[string]bool{nameA: true}}
	var ab, ba outcome
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		ab = runPair(t, false, Config{Name: nameA, Cookie: "c", Creation: 1}, Config{Name: nameB, Cookie: "c", Creation: 2, Arbiter: nb})
	}()
	go func() {
		defer wg.Done()
		ba = runPair(t, false, Config{Name: nameB, Cookie: "c", Creation: 2}, Config{Name: nameA, Cookie: "c", Creation: 1, Arbiter: na})
	}()
	wg.Wait()
	var se *StatusError
	if !errors.As(ab.derr, &se) || se.Status != StatusNok {
		t.Errorf("alpha->beta: dial err %v, want nok", ab.derr)
	}
	if ba.derr != nil || ba.aerr != nil || ba.dres.Status != StatusOKSimultaneous {
		t.Errorf("beta->alpha: dial err %v, accept err %v, result %+v; want ok_simultaneous", ba.derr, ba.aerr, ba.dres)
	}
}

func TestDeadlineStalledPeer(t *testing.T) {
	t.Run("dial", func(t *testing.T) {
		c1, c2 := net.Pipe()
		defer c1.Close()
		defer c2.Close()
		done := make(chan struct{})
		go func() { // reads the name, then says nothing
			defer close(done)
			_, _ = NewTCPFramer(c2).ReadMessage(context.Background())
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		d, _ := cfgs()
		_, err := Dial(ctx, NewTCPFramer(c1), d, nameB)
		<-done
		checkDeadline(t, err)
	})
	t.Run("accept", func(t *testing.T) {
		c1, c2 := net.Pipe()
		defer c1.Close()
		defer c2.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, a := cfgs()
		_, err := Accept(ctx, NewTCPFramer(c1), a)
		checkDeadline(t, err)
	})
	t.Run("cancel", func(t *testing.T) {
		c1, c2 := net.Pipe()
		defer c1.Close()
		defer c2.Close()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, a := cfgs()
		_, err := Accept(ctx, NewTCPFramer(c1), a)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
}

func checkDeadline(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrDeadlineExceeded) || !errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), "handshake deadline exceeded") {
		t.Errorf("err = %v, want handshake deadline exceeded", err)
	}
}

func mustName(t *testing.T, m NameMessage) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAcceptRejectsBadInput(t *testing.T) {
	good := mustName(t, NameMessage{Flags: DefaultFlags, Creation: 1, Name: nameA})
	long := append([]byte(nil), good[:13]...)
	long = append(long, 0x01, 0x2c) // 300
	long = append(long, bytes.Repeat([]byte{'x'}, 300)...)
	cases := []struct {
		name       string
		msg        []byte
		wantStatus string // the status sent before failing, if any
		wantErr    string
	}{
		{"empty", nil, "", "malformed"},
		{"garbage", []byte("GET / HTTP/1.1\r\n"), "", "malformed"},
		{"truncated header", good[:10], "", "malformed"},
		{"truncated name", good[:len(good)-3], "", "exceeds"},
		{"name too long", long, "", "exceeds the 255"},
		{"old n message", append([]byte{'n'}, good[1:]...), "", "version 5"},
		{"no at", mustName(t, NameMessage{Flags: DefaultFlags, Name: "alpha"}), "", "alive@host"},
		{"two ats", mustName(t, NameMessage{Flags: DefaultFlags, Name: "a@b@127.0.0.1"}), "", "alive@host"},
		{"control char", mustName(t, NameMessage{Flags: DefaultFlags, Name: "a\n@127.0.0.1"}), "", "printable"},
		{"short name", mustName(t, NameMessage{Flags: DefaultFlags, Name: "alpha@host"}), "snot_allowed", "unqualified"},
		{"name me", mustName(t, NameMessage{Flags: DefaultFlags | FlagNameMe, Name: "127.0.0.1"}), "snot_allowed", "NAME_ME"},
	}
	for _, c := range cases {
		sf := &scriptFramer{in: [][]byte{c.msg}}
		_, a := cfgs()
		_, err := Accept(context.Background(), sf, a)
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.wantErr)
		}
		var sent string
		if len(sf.out) > 0 {
			sent = string(sf.out[0])
		}
		if sent != c.wantStatus || len(sf.out) > 1 {
			t.Errorf("%s: sent %q, want %q", c.name, sf.out, c.wantStatus)
		}
	}
}

func TestAcceptRejectsBadReply(t *testing.T) {
	name := mustName(t, NameMessage{Flags: DefaultFlags, Creation: 1, Name: nameA})
	good := ReplyMessage{Challenge: 1, Digest: Digest("secret", 5)}.Marshal()
	cases := map[string][]byte{
		"truncated":  good[:20],
		"trailing":   append(bytes.Clone(good), 0),
		"wrong tag":  append([]byte{'x'}, good[1:]...),
		"ack in its": AckMessage{}.Marshal(),
	}
	for n, reply := range cases {
		sf := &scriptFramer{in: [][]byte{name, reply}}
		_, a := cfgs()
		a.Challenge = func() uint32 { return 5 }
		_, err := Accept(context.Background(), sf, a)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", n, err)
		}
		if len(sf.out) != 2 {
			t.Errorf("%s: wrote %d messages, want status and challenge only", n, len(sf.out))
		}
	}
	// Sanity: the good reply passes.
	sf := &scriptFramer{in: [][]byte{name, good}}
	_, a := cfgs()
	a.Challenge = func() uint32 { return 5 }
	if _, err := Accept(context.Background(), sf, a); err != nil {
		t.Errorf("good reply: %v", err)
	}
}

func TestDialRejectsBadInput(t *testing.T) {
	chal := func(name string) []byte {
		b, err := ChallengeMessage{Flags: DefaultFlags, Challenge: 9, Creation: 3, Name: name}.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := chal(nameB)
	cases := []struct {
		name    string
		in      [][]byte
		wantErr string
	}{
		{"closed", nil, "EOF"},
		{"unknown status", [][]byte{[]byte("sokay")}, "unknown status"},
		{"status with challenge glued", [][]byte{append([]byte("sok"), good...)}, "unknown status"},
		{"garbage status", [][]byte{{0xff, 0x00}}, "malformed"},
		{"named", [][]byte{[]byte("snamed:\x00\x01x\x00\x00\x00\x01")}, "NAME_ME"},
		{"truncated challenge", [][]byte{[]byte("sok"), good[:18]}, "malformed"},
		{"truncated challenge name", [][]byte{[]byte("sok"), good[:len(good)-1]}, "exceeds"},
		{"other node", [][]byte{[]byte("sok"), chal("gamma@127.0.0.1")}, "not the"},
		{"short ack", [][]byte{[]byte("sok"), good, {'a', 1, 2}}, "malformed"},
	}
	for _, c := range cases {
		sf := &scriptFramer{in: c.in}
		d, _ := cfgs()
		_, err := Dial(context.Background(), sf, d, nameB)
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.wantErr)
		}
	}
}

func TestDialChecksNamesFirst(t *testing.T) {
	cases := []struct{ local, peer string }{
		{nameA, "beta@host"},  // long -> short
		{"alpha@host", nameB}, // short -> long
		{nameA, "no-at-sign"}, // malformed peer
		{"alpha", nameB},      // malformed local
		{nameA, strings.Repeat("x", 300) + "@127.0.0.1"},
	}
	for _, c := range cases {
		sf := &scriptFramer{}
		_, err := Dial(context.Background(), sf, Config{Name: c.local, Cookie: "c"}, c.peer)
		if err == nil || len(sf.out) != 0 {
			t.Errorf("Dial %s -> %s: err %v, sent %d messages; want refusal before sending", c.local, c.peer, err, len(sf.out))
		}
	}
}

func TestNames(t *testing.T) {
	good := []struct{ name, alive, host string }{
		{"a@h", "a", "h"},
		{"node@host.example.com", "node", "host.example.com"},
		{"x@::1", "x", "::1"},
		{"café@h", "café", "h"},
	}
	for _, g := range good {
		a, h, err := SplitNodeName(g.name)
		if err != nil || a != g.alive || h != g.host {
			t.Errorf("SplitNodeName(%q) = %q, %q, %v", g.name, a, h, err)
		}
	}
	for _, bad := range []string{"", "@", "a@", "@h", "a@b@c", "a h@x", "日本@h", "a@h\x00", strings.Repeat("a", 254) + "@h", "\xff@h"} {
		if _, _, err := SplitNodeName(bad); err == nil {
			t.Errorf("SplitNodeName(%q) accepted", bad)
		}
	}
	modes := map[string]NameMode{"h": ShortNames, "h.d": LongNames, "10.0.0.1": LongNames, "::1": LongNames, "localhost": ShortNames}
	for h, want := range modes {
		if got := ModeOf(h); got != want {
			t.Errorf("ModeOf(%q) = %v, want %v", h, got, want)
		}
	}
	compat := []struct {
		local, peer string
		ok          bool
	}{
		{"a@h.d", "b@x.y", true},
		{"a@h.d", "b@10.0.0.1", true},
		{"a@h.d", "b@::1", true},
		{"a@h.d", "b@x", false},
		{"a@h", "b@x", true},
		{"a@h", "b@::1", true},
		{"a@h", "b@10.0.0.1", false},
		{"a@h", "b@x.y", false},
	}
	for _, c := range compat {
		if err := CheckNameModes(c.local, c.peer); (err == nil) != c.ok {
			t.Errorf("CheckNameModes(%q, %q) = %v, want ok=%v", c.local, c.peer, err, c.ok)
		}
	}
}

func TestLatin1Names(t *testing.T) {
	m := NameMessage{Flags: DefaultFlags, Creation: 1, Name: "café@127.0.0.1"}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("caf\xe9@")) {
		t.Errorf("name not Latin-1 on the wire: %x", b)
	}
	got, err := ParseNameMessage(b)
	if err != nil || got != m {
		t.Errorf("round trip = %+v, %v", got, err)
	}
	if _, err := (NameMessage{Name: "日本@h"}).Marshal(); err == nil {
		t.Error("non-Latin-1 name encoded")
	}
}

// A status that never comes ends Dial at StatusTimeout, with the handshake
// deadline still ahead, and says so; without StatusTimeout the same
// silence runs into the deadline.
func TestDialStatusTimeout(t *testing.T) {
	for _, st := range []time.Duration{50 * time.Millisecond, 0} {
		dconn, aconn := connPair(t, true)
		// The acceptor reads the name and says nothing, as an erlang_quic
		// server that lost the message does.
		go func() { _, _ = NewTCPFramer(aconn).ReadMessage(context.Background()) }()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := Dial(ctx, NewTCPFramer(dconn), Config{Name: nameA, Cookie: "c", Creation: 1, StatusTimeout: st}, nameB)
		deadlineLeft := ctx.Err() == nil
		cancel()
		dconn.Close()
		aconn.Close()
		if st > 0 {
			if !errors.Is(err, ErrStatusTimeout) || errors.Is(err, ErrDeadlineExceeded) || !deadlineLeft {
				t.Errorf("StatusTimeout %s: %v (deadline left: %v), want ErrStatusTimeout first", st, err, deadlineLeft)
			}
		} else if !errors.Is(err, ErrDeadlineExceeded) || errors.Is(err, ErrStatusTimeout) {
			t.Errorf("no StatusTimeout: %v, want the handshake deadline", err)
		}
	}
}
