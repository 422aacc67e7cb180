// Package dist implements one Erlang distribution connection after its
// handshake: the control messages, the message framing (pass-through, dist
// header, fragments), atom-cache resolution, ticks and liveness. It is
// carrier-independent: TCP and the barrel_p2p QUIC carrier both plug in
// through the Carrier interface.
package dist

import (
	"fmt"
	"math/big"
	"slices"

	"github.com/barrelgo/barrelgo/etf"
)

// Op is a distribution control message operation.
type Op int

// Control message operations (Erlang/OTP "Distribution Protocol").
const (
	OpLink                Op = 1
	OpSend                Op = 2
	OpExit                Op = 3
	OpUnlink              Op = 4
	OpNodeLink            Op = 5
	OpRegSend             Op = 6
	OpGroupLeader         Op = 7
	OpExit2               Op = 8
	OpSendTT              Op = 12
	OpExitTT              Op = 13
	OpRegSendTT           Op = 16
	OpExit2TT             Op = 18
	OpMonitorP            Op = 19
	OpDemonitorP          Op = 20
	OpMonitorPExit        Op = 21
	OpSendSender          Op = 22
	OpSendSenderTT        Op = 23
	OpPayloadExit         Op = 24
	OpPayloadExitTT       Op = 25
	OpPayloadExit2        Op = 26
	OpPayloadExit2TT      Op = 27
	OpPayloadMonitorPExit Op = 28
	OpSpawnRequest        Op = 29
	OpSpawnRequestTT      Op = 30
	OpSpawnReply          Op = 31
	OpSpawnReplyTT        Op = 32
	OpAliasSend           Op = 33
	OpAliasSendTT         Op = 34
	OpUnlinkID            Op = 35
	OpUnlinkIDAck         Op = 36
)

var opNames = map[Op]string{
	OpLink: "LINK", OpSend: "SEND", OpExit: "EXIT", OpUnlink: "UNLINK", OpNodeLink: "NODE_LINK",
	OpRegSend: "REG_SEND", OpGroupLeader: "GROUP_LEADER", OpExit2: "EXIT2", OpSendTT: "SEND_TT",
	OpExitTT: "EXIT_TT", OpRegSendTT: "REG_SEND_TT", OpExit2TT: "EXIT2_TT", OpMonitorP: "MONITOR_P",
	OpDemonitorP: "DEMONITOR_P", OpMonitorPExit: "MONITOR_P_EXIT", OpSendSender: "SEND_SENDER",
	OpSendSenderTT: "SEND_SENDER_TT", OpPayloadExit: "PAYLOAD_EXIT", OpPayloadExitTT: "PAYLOAD_EXIT_TT",
	OpPayloadExit2: "PAYLOAD_EXIT2", OpPayloadExit2TT: "PAYLOAD_EXIT2_TT",
	OpPayloadMonitorPExit: "PAYLOAD_MONITOR_P_EXIT", OpSpawnRequest: "SPAWN_REQUEST",
	OpSpawnRequestTT: "SPAWN_REQUEST_TT", OpSpawnReply: "SPAWN_REPLY", OpSpawnReplyTT: "SPAWN_REPLY_TT",
	OpAliasSend: "ALIAS_SEND", OpAliasSendTT: "ALIAS_SEND_TT", OpUnlinkID: "UNLINK_ID",
	OpUnlinkIDAck: "UNLINK_ID_ACK",
}

