package dist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/barrelgo/barrelgo/etf"
)

// Frame forms of a distribution message (after the carrier's length prefix).
const (
	passThrough   = 'p' // 112: version-prefixed control and message
	hdrNormal     = 68  // 131 68: dist header
	hdrFragment   = 69  // 131 69: first fragment
	hdrContinue   = 70  // 131 70: fragment continuation
	maxAtomRefs   = 255
	cacheSize     = 2048
	defaultFragSz = 65536
)

// Limits bounds what a peer can make this side buffer.
type Limits struct {
	// MaxMessage bounds one message, fragmented or not (DefaultMaxMessage
	// when 0).
	MaxMessage int
	// MaxPendingSequences bounds fragmented messages in flight at once
	// (DefaultMaxPendingSequences when 0).
	MaxPendingSequences int
	// MaxDepth bounds term nesting (etf.DefaultMaxDepth when 0).
	MaxDepth int
}

// Defaults for Limits.
const (
	DefaultMaxMessage          = 256 << 20
	DefaultMaxPendingSequences = 64
)

func (l Limits) maxMessage() int {
	if l.MaxMessage > 0 {
		return l.MaxMessage
	}
	return DefaultMaxMessage
}

func (l Limits) maxSeqs() int {
	if l.MaxPendingSequences > 0 {
		return l.MaxPendingSequences
	}
	return DefaultMaxPendingSequences
}

// Encoder writes control messages in the form a connection negotiated.
//
// With FRAGMENTS negotiated it always writes the dist header form
// (131 68 with zero atom-cache references), splitting messages larger than
// FragmentSize into 131 69 / 131 70 fragments, as OTP does on such links
// (OTP at 64 KiB, the default; a carrier may choose larger, see
// TCPCarrier.FragmentSize).
// Without FRAGMENTS (old peers such as ergo) it writes the 'p' pass-through
// form, which such peers read.
type Encoder struct {
	Fragments    bool
	FragmentSize int // payload bytes per fragment; 65536 when 0
	seq          uint64
}

// Encode appends the frames of one message to out, each frame as its own
// slice (without the carrier's length prefix). msg is ignored unless the
// op carries a message.
func (e *Encoder) Encode(out [][]byte, c *Control, msg etf.Term) ([][]byte, error) {
	out, _, err := e.EncodeInto(make([]byte, 0, 64), out, c, msg)
	return out, err
}

