package dist

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
)

var (
	pidA  = etf.Pid{Node: "a@127.0.0.1", ID: 80, Serial: 1, Creation: 4}
	pidB  = etf.Pid{Node: "b@127.0.0.1", ID: 192, Serial: 0, Creation: 7}
	refA  = etf.Ref{Node: "a@127.0.0.1", Creation: 4, Len: 3, ID: [etf.MaxRefWords]uint32{1, 2, 3}}
	alias = etf.Ref{Node: "b@127.0.0.1", Creation: 7, Len: 5, ID: [etf.MaxRefWords]uint32{9, 8, 7, 6, 5}}
	token = etf.Tuple{int64(0), int64(42), int64(0), pidA, int64(3)}
)

// sampleControls has one Control per encodable op, with every field the op
// carries set to a distinct value, so a round trip that drops or swaps a
// field fails.
func sampleControls() []*Control {
	reason := etf.Tuple{etf.Atom("shutdown"), etf.Atom("because")}
	mfa := etf.Tuple{etf.Atom("erlang"), etf.Atom("apply"), int64(2)}
	opts := etf.List{etf.Atom("link"), etf.Tuple{etf.Atom("priority"), etf.Atom("high")}}
	return []*Control{
		{Op: OpLink, From: pidA, To: pidB},
		{Op: OpSend, To: pidB},
		{Op: OpExit, From: pidA, To: pidB, Reason: reason},
		{Op: OpUnlink, From: pidA, To: pidB},
		{Op: OpRegSend, From: pidA, To: etf.Atom("accept_probe")},
		{Op: OpGroupLeader, From: pidA, To: pidB},
		{Op: OpExit2, From: pidA, To: pidB, Reason: etf.Atom("kill")},
		{Op: OpSendTT, To: pidB, Token: token},
		{Op: OpExitTT, From: pidA, To: pidB, Token: token, Reason: reason},
		{Op: OpRegSendTT, From: pidA, To: etf.Atom("rex"), Token: token},
		{Op: OpExit2TT, From: pidA, To: pidB, Token: token, Reason: etf.Atom("normal")},
		{Op: OpMonitorP, From: pidA, To: pidB, Ref: refA},
		{Op: OpMonitorP, From: pidA, To: etf.Atom("named"), Ref: refA},
		{Op: OpDemonitorP, From: pidA, To: pidB, Ref: refA},
		{Op: OpMonitorPExit, From: pidB, To: pidA, Ref: refA, Reason: etf.Atom("noproc")},
		{Op: OpMonitorPExit, From: etf.Atom("named"), To: pidA, Ref: refA, Reason: reason},
		{Op: OpSendSender, From: pidA, To: pidB},
		{Op: OpSendSenderTT, From: pidA, To: pidB, Token: token},
		{Op: OpPayloadExit, From: pidA, To: pidB},
		{Op: OpPayloadExitTT, From: pidA, To: pidB, Token: token},
		{Op: OpPayloadExit2, From: pidA, To: pidB},
		{Op: OpPayloadExit2TT, From: pidA, To: pidB, Token: token},
		{Op: OpPayloadMonitorPExit, From: pidB, To: pidA, Ref: refA},
		{Op: OpSpawnRequest, Ref: refA, From: pidA, GroupLeader: pidB, MFA: mfa, Opts: opts},
		{Op: OpSpawnRequestTT, Ref: refA, From: pidA, GroupLeader: pidB, MFA: mfa, Opts: etf.List(nil), Token: token},
		{Op: OpSpawnReply, Ref: refA, To: pidA, Flags: 3, Result: pidB},
		{Op: OpSpawnReplyTT, Ref: refA, To: pidA, Flags: 0, Result: etf.Atom("badarg"), Token: token},
		{Op: OpAliasSend, From: pidA, To: alias},
		{Op: OpAliasSendTT, From: pidA, To: alias, Token: token},
		{Op: OpUnlinkID, ID: 7, From: pidA, To: pidB},
		{Op: OpUnlinkIDAck, ID: 1 << 40, From: pidB, To: pidA},
		{Op: OpUnlinkID, ID: math.MaxInt64 + 1, From: pidA, To: pidB},
		{Op: OpUnlinkIDAck, ID: math.MaxUint64, From: pidA, To: pidB},
	}
}