func (o Op) String() string {
	if n, ok := opNames[o]; ok {
		return n
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// HasMessage reports whether a message term follows the control tuple.
func (o Op) HasMessage() bool {
	switch o {
	case OpSend, OpRegSend, OpSendTT, OpRegSendTT, OpSendSender, OpSendSenderTT,
		OpPayloadExit, OpPayloadExitTT, OpPayloadExit2, OpPayloadExit2TT,
		OpPayloadMonitorPExit, OpSpawnRequest, OpSpawnRequestTT, OpAliasSend, OpAliasSendTT:
		return true
	}
	return false
}

// Control is a decoded control message. Which fields are meaningful depends
// on Op. The _TT variants keep their own Op (so Tuple writes them back as
// received) with the trace token in Token; PAYLOAD_* variants keep their Op
// too (the reason is then the message).
type Control struct {
	Op Op
	// From is the sending process: a Pid, or for MONITOR_P_EXIT an atom when
	// the monitor was by name.
	From etf.Term
	// To is the target: a Pid, an Atom (REG_SEND, MONITOR_P by name), or a
	// Ref (ALIAS_SEND).
	To etf.Term
	// Ref is the monitor reference (MONITOR_P*, DEMONITOR_P) or the request
	// id of SPAWN_REQUEST/SPAWN_REPLY.
	Ref etf.Ref
	// Reason is the exit reason of the non-payload EXIT, EXIT2 and
	// MONITOR_P_EXIT.
	Reason etf.Term
	// ID is the unlink id of UNLINK_ID and UNLINK_ID_ACK.
	ID uint64
	// Token is the sequential trace token of the _TT variants.
	Token etf.Term
	// SPAWN_REQUEST: group leader, {M, F, Arity} and options.
	GroupLeader etf.Pid
	MFA         etf.Tuple
	Opts        etf.Term
	// SPAWN_REPLY: flags and result (a pid or an error atom).
	Flags  int64
	Result etf.Term
}

// Tuple builds the control tuple of c.
func (c *Control) Tuple() (etf.Tuple, error) {
	var a [maxControlArity]etf.Term
	e, err := c.elems(&a)
	if err != nil {
		return nil, err
	}
	return slices.Clone(etf.Tuple(e)), nil
}

// elems lays the control tuple's elements out in dst, so that the encoder
// writes them without a Tuple of its own: building one cost two
// allocations per message sent (its elements and its box as a Term).
func (c *Control) elems(dst *[maxControlArity]etf.Term) ([]etf.Term, error) {
	op := int64(c.Op)
	switch c.Op {
	case OpLink, OpUnlink, OpGroupLeader:
		return append(dst[:0], op, c.From, c.To), nil
	case OpSend:
		return append(dst[:0], op, etf.Atom(""), c.To), nil
	case OpSendTT:
		return append(dst[:0], op, etf.Atom(""), c.To, c.Token), nil
	case OpExit, OpExit2:
		return append(dst[:0], op, c.From, c.To, c.Reason), nil
	case OpExitTT, OpExit2TT:
		return append(dst[:0], op, c.From, c.To, c.Token, c.Reason), nil
	case OpRegSend:
		return append(dst[:0], op, c.From, etf.Atom(""), c.To), nil
	case OpRegSendTT:
		return append(dst[:0], op, c.From, etf.Atom(""), c.To, c.Token), nil
	case OpMonitorP, OpDemonitorP:
		return append(dst[:0], op, c.From, c.To, c.Ref), nil
	case OpMonitorPExit:
		return append(dst[:0], op, c.From, c.To, c.Ref, c.Reason), nil
	case OpPayloadMonitorPExit:
		return append(dst[:0], op, c.From, c.To, c.Ref), nil
	case OpSendSender, OpPayloadExit, OpPayloadExit2, OpAliasSend:
		return append(dst[:0], op, c.From, c.To), nil
	case OpSendSenderTT, OpPayloadExitTT, OpPayloadExit2TT, OpAliasSendTT:
		return append(dst[:0], op, c.From, c.To, c.Token), nil
	case OpSpawnRequest:
		return append(dst[:0], op, c.Ref, c.From, c.GroupLeader, c.MFA, c.Opts), nil
	case OpSpawnRequestTT:
		return append(dst[:0], op, c.Ref, c.From, c.GroupLeader, c.MFA, c.Opts, c.Token), nil
	case OpSpawnReply:
		return append(dst[:0], op, c.Ref, c.To, c.Flags, c.Result), nil
	case OpSpawnReplyTT:
		return append(dst[:0], op, c.Ref, c.To, c.Flags, c.Result, c.Token), nil
	case OpUnlinkID, OpUnlinkIDAck:
		return append(dst[:0], op, c.ID, c.From, c.To), nil
	}
	return nil, fmt.Errorf("dist: cannot encode control op %v", c.Op)
}

// ParseControl validates a decoded control tuple and returns its fields.
func ParseControl(t etf.Term) (*Control, error) {
	tup, ok := t.(etf.Tuple)
	if !ok || len(tup) == 0 {
		return nil, fmt.Errorf("dist: control message is not a tuple: %s", etf.Format(t))
	}
	return parseControl(tup)
}

// parseControl is ParseControl on the tuple's elements. tup does not
// escape (errors print a copy), so a caller may pass elements it holds
// on its stack.
func parseControl(tup etf.Tuple) (*Control, error) {
	c := new(Control)
	if err := parseControlInto(c, tup); err != nil {
		return nil, err
	}
	return c, nil
}

// parseControlInto is parseControl into c, which the caller may allocate
// with something else (the decoder puts it beside its Message).
func parseControlInto(c *Control, tup etf.Tuple) error {
	format := func() string { return etf.Format(slices.Clone(tup)) }
	opv, ok := tup[0].(int64)
	if !ok {
		return fmt.Errorf("dist: control message op is not an integer: %s", format())
	}
	*c = Control{Op: Op(opv)}
	bad := func(what string) error {
		return fmt.Errorf("dist: malformed %v control message (%s): %s", c.Op, what, format())
	}
	want := 0
	if c.Op >= 0 && int(c.Op) < len(controlArity) {
		want = controlArity[c.Op]
	}
	if want == 0 {
		return fmt.Errorf("dist: unknown control op %d: %s", opv, format())
	}
	if len(tup) != want {
		return bad(fmt.Sprintf("arity %d, want %d", len(tup), want))
	}
	// pid returns element i itself, not the etf.Pid in it: storing that in
	// an etf.Term field would box it again (an allocation per field on
	// every message).
	pid := func(i int) (etf.Term, bool) { _, ok := tup[i].(etf.Pid); return tup[i], ok }
	switch c.Op {
	case OpLink, OpUnlink, OpGroupLeader, OpSendSender, OpSendSenderTT, OpPayloadExit, OpPayloadExitTT,
		OpPayloadExit2, OpPayloadExit2TT, OpExit, OpExit2, OpExitTT, OpExit2TT:
		f, ok1 := pid(1)
		to, ok2 := pid(2)
		if !ok1 || !ok2 {
			return bad("from and to must be pids")
		}
		c.From, c.To = f, to
		switch c.Op {
		case OpExit, OpExit2:
			c.Reason = tup[3]
		case OpExitTT, OpExit2TT:
			c.Token, c.Reason = tup[3], tup[4]
		case OpSendSenderTT, OpPayloadExitTT, OpPayloadExit2TT:
			c.Token = tup[3]
		}
	case OpSend, OpSendTT:
		to, ok := pid(2)
		if !ok {
			return bad("to must be a pid")
		}
		c.To = to
		if c.Op == OpSendTT {
			c.Token = tup[3]
		}
	case OpRegSend, OpRegSendTT:
		f, ok1 := pid(1)
		_, ok2 := tup[3].(etf.Atom)
		if !ok1 || !ok2 {
			return bad("from must be a pid and to an atom")
		}
		c.From, c.To = f, tup[3]
		if c.Op == OpRegSendTT {
			c.Token = tup[4]
		}
	case OpMonitorP, OpDemonitorP, OpMonitorPExit, OpPayloadMonitorPExit:
		ref, ok := tup[3].(etf.Ref)
		if !ok {
			return bad("reference expected")
		}
		c.Ref = ref
		if !isProc(tup[1]) || !isProc(tup[2]) {
			return bad("processes must be pids or atoms")
		}
		c.From, c.To = tup[1], tup[2]
		if c.Op == OpMonitorPExit {
			c.Reason = tup[4]
		}
	case OpAliasSend, OpAliasSendTT:
		f, ok1 := pid(1)
		_, ok2 := tup[2].(etf.Ref)
		if !ok1 || !ok2 {
			return bad("from must be a pid and alias a reference")
		}
		c.From, c.To = f, tup[2]
		if c.Op == OpAliasSendTT {
			c.Token = tup[3]
		}
	case OpSpawnRequest, OpSpawnRequestTT:
		ref, ok1 := tup[1].(etf.Ref)
		f, ok2 := pid(2)
		gl, ok3 := tup[3].(etf.Pid)
		mfa, ok4 := tup[4].(etf.Tuple)
		if !ok1 || !ok2 || !ok3 || !ok4 || len(mfa) != 3 {
			return bad("{ReqId, From, GroupLeader, {M,F,A}, Opts} expected")
		}
		// As ERTS, which drops the connection over such a request
		// (erts_net_message, DOP_SPAWN_REQUEST).
		_, okM := mfa[0].(etf.Atom)
		_, okF := mfa[1].(etf.Atom)
		arity, okA := mfa[2].(int64)
		if !okM || !okF || !okA || arity < 0 || arity > 255 {
			return bad("{M,F,A} must be two atoms and an arity")
		}
		c.Ref, c.From, c.GroupLeader, c.MFA, c.Opts = ref, f, gl, mfa, tup[5]
		if c.Op == OpSpawnRequestTT {
			c.Token = tup[6]
		}
	case OpSpawnReply, OpSpawnReplyTT:
		ref, ok1 := tup[1].(etf.Ref)
		to, ok2 := pid(2)
		flags, ok3 := tup[3].(int64)
		if !ok1 || !ok2 || !ok3 {
			return bad("{ReqId, To, Flags, Result} expected")
		}
		c.Ref, c.To, c.Flags, c.Result = ref, to, flags, tup[4]
		if c.Op == OpSpawnReplyTT {
			c.Token = tup[5]
		}
	case OpUnlinkID, OpUnlinkIDAck:
		f, ok1 := pid(2)
		to, ok2 := pid(3)
		if !ok1 || !ok2 {
			return bad("from and to must be pids")
		}
		// Ids are unsigned 64-bit: above 2^63 they decode as a bignum, and
		// a Go-built tuple carries the uint64 Tuple put there.
		switch id := tup[1].(type) {
		case int64:
			if id < 0 {
				return bad("unlink id must be a 64-bit unsigned integer")
			}
			c.ID = uint64(id)
		case uint64:
			c.ID = id
		case *big.Int:
			if !id.IsUint64() {
				return bad("unlink id must be a 64-bit unsigned integer")
			}
			c.ID = id.Uint64()
		default:
			return bad("unlink id must be an integer")
		}
		c.From, c.To = f, to
	}
	return nil
}

// controlArity is the tuple size of each op ParseControl accepts (0 for
// the others): an array, since every message looks its op up.
var controlArity = [...]int{
	OpLink: 3, OpSend: 3, OpExit: 4, OpUnlink: 3, OpRegSend: 4, OpGroupLeader: 3, OpExit2: 4,
	OpSendTT: 4, OpExitTT: 5, OpRegSendTT: 5, OpExit2TT: 5, OpMonitorP: 4, OpDemonitorP: 4,
	OpMonitorPExit: 5, OpSendSender: 3, OpSendSenderTT: 4, OpPayloadExit: 3, OpPayloadExitTT: 4,
	OpPayloadExit2: 3, OpPayloadExit2TT: 4, OpPayloadMonitorPExit: 4, OpSpawnRequest: 6,
	OpSpawnRequestTT: 7, OpSpawnReply: 5, OpSpawnReplyTT: 6, OpAliasSend: 3, OpAliasSendTT: 4,
	OpUnlinkID: 4, OpUnlinkIDAck: 4,
}

func isProc(t etf.Term) bool {
	switch t.(type) {
	case etf.Pid, etf.Atom:
		return true
	}
	return false
}