// EncodeInto is Encode writing into buf's memory (from its start, growing
// it as needed). It also returns the buffer the frames were cut from,
// which holds them until the caller lets go of the frames.
func (e *Encoder) EncodeInto(buf []byte, out [][]byte, c *Control, msg etf.Term) ([][]byte, []byte, error) {
	var a [maxControlArity]etf.Term
	ctl, err := c.elems(&a)
	if err != nil {
		return out, buf, err
	}
	if !e.Fragments {
		b := append(buf[:0], passThrough, etf.Version)
		if b, err = etf.AppendTuple(b, ctl, nil); err != nil {
			return out, b, fmt.Errorf("dist: encode %v control: %w", c.Op, err)
		}
		if c.Op.HasMessage() {
			if b, err = etf.AppendEncode(b, msg, nil); err != nil {
				return out, b, fmt.Errorf("dist: encode %v message: %w", c.Op, err)
			}
		}
		return append(out, b), b, nil
	}
	b := append(buf[:0], etf.Version, hdrNormal, 0)
	if b, err = etf.AppendTuple(b, ctl, nil); err != nil {
		return out, b, fmt.Errorf("dist: encode %v control: %w", c.Op, err)
	}
	if c.Op.HasMessage() {
		if b, err = etf.AppendTerm(b, msg, nil); err != nil {
			return out, b, fmt.Errorf("dist: encode %v message: %w", c.Op, err)
		}
	}
	fs := e.FragmentSize
	if fs <= 0 {
		fs = defaultFragSz
	}
	payload := len(b) - 3
	if payload <= fs {
		return append(out, b), b, nil
	}
	// Fragments count down to 1, all with the same sequence id. They are
	// laid out in b itself: each chunk moves right to make room for its
	// header (19 bytes for the first fragment, which replaces the 3-byte
	// normal header, 18 for the others), last chunk first so that no chunk
	// overwrites one not yet moved. A fresh buffer per fragment cost an
	// allocation, its clearing and a copy of the whole message; the append
	// that encoded a big message usually leaves the few hundred bytes of
	// headers as spare capacity, so b rarely grows here.
	e.seq++
	n := (payload + fs - 1) / fs
	extra := 16 + 18*(n-1)
	b = slices.Grow(b, extra)[:len(b)+extra]
	for i := n - 1; i >= 0; i-- {
		l := min(fs, payload-i*fs)
		src, dst := 3+i*fs, 19+i*(fs+18)
		copy(b[dst:dst+l], b[src:src+l])
	}
	for i := range n {
		l := min(fs, payload-i*fs)
		var f []byte
		if i == 0 {
			f = append(b[:0], etf.Version, hdrFragment)
			f = binary.BigEndian.AppendUint64(f, e.seq)
			f = binary.BigEndian.AppendUint64(f, uint64(n))
			f = append(f, 0) // no atom-cache references
		} else {
			at := 1 + i*(fs+18)
			f = append(b[at:at], etf.Version, hdrContinue)
			f = binary.BigEndian.AppendUint64(f, e.seq)
			f = binary.BigEndian.AppendUint64(f, uint64(n-i))
		}
		out = append(out, f[:len(f)+l:len(f)+l])
	}
	return out, b, nil
}

// ErrProtocol marks a peer that broke the distribution protocol; the
// connection must be closed.
var ErrProtocol = errors.New("dist: protocol violation")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// Decoder reads frames of one connection: it keeps the atom cache the peer
// fills through dist headers and the fragments being reassembled.
type Decoder struct {
	Limits Limits
	cache  [cacheSize]etf.Atom
	// filled marks defined slots: '' is a valid cached atom (REG_SEND's
	// unused field), so an empty text cannot mean "never defined".
	filled [cacheSize]bool
	seqs   map[uint64]*pending
	total  int // bytes buffered in pending sequences
	// opts is reused by every decode (one per message escaped to the heap),
	// elemOpts by the control message's elements, one level deeper.
	opts, elemOpts etf.DecodeOptions
	// genericControl turns off the control fast path (tests compare both).
	genericControl bool
	// placed is how many bytes of the next frame Place had the carrier
	// write straight into a reassembly buffer; whole is the buffer Place
	// gave for an entire large frame.
	placed int
	whole  []byte
}

// maxWhole is the largest frame Place allocates whole up front: beyond
// it, frames grow as their bytes arrive, so a length field alone cannot
// make us allocate much.
const maxWhole = 8<<20 + 64

// ContinuationHead is the length of a fragment continuation's header
// (131, 70, sequence id, fragment id): what Place needs to see of a frame.
const ContinuationHead = 18

// Place offers the decoder the rest of a frame of size bytes that starts
// with head. When the frame continues a fragmented message whose
// reassembly buffer has room for it, Place returns where its remaining
// size-len(head) bytes belong; the carrier reads them there and then hands
// Decode the head alone. Otherwise it returns nil and the carrier reads
// the frame as usual. For bulk transfer the copy this saves, from a read
// buffer into the reassembly buffer, costs about as much as the read.
func (d *Decoder) Place(head []byte, size int) []byte {
	d.placed, d.whole = 0, nil
	if len(head) != ContinuationHead || size <= ContinuationHead {
		return nil
	}
	if head[0] == passThrough || (head[0] == etf.Version && head[1] == hdrNormal) {
		// A whole message in one large frame gets a buffer of its own,
		// which its binaries can then share instead of being copied out
		// of a read buffer. (A first fragment is copied into its
		// reassembly buffer anyway.)
		if size > maxWhole || size > d.Limits.maxMessage()+64 {
			return nil
		}
		d.whole = recvBufs.get(size)
		copy(d.whole, head)
		return d.whole[len(head):]
	}
	if head[0] != etf.Version {
		return nil
	}
	p, ok := d.seqs[binary.BigEndian.Uint64(head[2:])]
	if !ok || binary.BigEndian.Uint64(head[10:]) != p.next {
		return nil // Decode reports it
	}
	n := size - ContinuationHead
	end := len(p.buf) + n
	// Within the reserved capacity, which is already accounted for and
	// never above the message bound: no check Decode makes can fail.
	if end > cap(p.buf) || end > d.Limits.maxMessage() || end > p.accounted {
		return nil
	}
	d.placed = n
	return p.buf[len(p.buf):end]
}