// wireRoundTrip sends the control tuple through the term codec, as a peer
// would see it.
func wireRoundTrip(t *testing.T, c *Control) *Control {
	t.Helper()
	tup, err := c.Tuple()
	if err != nil {
		t.Fatalf("%v: Tuple: %v", c.Op, err)
	}
	if tup[0] != int64(c.Op) {
		t.Fatalf("%v: tuple starts with %v", c.Op, tup[0])
	}
	b, err := etf.Encode(tup)
	if err != nil {
		t.Fatalf("%v: encode %s: %v", c.Op, etf.Format(tup), err)
	}
	term, err := etf.Decode(b)
	if err != nil {
		t.Fatalf("%v: decode: %v", c.Op, err)
	}
	got, err := ParseControl(term)
	if err != nil {
		t.Fatalf("%v: ParseControl(%s): %v", c.Op, etf.Format(term), err)
	}
	return got
}

func TestControlRoundTrip(t *testing.T) {
	seen := map[Op]bool{}
	for _, c := range sampleControls() {
		seen[c.Op] = true
		got := wireRoundTrip(t, c)
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%v round trip:\n got %#v\nwant %#v", c.Op, got, c)
		}
		// A decoded control must encode to the same tuple again.
		a, _ := c.Tuple()
		b, err := got.Tuple()
		if err != nil || !etf.Equal(a, b) {
			t.Errorf("%v: re-encoded tuple %s, want %s (%v)", c.Op, etf.Format(b), etf.Format(a), err)
		}
	}
	// Every op the package names, except the obsolete NODE_LINK, must be covered.
	for op := range opNames {
		if op != OpNodeLink && !seen[op] {
			t.Errorf("no round-trip sample for %v", op)
		}
	}
}

// The control tuple built in Go (uint64 ids, not yet through the codec)
// parses as well: callers may hand ParseControl a tuple they built.
func TestParseControlOfGoTuple(t *testing.T) {
	for _, c := range sampleControls() {
		tup, err := c.Tuple()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseControl(tup)
		if err != nil {
			t.Errorf("%v: ParseControl(%s): %v", c.Op, etf.Format(tup), err)
			continue
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%v:\n got %#v\nwant %#v", c.Op, got, c)
		}
	}
}

func TestControlTTVariantsKeepToken(t *testing.T) {
	for _, c := range sampleControls() {
		if !strings.HasSuffix(c.Op.String(), "_TT") {
			if c.Token != nil {
				t.Fatalf("sample %v has a token", c.Op)
			}
			continue
		}
		got := wireRoundTrip(t, c)
		if got.Op != c.Op {
			t.Errorf("%v decoded as %v", c.Op, got.Op)
		}
		if !etf.Equal(got.Token, token) {
			t.Errorf("%v: token %s, want %s", c.Op, etf.Format(got.Token), etf.Format(token))
		}
	}
	// A token of any shape is carried: OTP only passes it on.
	c := wireRoundTrip(t, &Control{Op: OpSendTT, To: pidB, Token: etf.Atom("anything")})
	if c.Token != etf.Atom("anything") {
		t.Errorf("SEND_TT token %v", c.Token)
	}
}

func TestUnlinkIDLarge(t *testing.T) {
	for _, id := range []uint64{0, 1, math.MaxInt64, math.MaxInt64 + 1, 1<<63 + 12345, math.MaxUint64} {
		for _, op := range []Op{OpUnlinkID, OpUnlinkIDAck} {
			c := &Control{Op: op, ID: id, From: pidA, To: pidB}
			tup, _ := c.Tuple()
			b, err := etf.Encode(tup)
			if err != nil {
				t.Fatal(err)
			}
			term, err := etf.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			// Above 2^63 the id travels as a bignum.
			if _, isBig := term.(etf.Tuple)[1].(*big.Int); isBig != (id > math.MaxInt64) {
				t.Errorf("id %d decoded as %T", id, term.(etf.Tuple)[1])
			}
			got, err := ParseControl(term)
			if err != nil {
				t.Fatalf("%v id %d: %v", op, id, err)
			}
			if got.ID != id {
				t.Errorf("%v id %d came back as %d", op, id, got.ID)
			}
		}
	}
	// Ids that do not fit 64 bits, or are negative, are not unlink ids.
	tooBig := new(big.Int).Lsh(big.NewInt(1), 64)
	negBig := new(big.Int).Neg(tooBig)
	for _, id := range []etf.Term{tooBig, negBig, int64(-1), etf.Atom("one"), 1.5} {
		_, err := ParseControl(etf.Tuple{int64(OpUnlinkID), id, pidA, pidB})
		if err == nil || !strings.Contains(err.Error(), "UNLINK_ID") {
			t.Errorf("unlink id %s: err %v, want a UNLINK_ID error", etf.Format(id), err)
		}
	}
}

