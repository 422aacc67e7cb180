package hyparview

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/internal/vectortest"
)

var vectorsDir = filepath.Join("..", "..", "..", "shared", "vectors")

type recorded struct {
	Category  string `json:"category"`
	FromNode  string `json:"from_node"`
	Node      string `json:"node"`
	Process   string `json:"process"`
	To        string `json:"to"`
	MsgHex    string `json:"msg_etf_hex"`
	Print     string `json:"print"`
	Direction string
}

// recordedHyParView returns every HyParView message of membership_sequence.json
// (received and sent), failing the test if the file is missing.
func recordedHyParView(tb testing.TB) []recorded {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir, "membership_sequence.json"))
	if err != nil {
		tb.Fatalf("read vectors: %v", err)
	}
	var f struct {
		Received []recorded `json:"received"`
		Sent     []recorded `json:"sent"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		tb.Fatalf("parse membership_sequence.json: %v", err)
	}
	var out []recorded
	for _, r := range f.Received {
		if r.Category == "hyparview" {
			r.Direction = "received"
			out = append(out, r)
		}
	}
	for _, r := range f.Sent {
		if r.Category == "hyparview" {
			r.Direction = "sent"
			out = append(out, r)
		}
	}
	return out
}

// termsFileVectors returns the blobs of membership-terms-otp25.txt whose
// term is a HyParView envelope.
func termsFileVectors(tb testing.TB) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	for label, b := range vectortest.MembershipTerms(tb, vectorsDir) {
		if term, err := etf.Decode(b); err == nil {
			if tup, ok := term.(etf.Tuple); ok && len(tup) == 3 && tup[0] == EnvelopeTag {
				out[label] = b
			}
		}
	}
	return out
}

func TestGoldenRecordedSequence(t *testing.T) {
	recs := recordedHyParView(t)
	if len(recs) < 200 {
		t.Fatalf("only %d recorded HyParView messages; vectors changed?", len(recs))
	}
	kinds := map[string]int{}
	for i, r := range recs {
		raw, err := hex.DecodeString(r.MsgHex)
		if err != nil {
			t.Fatalf("#%d: bad hex: %v", i, err)
		}
		term, err := etf.Decode(raw)
		if err != nil {
			t.Fatalf("#%d: etf.Decode: %v", i, err)
		}
		env, err := DecodeEnvelope(term)
		if err != nil {
			t.Fatalf("#%d (%s): DecodeEnvelope: %v", i, r.Print, err)
		}
		if r.Direction == "received" && string(env.FromNode) != r.FromNode {
			t.Errorf("#%d: FromNode %q, recorded sender %q", i, env.FromNode, r.FromNode)
		}
		// barrel_p2p always fills FromNode with the sender's node, which is
		// also the Sender record's id.
		if env.Msg.From().Node != env.FromNode {
			t.Errorf("#%d: sender record %q != envelope %q", i, env.Msg.From().Node, env.FromNode)
		}
		back := EncodeEnvelope(env.FromNode, env.Msg)
		if !etf.Equal(back, term) {
			t.Fatalf("#%d: re-encoded term differs:\n got %s\nwant %s", i, etf.Format(back), r.Print)
		}
		enc, err := etf.Encode(back)
		if err != nil {
			t.Fatalf("#%d: etf.Encode: %v", i, err)
		}
		if !bytes.Equal(enc, raw) {
			t.Errorf("#%d: re-encoded bytes differ from term_to_binary", i)
		}
		kinds[string(EncodeMessage(env.Msg).(etf.Tuple)[0].(etf.Atom))]++
	}
	for _, k := range []string{"join", "forward_join", "shuffle", "shuffle_reply"} {
		if kinds[k] == 0 {
			t.Errorf("no recorded %s message decoded", k)
		}
	}
	t.Logf("decoded and re-encoded %d recorded messages: %v", len(recs), kinds)
}

func TestGoldenTermsFile(t *testing.T) {
	vecs := termsFileVectors(t)
	want := map[string]string{
		"JOIN envelope":  "join",
		"FORWARD_JOIN":   "forward_join",
		"NEIGHBOR":       "neighbor",
		"NEIGHBOR_REPLY": "neighbor_reply",
		"DISCONNECT":     "disconnect",
		"SHUFFLE":        "shuffle",
		"SHUFFLE_REPLY":  "shuffle_reply",
	}
	for label, tag := range want {
		raw, ok := vecs[label]
		if !ok {
			t.Errorf("%s: vector not found", label)
			continue
		}
		term, _ := etf.Decode(raw)
		env, err := DecodeEnvelope(term)
		if err != nil {
			t.Errorf("%s: %v", label, err)
			continue
		}
		if got := EncodeMessage(env.Msg).(etf.Tuple)[0]; got != etf.Atom(tag) {
			t.Errorf("%s: decoded as %v", label, got)
		}
		enc, err := etf.Encode(EncodeEnvelope(env.FromNode, env.Msg))
		if err != nil || !bytes.Equal(enc, raw) {
			t.Errorf("%s: re-encoding differs (err %v)", label, err)
		}
	}
}

// TestAppendixA1 builds the JOIN envelope of membership.md Appendix A.1 from Go
// values and checks it byte for byte.
func TestAppendixA1(t *testing.T) {
	const a1 = "83680377152462617272656C5F7032705F687970617276696577770D676F31403132372E302E302E31680277046A6F696E680A770470656572770D676F31403132372E302E302E316804617F610061006101620000238C7709756E646566696E65647704747275657704686967687709756E646566696E656461007709756E646566696E6564"
	self := SelfPeer("go1@127.0.0.1", netip.MustParseAddr("127.0.0.1"), 9100)
	got, err := etf.Encode(EncodeEnvelope(self.Node, &Join{Sender: self}))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got) != strings.ToLower(a1) {
		t.Fatalf("JOIN envelope\n got %x\nwant %s", got, strings.ToLower(a1))
	}
}

func TestDecodedShapes(t *testing.T) {
	vecs := termsFileVectors(t)
	term, _ := etf.Decode(vecs["FORWARD_JOIN"])
	env, err := DecodeEnvelope(term)
	if err != nil {
		t.Fatal(err)
	}
	fj, ok := env.Msg.(*ForwardJoin)
	if !ok {
		t.Fatalf("got %T", env.Msg)
	}
	wantNew := Peer{
		Node: "go1@127.0.0.1", Address: netip.MustParseAddr("127.0.0.1"), Port: Int(9100),
		Connected: true, Priority: PriorityHigh,
	}
	if fj.New != wantNew || fj.TTL != 6 || fj.Sender.Node != "e1@127.0.0.1" || env.FromNode != "e1@127.0.0.1" {
		t.Fatalf("forward_join decoded as %+v from %s", fj, env.FromNode)
	}
	term, _ = etf.Decode(vecs["NEIGHBOR"])
	env, _ = DecodeEnvelope(term)
	if nb, ok := env.Msg.(*Neighbor); !ok || nb.Priority != PriorityLow {
		t.Fatalf("neighbor decoded as %#v", env.Msg)
	}
	term, _ = etf.Decode(vecs["NEIGHBOR_REPLY"])
	env, _ = DecodeEnvelope(term)
	if nr, ok := env.Msg.(*NeighborReply); !ok || !nr.Accept {
		t.Fatalf("neighbor_reply decoded as %#v", env.Msg)
	}
	term, _ = etf.Decode(vecs["SHUFFLE"])
	env, _ = DecodeEnvelope(term)
	if sh, ok := env.Msg.(*Shuffle); !ok || sh.TTL != 3 || len(sh.Peers) != 1 {
		t.Fatalf("shuffle decoded as %#v", env.Msg)
	}
	term, _ = etf.Decode(vecs["SHUFFLE_REPLY"])
	env, _ = DecodeEnvelope(term)
	if sr, ok := env.Msg.(*ShuffleReply); !ok || len(sr.Peers) != 0 {
		t.Fatalf("shuffle_reply decoded as %#v", env.Msg)
	}
}

// A locally made record (make_peer/1) as recorded from v1: negative native
// last_seen, undefined address and port.
func TestRecordedMakePeerRecord(t *testing.T) {
	term, err := etf.Parse("{peer,'v1@127.0.0.1',undefined,undefined,undefined,true,low,-576460750736411332,0,undefined}")
	if err != nil {
		t.Fatal(err)
	}
	p, err := PeerFromTerm(term)
	if err != nil {
		t.Fatal(err)
	}
	want := Peer{Node: "v1@127.0.0.1", Connected: true, Priority: PriorityLow, LastSeen: Int(-576460750736411332)}
	if p != want {
		t.Fatalf("got %+v", p)
	}
	if !etf.Equal(p.ToTerm(), term) {
		t.Fatalf("round trip: %s", etf.Format(p.ToTerm()))
	}
	if s := p.sanitized(); s.LastSeen.Valid || s.FailCount != 0 || s.BackoffUntil.Valid {
		t.Fatalf("sanitized kept local fields: %+v", s)
	}
}

func TestPeerAddresses(t *testing.T) {
	for _, tc := range []struct {
		term string
		addr string // "" = undefined
		same bool   // re-encodes to the same term
	}{
		{"{peer,a@h,{10,0,0,1},1,undefined,false,low,undefined,0,undefined}", "10.0.0.1", true},
		{"{peer,a@h,{8193,3512,0,0,0,0,0,1},1,undefined,false,low,undefined,0,undefined}", "2001:db8::1", true},
		{"{peer,a@h,{0,0,0,0,0,65535,2560,1},1,undefined,false,low,undefined,0,undefined}", "::ffff:10.0.0.1", true},
		{"{peer,a@h,undefined,undefined,undefined,false,low,undefined,0,undefined}", "", true},
		// Informational fields of another shape are tolerated as undefined.
		{"{peer,a@h,\"10.0.0.1\",<<\"x\">>,foo,false,low,undefined,0,undefined}", "", false},
		{"{peer,a@h,{256,0,0,1},1,undefined,false,low,undefined,0,undefined}", "", false},
		{"{peer,a@h,{1,2,3},1,undefined,false,low,undefined,0,undefined}", "", false},
	} {
		term, err := etf.Parse(tc.term)
		if err != nil {
			t.Fatalf("%s: %v", tc.term, err)
		}
		p, err := PeerFromTerm(term)
		if err != nil {
			t.Errorf("%s: %v", tc.term, err)
			continue
		}
		var want netip.Addr
		if tc.addr != "" {
			want = netip.MustParseAddr(tc.addr)
		}
		if p.Address != want {
			t.Errorf("%s: address %v, want %v", tc.term, p.Address, want)
		}
		if got := etf.Equal(p.ToTerm(), term); got != tc.same {
			t.Errorf("%s: round trip equal = %v, want %v (%s)", tc.term, got, tc.same, etf.Format(p.ToTerm()))
		}
	}
}

const okPeer = "{peer,'a@h',undefined,undefined,undefined,true,high,undefined,0,undefined}"

func TestDecodeRejects(t *testing.T) {
	for _, s := range []string{
		// envelopes
		"foo",
		"{'$barrel_p2p_hyparview','a@h'}",
		"{'$barrel_p2p_plumtree','a@h',{join," + okPeer + "}}",
		"{'$barrel_p2p_hyparview',\"a@h\",{join," + okPeer + "}}",
		"{'$barrel_p2p_hyparview','',{join," + okPeer + "}}",
		"{'$barrel_p2p_hyparview','a@h',{join," + okPeer + "},extra}",
		// messages
		"{'$barrel_p2p_hyparview','a@h',{}}",
		"{'$barrel_p2p_hyparview','a@h',{hello," + okPeer + "}}",
		"{'$barrel_p2p_hyparview','a@h',{join}}",
		"{'$barrel_p2p_hyparview','a@h',{join," + okPeer + ",x}}",
		"{'$barrel_p2p_hyparview','a@h',{join,notapeer}}",
		"{'$barrel_p2p_hyparview','a@h',[join," + okPeer + "]}",
		"{'$barrel_p2p_hyparview','a@h',{forward_join," + okPeer + ",-1," + okPeer + "}}",
		"{'$barrel_p2p_hyparview','a@h',{forward_join," + okPeer + ",256," + okPeer + "}}",
		"{'$barrel_p2p_hyparview','a@h',{forward_join," + okPeer + ",99999999999999999999999," + okPeer + "}}",
		"{'$barrel_p2p_hyparview','a@h',{forward_join," + okPeer + ",6.0," + okPeer + "}}",
		"{'$barrel_p2p_hyparview','a@h',{forward_join,x,6," + okPeer + "}}",
		"{'$barrel_p2p_hyparview','a@h',{neighbor,medium," + okPeer + "}}",
		"{'$barrel_p2p_hyparview','a@h',{neighbor,true," + okPeer + "}}",
		"{'$barrel_p2p_hyparview','a@h',{neighbor_reply,yes," + okPeer + "}}",
		"{'$barrel_p2p_hyparview','a@h',{shuffle,3,notalist," + okPeer + "}}",
		"{'$barrel_p2p_hyparview','a@h',{shuffle,3,[" + okPeer + "|tail]," + okPeer + "}}",
		"{'$barrel_p2p_hyparview','a@h',{shuffle,3,[x]," + okPeer + "}}",
		"{'$barrel_p2p_hyparview','a@h',{shuffle,3,\"abc\"," + okPeer + "}}",
		"{'$barrel_p2p_hyparview','a@h',{shuffle_reply,[" + okPeer + ",1]," + okPeer + "}}",
		// peer records
		"{'$barrel_p2p_hyparview','a@h',{join,{peer,'a@h',undefined,undefined,undefined,true,high,undefined,0}}}",
		"{'$barrel_p2p_hyparview','a@h',{join,{pear,'a@h',undefined,undefined,undefined,true,high,undefined,0,undefined}}}",
		"{'$barrel_p2p_hyparview','a@h',{join,{peer,\"a@h\",undefined,undefined,undefined,true,high,undefined,0,undefined}}}",
		"{'$barrel_p2p_hyparview','a@h',{join,{peer,'',undefined,undefined,undefined,true,high,undefined,0,undefined}}}",
		"{'$barrel_p2p_hyparview','a@h',{join,{peer,'a@h',undefined,undefined,undefined,maybe,high,undefined,0,undefined}}}",
		"{'$barrel_p2p_hyparview','a@h',{join,{peer,'a@h',undefined,undefined,undefined,true,top,undefined,0,undefined}}}",
		"{'$barrel_p2p_hyparview','a@h',{join,{peer,'a@h',undefined,undefined,undefined,true,high,never,0,undefined}}}",
		"{'$barrel_p2p_hyparview','a@h',{join,{peer,'a@h',undefined,undefined,undefined,true,high,undefined,-1,undefined}}}",
		"{'$barrel_p2p_hyparview','a@h',{join,{peer,'a@h',undefined,undefined,undefined,true,high,undefined,undefined,undefined}}}",
		"{'$barrel_p2p_hyparview','a@h',{join,{peer,'a@h',undefined,undefined,undefined,true,high,undefined,0,1.5}}}",
	} {
		term, err := etf.Parse(s)
		if err != nil {
			t.Fatalf("parse %s: %v", s, err)
		}
		env, err := DecodeEnvelope(term)
		if err == nil {
			t.Errorf("%s: accepted as %#v", s, env)
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v does not wrap ErrMalformed", s, err)
		}
	}
}

func TestDecodeListBound(t *testing.T) {
	peer, _ := etf.Parse(okPeer)
	for _, n := range []int{0, MaxMessagePeers, MaxMessagePeers + 1} {
		l := make(etf.List, n)
		for i := range l {
			l[i] = peer
		}
		_, err := DecodeMessage(etf.Tuple{etf.Atom("shuffle_reply"), l, peer})
		if (err == nil) != (n <= MaxMessagePeers) {
			t.Errorf("%d peers: err = %v", n, err)
		}
	}
}

func TestEncodeEveryMessage(t *testing.T) {
	self := SelfPeer("go@h", netip.MustParseAddr("::1"), 4433)
	other := Peer{Node: "x@h"}
	for _, m := range []Message{
		&Join{Sender: self},
		&ForwardJoin{New: other, TTL: 6, Sender: self},
		&Neighbor{Priority: PriorityHigh, Sender: self},
		&NeighborReply{Accept: false, Sender: self},
		&Disconnect{Sender: self},
		&Shuffle{TTL: 3, Peers: []Peer{self, other}, Sender: self},
		&ShuffleReply{Sender: self},
	} {
		term := EncodeEnvelope("go@h", m)
		raw, err := etf.Encode(term)
		if err != nil {
			t.Fatalf("%T: encode: %v", m, err)
		}
		back, err := etf.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		env, err := DecodeEnvelope(back)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if !etf.Equal(EncodeEnvelope(env.FromNode, env.Msg), term) {
			t.Errorf("%T: round trip differs", m)
		}
	}
}