type pending struct {
	refs      []etf.Atom
	next      uint64 // fragment id expected next
	buf       []byte
	accounted int // bytes of this sequence counted in Decoder.total
}

// maxReserve caps the buffer reserved for a fragmented message up front;
// larger ones grow as their fragments arrive.
const maxReserve = 16 << 20

// smallTupleExt is SMALL_TUPLE_EXT; every control message is one, of at
// most maxControlArity elements (SPAWN_REQUEST_TT).
const (
	smallTupleExt   = 104
	maxControlArity = 7
)

// decodedMessage is what the decoder allocates for a message.
type decodedMessage struct {
	m Message
	c Control
}

// Message is one decoded distribution message.
type Message struct {
	Control *Control
	// Payload is the message term for ops that carry one (see HasMessage);
	// for PAYLOAD_* ops it is the exit reason, for SPAWN_REQUEST the
	// argument list.
	Payload etf.Term
}

// Decode reads one frame. It returns nil, nil for a frame that is part of an
// unfinished fragmented message, and for a tick (an empty frame).
func (d *Decoder) Decode(frame []byte) (*Message, error) {
	placed, whole := d.placed, d.whole
	d.placed, d.whole = 0, nil
	if (placed > 0 || whole != nil) && len(frame) != ContinuationHead {
		return nil, fmt.Errorf("dist: carrier returned a %d-byte frame after placing its body", len(frame))
	}
	if placed > 0 && frame[1] != hdrContinue {
		return nil, fmt.Errorf("dist: carrier returned another frame than the continuation placed")
	}
	// A frame in a buffer of its own: decoded binaries may share it.
	owned := whole != nil
	if owned {
		frame = whole
	}
	if len(frame) == 0 {
		return nil, nil
	}
	if frame[0] == passThrough {
		return d.decodeBodyOpts(frame[1:], nil, true, owned)
	}
	if len(frame) < 3 || frame[0] != etf.Version {
		return nil, protoErr("frame starts with %x, want 'p' or 131", frame[:min(len(frame), 2)])
	}
	switch frame[1] {
	case hdrNormal:
		refs, n, err := d.header(frame[2:])
		if err != nil {
			return nil, err
		}
		return d.decodeBodyOpts(frame[2+n:], refs, false, owned)
	case hdrFragment:
		if len(frame) < 19 {
			return nil, protoErr("fragment header truncated")
		}
		seq := binary.BigEndian.Uint64(frame[2:])
		frag := binary.BigEndian.Uint64(frame[10:])
		refs, n, err := d.header(frame[18:])
		if err != nil {
			return nil, err
		}
		data := frame[18+n:]
		if frag == 0 {
			return nil, protoErr("fragment id 0")
		}
		if frag == 1 {
			return d.decodeBodyOpts(data, refs, false, owned)
		}
		if _, dup := d.seqs[seq]; dup {
			return nil, protoErr("fragment sequence %d started twice", seq)
		}
		if len(d.seqs) >= d.Limits.maxSeqs() {
			return nil, protoErr("more than %d fragmented messages in flight", d.Limits.maxSeqs())
		}
		if len(data) > d.Limits.maxMessage() {
			return nil, protoErr("fragmented message exceeds %d bytes", d.Limits.maxMessage())
		}
		if err := d.grow(len(data)); err != nil {
			return nil, err
		}
		if d.seqs == nil {
			d.seqs = make(map[uint64]*pending)
		}
		p := &pending{refs: refs, next: frag - 1, accounted: len(data)}
		// Reserve what the fragment count announces (fragments are cut at
		// one size), so the message is assembled in one allocation rather
		// than by repeated doubling and copying: for 1 MiB messages that
		// churn cost more than the rest of the receive path. Reservations
		// count against the in-flight bound (twice MaxMessage) like
		// received bytes, are capped per message, and are only made while
		// in-flight bytes stay under half the bound, so MaxMessage of
		// received bytes always fits. What a peer can make us hold is
		// bounded as before; it only takes fewer bytes to get there.
		want := min(uint64(len(data))*min(frag, 1<<20), uint64(maxReserve), uint64(d.Limits.maxMessage()))
		if extra := int(want) - len(data); extra > 0 && d.total+extra <= d.Limits.maxMessage() {
			d.total += extra
			p.accounted += extra
		}
		p.buf = append(recvBufs.get(p.accounted)[:0], data...)
		d.seqs[seq] = p
		return nil, nil
	case hdrContinue:
		if len(frame) < 18 {
			return nil, protoErr("fragment continuation truncated")
		}
		seq := binary.BigEndian.Uint64(frame[2:])
		frag := binary.BigEndian.Uint64(frame[10:])
		p, ok := d.seqs[seq]
		if !ok {
			return nil, protoErr("continuation of unknown fragment sequence %d", seq)
		}
		if frag != p.next {
			return nil, protoErr("fragment %d of sequence %d, want %d", frag, seq, p.next)
		}
		data := frame[18:]
		if placed > 0 {
			// Place checked it all: the bytes are in the buffer's spare
			// capacity, within what is accounted.
			p.buf = p.buf[:len(p.buf)+placed]
		} else {
			if len(p.buf)+len(data) > d.Limits.maxMessage() {
				return nil, protoErr("fragmented message exceeds %d bytes", d.Limits.maxMessage())
			}
			if over := len(p.buf) + len(data) - p.accounted; over > 0 {
				if err := d.grow(over); err != nil {
					return nil, err
				}
				p.accounted += over
			}
			p.buf = append(p.buf, data...)
		}
		if frag > 1 {
			p.next--
			return nil, nil
		}
		delete(d.seqs, seq)
		d.total -= p.accounted
		// The reassembly buffer belongs to this message alone, so its
		// binaries can point into it rather than be copied once more (a
		// 1 MiB binary would be).
		return d.decodeBodyOpts(p.buf, p.refs, false, true)
	}
	return nil, protoErr("unknown dist header type %d", frame[1])
}