// checked lists, per op, the tuple positions whose type ParseControl must
// enforce; the others (unused, reason, token, options, result) are any term.
var checked = map[Op][]int{
	OpLink: {1, 2}, OpUnlink: {1, 2}, OpGroupLeader: {1, 2},
	OpSend: {2}, OpSendTT: {2},
	OpExit: {1, 2}, OpExit2: {1, 2}, OpExitTT: {1, 2}, OpExit2TT: {1, 2},
	OpRegSend: {1, 3}, OpRegSendTT: {1, 3},
	OpMonitorP: {1, 2, 3}, OpDemonitorP: {1, 2, 3}, OpMonitorPExit: {1, 2, 3}, OpPayloadMonitorPExit: {1, 2, 3},
	OpSendSender: {1, 2}, OpSendSenderTT: {1, 2},
	OpPayloadExit: {1, 2}, OpPayloadExitTT: {1, 2}, OpPayloadExit2: {1, 2}, OpPayloadExit2TT: {1, 2},
	OpSpawnRequest: {1, 2, 3, 4}, OpSpawnRequestTT: {1, 2, 3, 4},
	OpSpawnReply: {1, 2, 3}, OpSpawnReplyTT: {1, 2, 3},
	OpAliasSend: {1, 2}, OpAliasSendTT: {1, 2},
	OpUnlinkID: {1, 2, 3}, OpUnlinkIDAck: {1, 2, 3},
}

func TestParseControlMalformed(t *testing.T) {
	for _, c := range sampleControls() {
		tup, _ := c.Tuple()
		name := c.Op.String()
		wantErr := func(what string, bad etf.Tuple) {
			t.Helper()
			got, err := ParseControl(bad)
			if err == nil {
				t.Errorf("%s %s: accepted %s as %#v", name, what, etf.Format(bad), got)
				return
			}
			if !strings.Contains(err.Error(), name) {
				t.Errorf("%s %s: error %q does not name the op", name, what, err)
			}
		}
		// Arity one short and one long.
		wantErr("short", tup[:len(tup)-1])
		wantErr("long", append(append(etf.Tuple{}, tup...), etf.Atom("extra")))
		// Each checked position with a value of no acceptable type.
		for _, i := range checked[c.Op] {
			for _, bad := range []etf.Term{etf.Tuple{}, 1.5, etf.List{pidA}} {
				mut := append(etf.Tuple{}, tup...)
				mut[i] = bad
				wantErr("element "+string(rune('0'+i)), mut)
			}
		}
	}
	// Positions that are not checked accept any term, so a peer's
	// future extensions of reasons and tokens are not refused.
	for _, c := range sampleControls() {
		tup, _ := c.Tuple()
		free := map[int]bool{}
		for i := 1; i < len(tup); i++ {
			free[i] = true
		}
		for _, i := range checked[c.Op] {
			delete(free, i)
		}
		for i := range free {
			mut := append(etf.Tuple{}, tup...)
			mut[i] = etf.Map{{Key: etf.Atom("k"), Value: etf.List{int64(1)}}}
			if _, err := ParseControl(mut); err != nil {
				t.Errorf("%v element %d is free but refused: %v", c.Op, i, err)
			}
		}
	}
	// SPAWN_REQUEST wants {M, F, A}: two atoms and an arity, as ERTS.
	for _, mfa := range []etf.Tuple{
		{etf.Atom("m"), etf.Atom("f")},
		{[]byte("m"), etf.Atom("f"), int64(1)},
		{etf.Atom("m"), "f", int64(1)},
		{etf.Atom("m"), etf.Atom("f"), etf.Atom("one")},
		{etf.Atom("m"), etf.Atom("f"), int64(-1)},
		{etf.Atom("m"), etf.Atom("f"), int64(256)},
	} {
		_, err := ParseControl(etf.Tuple{int64(OpSpawnRequest), refA, pidA, pidB, mfa, etf.List(nil)})
		if err == nil || !strings.Contains(err.Error(), "SPAWN_REQUEST") {
			t.Errorf("SPAWN_REQUEST with MFA %s: %v", etf.Format(mfa), err)
		}
	}
}

func TestParseControlNotAControl(t *testing.T) {
	cases := []struct {
		term etf.Term
		want string
	}{
		{etf.Atom("send"), "not a tuple"},
		{etf.List{int64(2), etf.Atom(""), pidA}, "not a tuple"},
		{etf.Tuple{}, "not a tuple"},
		{nil, "not a tuple"},
		{etf.Tuple{etf.Atom("send"), pidA}, "not an integer"},
		{etf.Tuple{big.NewInt(2), etf.Atom(""), pidA}, "not an integer"},
		{etf.Tuple{int64(99), pidA, pidB}, "unknown control op 99"},
		{etf.Tuple{int64(0)}, "unknown control op 0"},
		{etf.Tuple{int64(-2), etf.Atom(""), pidA}, "unknown control op -2"},
		// NODE_LINK is obsolete: OTP never sends it.
		{etf.Tuple{int64(OpNodeLink)}, "unknown control op 5"},
	}
	for _, tc := range cases {
		_, err := ParseControl(tc.term)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseControl(%s) = %v, want error containing %q", etf.Format(tc.term), err, tc.want)
		}
	}
}

func TestTupleUnknownOp(t *testing.T) {
	for _, op := range []Op{0, OpNodeLink, 9, 37, -1} {
		if _, err := (&Control{Op: op}).Tuple(); err == nil {
			t.Errorf("Tuple of %v succeeded", op)
		}
	}
	if s := Op(99).String(); s != "op(99)" {
		t.Errorf("Op(99).String() = %q", s)
	}
}

func TestHasMessage(t *testing.T) {
	with := map[Op]bool{
		OpSend: true, OpRegSend: true, OpSendTT: true, OpRegSendTT: true, OpSendSender: true,
		OpSendSenderTT: true, OpPayloadExit: true, OpPayloadExitTT: true, OpPayloadExit2: true,
		OpPayloadExit2TT: true, OpPayloadMonitorPExit: true, OpSpawnRequest: true,
		OpSpawnRequestTT: true, OpAliasSend: true, OpAliasSendTT: true,
	}
	for op := range opNames {
		if op.HasMessage() != with[op] {
			t.Errorf("%v.HasMessage() = %v", op, op.HasMessage())
		}
	}
}

var _ = errors.Is

// The encoder writes a control tuple from its elements; the bytes must be
// those of etf's encoding of the Tuple, in both message forms, for every
// op.
func TestEncoderControlBytesMatchTuple(t *testing.T) {
	for _, c := range sampleControls() {
		tup, err := c.Tuple()
		if err != nil {
			t.Fatal(err)
		}
		ctl, err := etf.AppendTerm(nil, tup, nil)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := etf.AppendTerm(nil, etf.Atom("m"), nil)
		for _, fragments := range []bool{false, true} {
			e := Encoder{Fragments: fragments}
			frames, err := e.Encode(nil, c, etf.Atom("m"))
			if err != nil || len(frames) != 1 {
				t.Fatalf("%v: %d frames, %v", c.Op, len(frames), err)
			}
			head := []byte{passThrough, etf.Version}
			if fragments {
				head = []byte{etf.Version, hdrNormal, 0}
			}
			want := append(head, ctl...)
			if c.Op.HasMessage() {
				if !fragments {
					want = append(want, etf.Version) // each term is whole
				}
				want = append(want, msg...)
			}
			if got := frames[0]; !bytes.Equal(got, want) {
				t.Errorf("%v (fragments %v):\n got %x\nwant %x", c.Op, fragments, got, want)
			}
		}
	}
}