// grow accounts for n more buffered bytes across all sequences.
func (d *Decoder) grow(n int) error {
	if d.total+n > 2*d.Limits.maxMessage() {
		return protoErr("fragments in flight exceed %d bytes", 2*d.Limits.maxMessage())
	}
	d.total += n
	return nil
}

// header parses NumberOfAtomCacheRefs, the flags and the references, updates
// the cache and returns the atoms this message refers to.
func (d *Decoder) header(b []byte) ([]etf.Atom, int, error) {
	if len(b) < 1 {
		return nil, 0, protoErr("dist header truncated")
	}
	n := int(b[0])
	if n == 0 {
		return nil, 1, nil
	}
	flagLen := n/2 + 1
	if len(b) < 1+flagLen {
		return nil, 0, protoErr("dist header flags truncated")
	}
	flags := b[1 : 1+flagLen]
	nib := func(i int) byte {
		if i%2 == 0 {
			return flags[i/2] & 0x0f
		}
		return flags[i/2] >> 4
	}
	long := nib(n)&1 == 1
	off := 1 + flagLen
	refs := make([]etf.Atom, n)
	for i := range n {
		f := nib(i)
		if off >= len(b) {
			return nil, 0, protoErr("atom cache reference %d truncated", i)
		}
		idx := int(f&7)<<8 | int(b[off])
		off++
		if f&8 != 0 {
			var l int
			if long {
				if off+2 > len(b) {
					return nil, 0, protoErr("atom cache entry %d truncated", i)
				}
				l = int(binary.BigEndian.Uint16(b[off:]))
				off += 2
			} else {
				if off+1 > len(b) {
					return nil, 0, protoErr("atom cache entry %d truncated", i)
				}
				l = int(b[off])
				off++
			}
			if off+l > len(b) {
				return nil, 0, protoErr("atom cache entry %d text truncated", i)
			}
			d.cache[idx] = etf.Atom(b[off : off+l])
			d.filled[idx] = true
			off += l
		} else if !d.filled[idx] {
			return nil, 0, protoErr("atom cache reference to empty slot %d", idx)
		}
		refs[i] = d.cache[idx]
	}
	return refs, off, nil
}

// decodeBodyOpts decodes a message; owned says b is not reused, so decoded
// binaries may share it.
func (d *Decoder) decodeBodyOpts(b []byte, refs []etf.Atom, versioned, owned bool) (*Message, error) {
	if len(b) > d.Limits.maxMessage() {
		return nil, protoErr("message of %d bytes exceeds %d", len(b), d.Limits.maxMessage())
	}
	d.opts = etf.DecodeOptions{AtomRefs: refs, MaxDepth: d.Limits.MaxDepth, AliasBinaries: owned}
	opts := &d.opts
	next := func(b []byte) (etf.Term, int, error) {
		if versioned {
			return etf.DecodeVersioned(b, opts)
		}
		return etf.DecodeNext(b, opts)
	}
	var c *Control
	var m *Message
	var n int
	depth := d.Limits.MaxDepth
	if depth <= 0 {
		depth = etf.DefaultMaxDepth
	}
	if !versioned && !d.genericControl && depth > 1 && len(b) > 2 && b[0] == smallTupleExt && b[1] > 0 && int(b[1]) <= maxControlArity {
		// The usual shape: its elements are decoded one by one onto the
		// stack, skipping the generic tuple (two allocations, one of them
		// an arena sized for the whole message). Elements sit one level
		// down, as inside the tuple.
		var elems [maxControlArity]etf.Term
		d.elemOpts = *opts
		d.elemOpts.MaxDepth = depth - 1
		n = 2
		for i := range int(b[1]) {
			t, m, err := etf.DecodeNext(b[n:], &d.elemOpts)
			if err != nil {
				return nil, fmt.Errorf("%w: control message: element %d: %w", ErrProtocol, i+1, err)
			}
			elems[i], n = t, n+m
		}
		// The Message and its Control in one allocation.
		dm := new(decodedMessage)
		if err := parseControlInto(&dm.c, elems[:b[1]]); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		m = &dm.m
		m.Control = &dm.c
		c = m.Control
	} else {
		ct, k, err := next(b)
		if err != nil {
			return nil, fmt.Errorf("%w: control message: %w", ErrProtocol, err)
		}
		if c, err = ParseControl(ct); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		n = k
		m = &Message{Control: c}
	}
	rest := b[n:]
	if !c.Op.HasMessage() {
		if len(rest) != 0 {
			return nil, protoErr("%v with %d unexpected bytes after the control message", c.Op, len(rest))
		}
		return m, nil
	}
	if len(rest) == 0 {
		return nil, protoErr("%v without its message", c.Op)
	}
	msg, n, err := next(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: %v message: %w", ErrProtocol, c.Op, err)
	}
	if n != len(rest) {
		return nil, protoErr("%v with %d bytes after the message", c.Op, len(rest)-n)
	}
	m.Payload = msg
	return m, nil
}
