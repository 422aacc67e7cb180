package etf

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Text form of terms.
//
// Format follows what io_lib:format("~tp", [T]) prints with the default
// printable range (latin1), on one line. The "t" variant is chosen over plain
// ~p because a Go string is Unicode: atoms keep their characters instead of
// \x{...} escapes, and a UTF-8 binary whose characters are printable Latin-1
// prints as <<"é"/utf8>> rather than as mojibake. Everything else (quoting,
// escapes, floats, when a list is a string) is exactly OTP's.
//
// Pids, ports and references carry their node instead of the ambiguous node
// number, as in the recorded vectors: <node.ID.Serial>, #Port<node.ID>,
// #Ref<node.W3.W2.W1> (words from the last to the first, as ref_to_list does).
// Creation is not part of the text, so it parses back as 0.

// Format returns t written in Erlang term syntax on one line, the way
// io_lib:format("~tp", [T]) prints it. Parse(Format(t)) returns t in the
// decoder's types for every term except local funs, whose text cannot be
// parsed, and pids, ports and references, whose creation is not printed.
// Values that are not terms print as #Go<type>.
func Format(t Term) string {
	return string(AppendFormat(nil, t))
}

// AppendFormat appends Format(t) to dst.
func AppendFormat(dst []byte, t Term) []byte {
	return textAppend(dst, t)
}

func textAppend(b []byte, t Term) []byte {
	switch v := t.(type) {
	case Atom:
		return textAppendAtom(b, string(v))
	case int64:
		return strconv.AppendInt(b, v, 10)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int8:
		return strconv.AppendInt(b, int64(v), 10)
	case int16:
		return strconv.AppendInt(b, int64(v), 10)
	case int32:
		return strconv.AppendInt(b, int64(v), 10)
	case uint:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint8:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint16:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint64:
		return strconv.AppendUint(b, v, 10)
	case *big.Int:
		if v == nil {
			return append(b, "#Go<nil *big.Int>"...)
		}
		return v.Append(b, 10)
	case big.Int:
		return v.Append(b, 10)
	case float64:
		return textAppendFloat(b, v)
	case float32:
		return textAppendFloat(b, float64(v))
	case bool:
		if v {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case nil:
		return append(b, "[]"...)
	case []byte:
		return textAppendBinary(b, v)
	case string:
		return textAppendBinary(b, []byte(v))
	case BitString:
		return textAppendBitString(b, v)
	case List:
		return textAppendList(b, v, nil)
	case []Term:
		return textAppendList(b, v, nil)
	case ByteList:
		return textAppendByteList(b, v)
	case CharList:
		if v == "" {
			return append(b, "[]"...)
		}
		// A CharList is text by intent, so it is always written as a string:
		// escapes make any code point valid there.
		b = append(b, '"')
		for _, r := range string(v) {
			b = textAppendChar(b, r, '"')
		}
		return append(b, '"')
	case ImproperList:
		return textAppendList(b, v.Elems, v.Tail)
	case Tuple:
		b = append(b, '{')
		for i, el := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = textAppend(b, el)
		}
		return append(b, '}')
	case Map:
		b = append(b, "#{"...)
		for i, p := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = textAppend(b, p.Key)
			b = append(b, " => "...)
			b = textAppend(b, p.Value)
		}
		return append(b, '}')
	case Pid:
		b = append(b, '<')
		b = textAppendNode(b, v.Node)
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(v.ID), 10)
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(v.Serial), 10)
		return append(b, '>')
	case Port:
		b = append(b, "#Port<"...)
		b = textAppendNode(b, v.Node)
		b = append(b, '.')
		b = strconv.AppendUint(b, v.ID, 10)
		return append(b, '>')
	case Ref:
		b = append(b, "#Ref<"...)
		b = textAppendNode(b, v.Node)
		n := min(int(v.Len), MaxRefWords)
		for i := n - 1; i >= 0; i-- {
			b = append(b, '.')
			b = strconv.AppendUint(b, uint64(v.ID[i]), 10)
		}
		return append(b, '>')
	case ExportFun:
		b = append(b, "fun "...)
		b = textAppendAtom(b, string(v.Module))
		b = append(b, ':')
		b = textAppendAtom(b, string(v.Function))
		b = append(b, '/')
		return strconv.AppendUint(b, uint64(v.Arity), 10)
	case LocalFun:
		// fun_to_list/1 prints the module unquoted, then the old index and uniq.
		b = append(b, "#Fun<"...)
		b = append(b, v.Module...)
		b = append(b, '.')
		b = strconv.AppendInt(b, v.OldIndex, 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, v.OldUniq, 10)
		return append(b, '>')
	}
	return fmt.Appendf(b, "#Go<%T>", t)
}

// erlangReserved lists the words io_lib quotes even though they look like
// plain atoms: erl_scan's fixed reserved words plus the keywords of the
// maybe_expr feature, which OTP 27 enables by default.
var erlangReserved = map[string]bool{
	"after": true, "begin": true, "case": true, "try": true, "cond": true,
	"catch": true, "andalso": true, "orelse": true, "end": true, "fun": true,
	"if": true, "let": true, "of": true, "receive": true, "when": true,
	"bnot": true, "not": true, "div": true, "rem": true, "band": true,
	"and": true, "bor": true, "bxor": true, "bsl": true, "bsr": true,
	"or": true, "xor": true, "maybe": true, "else": true,
}

// isAtomStart and isAtomChar are io_lib's rules for unquoted atoms, which
// admit the Latin-1 letters as well as ASCII.
func isAtomStart(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= 'ß' && r <= 'ÿ' && r != '÷')
}

// textRejectBare reports whether Parse refuses name as an unquoted atom.
// maybe and else are let through because OTP releases before 27 print them
// bare.
func textRejectBare(name string) bool {
	return erlangReserved[name] && name != "maybe" && name != "else"
}

func isAtomChar(r rune) bool {
	return isAtomStart(r) || (r >= 'A' && r <= 'Z') || (r >= 'À' && r <= 'Þ' && r != '×') ||
		(r >= '0' && r <= '9') || r == '_' || r == '@'
}

func atomNeedsQuotes(s string) bool {
	if s == "" || erlangReserved[s] {
		return true
	}
	for i, r := range s {
		if r == utf8.RuneError {
			return true // invalid UTF-8, or a literal U+FFFD: not a name char either way
		}
		if i == 0 && !isAtomStart(r) || !isAtomChar(r) {
			return true
		}
	}
	return false
}

func textAppendAtom(b []byte, s string) []byte {
	if !atomNeedsQuotes(s) {
		return append(b, s...)
	}
	return textAppendQuotedAtom(b, s)
}

func textAppendQuotedAtom(b []byte, s string) []byte {
	b = append(b, '\'')
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			// Not UTF-8: show the byte rather than lose it.
			b = textAppendHexEscape(b, rune(s[i]))
		} else {
			b = textAppendChar(b, r, '\'')
		}
		i += n
	}
	return append(b, '\'')
}

// textAppendChar writes one character of a quoted atom or string the way
// io_lib:write_string does: named escapes, octal for other controls, and
// characters from U+00A0 up as themselves.
func textAppendChar(b []byte, r rune, quote byte) []byte {
	switch {
	case r == rune(quote) || r == '\\':
		return append(b, '\\', byte(r))
	case r >= ' ' && r <= '~':
		return append(b, byte(r))
	case r >= 0xA0:
		if !utf8.ValidRune(r) {
			return textAppendHexEscape(b, r)
		}
		return utf8.AppendRune(b, r)
	case r < 0:
		return textAppendHexEscape(b, r)
	}
	switch r {
	case '\n':
		return append(b, `\n`...)
	case '\r':
		return append(b, `\r`...)
	case '\t':
		return append(b, `\t`...)
	case '\v':
		return append(b, `\v`...)
	case '\b':
		return append(b, `\b`...)
	case '\f':
		return append(b, `\f`...)
	case 0x1b:
		return append(b, `\e`...)
	case 0x7f:
		return append(b, `\d`...)
	}
	return append(b, '\\', byte('0'+(r>>6)), byte('0'+(r>>3)&7), byte('0'+r&7))
}

func textHexEscapeString(r rune) string {
	return string(textAppendHexEscape(nil, r))
}

func textAppendHexEscape(b []byte, r rune) []byte {
	b = append(b, `\x{`...)
	b = strconv.AppendUint(b, uint64(uint32(r)), 16)
	return append(b, '}')
}

// isPrintableLatin1 is io_lib:printable_latin1_list/1 for one character: the
// test that decides whether a list or binary prints as text.
func isPrintableLatin1(c int64) bool {
	switch {
	case c >= ' ' && c <= '~', c >= 0xA0 && c <= 0xFF:
		return true
	}
	switch c {
	case '\n', '\r', '\t', '\v', '\b', '\f', 0x1b:
		return true
	}
	return false
}

// textInt returns the value of a term that is an integer small enough to be
// a character.
func textInt(t Term) (int64, bool) {
	switch v := t.(type) {
	case int64:
		return v, true
	case int:
		return int64(v), true
	case int8:
		return int64(v), true
	case int16:
		return int64(v), true
	case int32:
		return int64(v), true
	case uint8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case uint32:
		return int64(v), true
	case uint:
		if uint64(v) <= math.MaxInt64 {
			return int64(v), true
		}
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), true
		}
	case *big.Int:
		if v != nil && v.IsInt64() {
			return v.Int64(), true
		}
	}
	return 0, false
}

func textAppendByteList(b []byte, s ByteList) []byte {
	if len(s) == 0 {
		return append(b, "[]"...)
	}
	printable := true
	for _, c := range s {
		if !isPrintableLatin1(int64(c)) {
			printable = false
			break
		}
	}
	if printable {
		b = append(b, '"')
		for _, c := range s {
			b = textAppendChar(b, rune(c), '"')
		}
		return append(b, '"')
	}
	b = append(b, '[')
	for i, c := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(c), 10)
	}
	return append(b, ']')
}

// textAppendList writes [elems | tail]. A tail that is itself a list is
// folded in, since [1|[2]] is the list [1,2] and prints that way in Erlang.
func textAppendList(b []byte, elems []Term, tail Term) []byte {
	var all []Term
	for {
		switch v := tail.(type) {
		case nil:
			tail = nil
		case List:
			all = textJoin(all, elems, v)
			elems, tail = nil, nil
		case []Term:
			all = textJoin(all, elems, v)
			elems, tail = nil, nil
		case ByteList:
			all = textJoin(all, elems, nil)
			for _, c := range v {
				all = append(all, int64(c))
			}
			elems, tail = nil, nil
		case CharList:
			all = textJoin(all, elems, nil)
			for _, r := range string(v) {
				all = append(all, int64(r))
			}
			elems, tail = nil, nil
		case ImproperList:
			all = textJoin(all, elems, v.Elems)
			elems, tail = nil, v.Tail
			continue
		}
		break
	}
	if all != nil {
		elems = all
	}
	if len(elems) == 0 {
		if tail != nil {
			return textAppend(b, tail)
		}
		return append(b, "[]"...)
	}
	if tail == nil {
		printable := true
		for _, el := range elems {
			if c, ok := textInt(el); !ok || !isPrintableLatin1(c) {
				printable = false
				break
			}
		}
		if printable {
			b = append(b, '"')
			for _, el := range elems {
				c, _ := textInt(el)
				b = textAppendChar(b, rune(c), '"')
			}
			return append(b, '"')
		}
	}
	b = append(b, '[')
	for i, el := range elems {
		if i > 0 {
			b = append(b, ',')
		}
		b = textAppend(b, el)
	}
	if tail != nil {
		b = append(b, '|')
		b = textAppend(b, tail)
	}
	return append(b, ']')
}

// textJoin appends elems and more to all, copying so the caller's slices are
// never modified.
func textJoin(all, elems, more []Term) []Term {
	if all == nil {
		all = make([]Term, 0, len(elems)+len(more))
	}
	all = append(all, elems...)
	return append(all, more...)
}

// textAppendBinary follows io_lib_pretty for ~tp: valid UTF-8 whose
// characters are all printable Latin-1 prints as a string (with /utf8 when a
// character takes more than one byte); other valid UTF-8 prints as bytes; and
// input that is not UTF-8 prints as a string if every byte is printable
// Latin-1.
func textAppendBinary(b []byte, v []byte) []byte {
	if len(v) == 0 {
		return append(b, "<<>>"...)
	}
	if utf8.Valid(v) {
		ascii, printable := true, true
		for _, r := range string(v) {
			if r >= 0x80 {
				ascii = false
			}
			if !isPrintableLatin1(int64(r)) {
				printable = false
				break
			}
		}
		if printable {
			b = append(b, `<<"`...)
			for _, r := range string(v) {
				b = textAppendChar(b, r, '"')
			}
			if ascii {
				return append(b, `">>`...)
			}
			return append(b, `"/utf8>>`...)
		}
	} else {
		printable := true
		for _, c := range v {
			if !isPrintableLatin1(int64(c)) {
				printable = false
				break
			}
		}
		if printable {
			b = append(b, `<<"`...)
			for _, c := range v {
				b = textAppendChar(b, rune(c), '"')
			}
			return append(b, `">>`...)
		}
	}
	return textAppendBytes(b, v, 0)
}

// textAppendBytes writes <<B1,B2,...>>, the last byte holding only lastBits
// significant bits when lastBits is 1..7.
func textAppendBytes(b []byte, v []byte, lastBits uint8) []byte {
	b = append(b, "<<"...)
	for i, c := range v {
		if i > 0 {
			b = append(b, ',')
		}
		if i == len(v)-1 && lastBits > 0 && lastBits < 8 {
			b = strconv.AppendUint(b, uint64(c>>(8-lastBits)), 10)
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(lastBits), 10)
		} else {
			b = strconv.AppendUint(b, uint64(c), 10)
		}
	}
	return append(b, ">>"...)
}

func textAppendBitString(b []byte, v BitString) []byte {
	if v.Bits == 0 || v.Bits >= 8 || len(v.Bytes) == 0 {
		return textAppendBinary(b, v.Bytes)
	}
	// Erlang never prints a bitstring as text, even when its bytes are.
	return textAppendBytes(b, v.Bytes, v.Bits)
}

// textAppendFloat writes f as float_to_list(F, [short]) does (OTP 25 and
// later): the shortest digits that read back as f, in plain notation unless
// scientific notation is strictly shorter or |f| >= 2^53.
func textAppendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "#Go<NaN>"...)
	case math.IsInf(f, 1):
		return append(b, "#Go<+Inf>"...)
	case math.IsInf(f, -1):
		return append(b, "#Go<-Inf>"...)
	case f == 0:
		if math.Signbit(f) {
			return append(b, "-0.0"...)
		}
		return append(b, "0.0"...)
	}
	if f < 0 {
		b = append(b, '-')
		f = -f
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // d[.ddd]e±XX
	k := bytes.IndexByte(e, 'e')
	exp, _ := strconv.Atoi(string(e[k+1:]))
	var digs [24]byte
	digits := append(digs[:0], e[0])
	if k > 1 {
		digits = append(digits, e[2:k]...)
	}
	for len(digits) > 1 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
	}
	n := len(digits)

	var sci [40]byte
	s := append(sci[:0], digits[0], '.')
	if n == 1 {
		s = append(s, '0')
	} else {
		s = append(s, digits[1:]...)
	}
	s = append(s, 'e')
	s = strconv.AppendInt(s, int64(exp), 10)
	if f >= 1<<53 {
		return append(b, s...)
	}

	var dec [400]byte
	d := dec[:0]
	place := exp - (n - 1) // f = digits * 10^place
	switch {
	case place >= 0:
		d = append(d, digits...)
		for range place {
			d = append(d, '0')
		}
		d = append(d, ".0"...)
	case exp >= 0:
		d = append(d, digits[:exp+1]...)
		d = append(d, '.')
		d = append(d, digits[exp+1:]...)
	default:
		d = append(d, "0."...)
		for range -exp - 1 {
			d = append(d, '0')
		}
		d = append(d, digits...)
	}
	if len(s) < len(d) {
		return append(b, s...)
	}
	return append(b, d...)
}

// scanBareNode returns the length of the node name that starts s when it is
// written without quotes inside <...>, #Ref<...> or #Port<...>: name@host,
// where host is a dotted IPv4 address or labels that are not all digits. The
// numbers that follow the node are all digits, so this tells where the node
// ends. It returns 0 if s does not start with such a name.
func scanBareNode(s string) int {
	label := func(i int) (end int, digits bool) {
		digits = true
		for end = i; end < len(s); end++ {
			c := s[end]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '-':
				digits = false
			default:
				return end, digits && end > i
			}
		}
		return end, digits && end > i
	}
	at := strings.IndexByte(s, '@')
	if at <= 0 {
		return 0
	}
	if end, _ := label(0); end != at {
		return 0
	}
	end, digits := label(at + 1)
	if end == at+1 {
		return 0
	}
	if digits {
		for range 3 {
			if end >= len(s) || s[end] != '.' {
				return 0
			}
			e2, d2 := label(end + 1)
			if !d2 {
				return 0
			}
			end = e2
		}
		return end
	}
	for end < len(s) && s[end] == '.' {
		e2, d2 := label(end + 1)
		if e2 == end+1 || d2 {
			break
		}
		end = e2
	}
	return end
}

func textAppendNode(b []byte, node Atom) []byte {
	if len(node) > 0 && scanBareNode(string(node)) == len(node) {
		return append(b, node...)
	}
	return textAppendQuotedAtom(b, string(node))
}

// Parsing.

// MaxParseDepth bounds the nesting of tuples, lists, maps and binaries that
// Parse accepts, so that hostile input cannot exhaust the stack.
const MaxParseDepth = 10000

const (
	maxIntDigits   = 1 << 17 // keeps big.Int conversion cheap; 2^65536 has 19729 digits
	maxSegmentBits = 1 << 20 // a single binary segment's size
)

// ParseError reports where and why Parse failed. Line and Column count from
// 1; columns count characters, not bytes.
type ParseError struct {
	Line, Column int
	Offset       int // byte offset in the input
	Msg          string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("etf: parse %d:%d: %s", e.Line, e.Column, e.Msg)
}

// Parse reads one term written in Erlang syntax, as Format writes it or as
// Erlang's ~p and ~w print it (except pids, ports and references printed
// with a node number, like <0.80.0>, which name no node): atoms, integers of any size (also 16#FF and
// $a), floats, strings, binaries with integer and string segments (sizes and
// /utf8 allowed), lists, tuples, maps, pids, ports, references written with
// their node, and fun M:F/A. A trailing '.' and whitespace are allowed.
//
// The result uses the decoder's types: integers are int64 unless they do not
// fit (*big.Int), [] is List(nil), proper lists of 1..65535 integers in
// 0..255 (including strings) are ByteList, binaries are []byte and
// bitstrings BitString. Pids, ports and references get creation 0. Map keys
// must be unique.
func Parse(s string) (Term, error) {
	p := &parser{s: s, budget: 16*len(s) + 1<<20}
	t, err := p.term()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		p.skipSpace()
	}
	if p.i < len(p.s) {
		return nil, p.errorf(p.i, "unexpected %s after the term", p.found(p.i))
	}
	return t, nil
}

type parser struct {
	s      string
	i      int
	depth  int
	budget int // bytes that binaries may still allocate
}

func (p *parser) errorf(off int, format string, args ...any) error {
	line, col := 1, 1
	for _, r := range p.s[:off] {
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &ParseError{Line: line, Column: col, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// found describes the input at off for error messages.
func (p *parser) found(off int) string {
	if off >= len(p.s) {
		return "end of input"
	}
	r, n := utf8.DecodeRuneInString(p.s[off:])
	if r == utf8.RuneError && n == 1 {
		return fmt.Sprintf("invalid UTF-8 byte 0x%02x", p.s[off])
	}
	return strconv.QuoteRune(r)
}

func (p *parser) expected(what string) error {
	return p.errorf(p.i, "expected %s, found %s", what, p.found(p.i))
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c <= ' ':
			p.i++
		case c == '%':
			for p.i < len(p.s) && p.s[p.i] != '\n' {
				p.i++
			}
		case c >= 0x80:
			// Erlang also treats U+0080..U+00A0 as white space.
			r, n := utf8.DecodeRuneInString(p.s[p.i:])
			if r < 0x80 || r > 0xA0 {
				return
			}
			p.i += n
		default:
			return
		}
	}
}

func (p *parser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *parser) accept(tok string) bool {
	if strings.HasPrefix(p.s[p.i:], tok) {
		p.i += len(tok)
		return true
	}
	return false
}

func (p *parser) expect(tok, what string) error {
	p.skipSpace()
	if !p.accept(tok) {
		return p.expected(what)
	}
	return nil
}

func (p *parser) term() (Term, error) {
	p.skipSpace()
	if p.depth >= MaxParseDepth {
		return nil, p.errorf(p.i, "nesting deeper than %d", MaxParseDepth)
	}
	start := p.i
	c := p.peek()
	switch {
	case p.i >= len(p.s):
		return nil, p.expected("a term")
	case c == '{':
		return p.tuple()
	case c == '[':
		return p.list()
	case c == '"':
		cs, err := p.strings()
		if err != nil {
			return nil, err
		}
		return textCanonicalList(cs), nil
	case c == '\'':
		a, err := p.quotedAtom()
		return a, err
	case c == '<':
		if strings.HasPrefix(p.s[p.i:], "<<") {
			return p.binary()
		}
		return p.pid()
	case c == '#':
		switch {
		case p.accept("#{"):
			return p.mapBody()
		case p.accept("#Ref<"):
			return p.ref()
		case p.accept("#Port<"):
			return p.port()
		case strings.HasPrefix(p.s[p.i:], "#Fun<"):
			return nil, p.errorf(p.i, "local funs (#Fun<...>) cannot be parsed: they only exist in the module that made them")
		}
		return nil, p.expected("#{, #Ref<, or #Port< after '#'")
	case c == '-' || c == '+' || c == '$' || (c >= '0' && c <= '9'):
		return p.number()
	case c == '_' || (c >= 'A' && c <= 'Z'):
		return nil, p.errorf(p.i, "variables are not terms: found %s", p.found(p.i))
	}
	r, _ := utf8.DecodeRuneInString(p.s[p.i:])
	if isAtomStart(r) {
		name, err := p.bareAtom()
		if err != nil {
			return nil, err
		}
		if name == "fun" {
			return p.fun()
		}
		if textRejectBare(name) {
			return nil, p.errorf(start, "%s is a reserved word: write the atom as '%s'", name, name)
		}
		return Atom(name), nil
	}
	return nil, p.expected("a term")
}

func (p *parser) tuple() (Term, error) {
	p.i++ // {
	p.depth++
	defer func() { p.depth-- }()
	t := Tuple{}
	p.skipSpace()
	if p.accept("}") {
		return t, nil
	}
	for {
		el, err := p.term()
		if err != nil {
			return nil, err
		}
		t = append(t, el)
		p.skipSpace()
		if p.accept("}") {
			return t, nil
		}
		if !p.accept(",") {
			return nil, p.expected("',' or '}' in tuple")
		}
	}
}

func (p *parser) list() (Term, error) {
	p.i++ // [
	p.depth++
	defer func() { p.depth-- }()
	var elems []Term
	p.skipSpace()
	if p.accept("]") {
		return List(nil), nil
	}
	for {
		el, err := p.term()
		if err != nil {
			return nil, err
		}
		elems = append(elems, el)
		p.skipSpace()
		if p.accept("]") {
			return textCanonicalList(elems), nil
		}
		if p.accept("|") {
			tail, err := p.term()
			if err != nil {
				return nil, err
			}
			if err := p.expect("]", "']' after the tail of a list"); err != nil {
				return nil, err
			}
			return textWithTail(elems, tail), nil
		}
		if !p.accept(",") {
			return nil, p.expected("',', '|' or ']' in list")
		}
	}
}

// textWithTail builds [elems | tail] in canonical form: a tail that is a
// list is part of the same list.
func textWithTail(elems []Term, tail Term) Term {
	switch v := tail.(type) {
	case List:
		return textCanonicalList(append(elems, v...))
	case ByteList:
		for _, c := range v {
			elems = append(elems, int64(c))
		}
		return textCanonicalList(elems)
	case ImproperList:
		return ImproperList{Elems: append(elems, v.Elems...), Tail: v.Tail}
	}
	return ImproperList{Elems: elems, Tail: tail}
}

// textCanonicalList returns elems as the decoder would after term_to_binary:
// [] is List(nil), and a list of 1..65535 integers in 0..255 is a ByteList
// (STRING_EXT).
func textCanonicalList(elems []Term) Term {
	if len(elems) == 0 {
		return List(nil)
	}
	if len(elems) <= 65535 {
		bs := make(ByteList, len(elems))
		ok := true
		for i, el := range elems {
			c, isInt := el.(int64)
			if !isInt || c < 0 || c > 255 {
				ok = false
				break
			}
			bs[i] = byte(c)
		}
		if ok {
			return bs
		}
	}
	return List(elems)
}

func (p *parser) mapBody() (Term, error) {
	p.depth++
	defer func() { p.depth-- }()
	m := Map{}
	seen := map[string]bool{}
	p.skipSpace()
	if p.accept("}") {
		return m, nil
	}
	for {
		p.skipSpace()
		keyAt := p.i
		k, err := p.term()
		if err != nil {
			return nil, err
		}
		if err := p.expect("=>", "'=>' after map key"); err != nil {
			return nil, err
		}
		v, err := p.term()
		if err != nil {
			return nil, err
		}
		// Parsed terms print the same exactly when they are equal, so the
		// text is a cheap key for spotting duplicates.
		key := Format(k)
		if seen[key] {
			return nil, p.errorf(keyAt, "duplicate map key %s", key)
		}
		seen[key] = true
		m = append(m, MapPair{Key: k, Value: v})
		p.skipSpace()
		if p.accept("}") {
			return m, nil
		}
		if !p.accept(",") {
			return nil, p.expected("',' or '}' in map")
		}
	}
}

func (p *parser) bareAtom() (string, error) {
	start := p.i
	n := 0
	for p.i < len(p.s) {
		r, size := utf8.DecodeRuneInString(p.s[p.i:])
		if !isAtomChar(r) || (r == utf8.RuneError && size == 1) {
			break
		}
		p.i += size
		n++
	}
	if n > maxAtomChars {
		return "", p.errorf(start, "atom longer than %d characters", maxAtomChars)
	}
	return p.s[start:p.i], nil
}

func (p *parser) quotedAtom() (Atom, error) {
	start := p.i
	cs, err := p.quoted('\'')
	if err != nil {
		return "", err
	}
	if len(cs) > maxAtomChars {
		return "", p.errorf(start, "atom longer than %d characters", maxAtomChars)
	}
	var sb strings.Builder
	for _, c := range cs {
		if !utf8.ValidRune(c) {
			return "", p.errorf(start, "atom contains %s, which is not a Unicode character", textHexEscapeString(c))
		}
		sb.WriteRune(c)
	}
	return Atom(sb.String()), nil
}

// strings reads one string literal or several adjacent ones ("ab" "c" is
// "abc" in Erlang).
func (p *parser) strings() ([]Term, error) {
	var all []Term
	for {
		cs, err := p.quoted('"')
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			all = append(all, int64(c))
		}
		save := p.i
		p.skipSpace()
		if p.peek() != '"' {
			p.i = save
			return all, nil
		}
	}
}

// quoted reads a quoted atom or string starting at its opening quote and
// returns its characters.
func (p *parser) quoted(q byte) ([]rune, error) {
	start := p.i
	p.i++
	var cs []rune
	for {
		if p.i >= len(p.s) {
			if q == '"' {
				return nil, p.errorf(start, "string not terminated")
			}
			return nil, p.errorf(start, "quoted atom not terminated")
		}
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return cs, nil
		case c == '\\':
			r, err := p.escape()
			if err != nil {
				return nil, err
			}
			cs = append(cs, r)
		default:
			r, err := p.char()
			if err != nil {
				return nil, err
			}
			cs = append(cs, r)
		}
		if q == '\'' && len(cs) > maxAtomChars {
			return nil, p.errorf(start, "atom longer than %d characters", maxAtomChars)
		}
	}
}

// char reads one UTF-8 character.
func (p *parser) char() (rune, error) {
	r, n := utf8.DecodeRuneInString(p.s[p.i:])
	if r == utf8.RuneError && n <= 1 {
		return 0, p.errorf(p.i, "invalid UTF-8 byte 0x%02x", p.s[p.i])
	}
	p.i += n
	return r, nil
}

// escape reads a backslash escape as erl_scan does: \b \d \e \f \n \r \s \t
// \v, octal \NNN, \xHH, \x{H...}, control \^C, and any other character
// standing for itself.
func (p *parser) escape() (rune, error) {
	start := p.i
	p.i++ // backslash
	if p.i >= len(p.s) {
		return 0, p.errorf(start, "escape sequence not terminated")
	}
	c := p.s[p.i]
	switch {
	case c >= '0' && c <= '7':
		v := rune(0)
		for k := 0; k < 3 && p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '7'; k++ {
			v = v*8 + rune(p.s[p.i]-'0')
			p.i++
		}
		return v, nil
	case c == 'x':
		p.i++
		if p.accept("{") {
			digStart := p.i
			v := 0
			for p.i < len(p.s) && p.s[p.i] != '}' {
				d := textDigit(p.s[p.i])
				if d >= 16 {
					return 0, p.errorf(p.i, "expected a hex digit or '}' in \\x{...}, found %s", p.found(p.i))
				}
				v = v*16 + d
				if v > utf8.MaxRune {
					return 0, p.errorf(start, "character code in \\x{...} beyond U+10FFFF")
				}
				p.i++
			}
			if p.i >= len(p.s) {
				return 0, p.errorf(start, "\\x{ not terminated")
			}
			if p.i == digStart {
				return 0, p.errorf(start, "empty \\x{}")
			}
			p.i++ // }
			return rune(v), nil
		}
		v := 0
		for k := 0; k < 2; k++ {
			if p.i >= len(p.s) || textDigit(p.s[p.i]) >= 16 {
				return 0, p.errorf(p.i, "expected a hex digit after \\x, found %s", p.found(p.i))
			}
			v = v*16 + textDigit(p.s[p.i])
			p.i++
		}
		return rune(v), nil
	case c == '^':
		p.i++
		if p.i >= len(p.s) {
			return 0, p.errorf(start, "escape sequence not terminated")
		}
		r, err := p.char()
		return r & 31, err
	}
	if r, ok := textNamedEscape(c); ok {
		p.i++
		return r, nil
	}
	return p.char()
}

func textNamedEscape(c byte) (rune, bool) {
	switch c {
	case 'b':
		return '\b', true
	case 'd':
		return 0x7f, true
	case 'e':
		return 0x1b, true
	case 'f':
		return '\f', true
	case 'n':
		return '\n', true
	case 'r':
		return '\r', true
	case 's':
		return ' ', true
	case 't':
		return '\t', true
	case 'v':
		return '\v', true
	}
	return 0, false
}

// textDigit returns the value of c as a digit in bases up to 36, or 99.
func textDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// number reads an integer, a float or a character literal, with an optional
// sign.
func (p *parser) number() (Term, error) {
	neg := false
	if c := p.peek(); c == '-' || c == '+' {
		neg = c == '-'
		p.i++
		p.skipSpace()
		if c := p.peek(); !(c == '$' || (c >= '0' && c <= '9')) {
			return nil, p.expected("a number after the sign")
		}
	}
	if p.peek() == '$' {
		p.i++
		if p.i >= len(p.s) {
			return nil, p.expected("a character after '$'")
		}
		var r rune
		var err error
		if p.s[p.i] == '\\' {
			r, err = p.escape()
		} else {
			r, err = p.char()
		}
		if err != nil {
			return nil, err
		}
		if neg {
			return -int64(r), nil
		}
		return int64(r), nil
	}
	start := p.i
	digits, err := p.digits(10)
	if err != nil {
		return nil, err
	}
	switch {
	case p.peek() == '#':
		base, err := strconv.Atoi(digits)
		if err != nil || base < 2 || base > 36 {
			return nil, p.errorf(start, "integer base must be 2..36, found %s", digits)
		}
		p.i++
		ds, err := p.digits(base)
		if err != nil {
			return nil, err
		}
		return p.integer(start, ds, base, neg)
	case p.peek() == '.' && p.i+1 < len(p.s) && p.s[p.i+1] >= '0' && p.s[p.i+1] <= '9':
		p.i++
		frac, err := p.digits(10)
		if err != nil {
			return nil, err
		}
		text := digits + "." + frac
		if c := p.peek(); c == 'e' || c == 'E' {
			p.i++
			sign := ""
			if c := p.peek(); c == '+' || c == '-' {
				sign = string(c)
				p.i++
			}
			exp, err := p.digits(10)
			if err != nil {
				return nil, err
			}
			text += "e" + sign + exp
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, p.errorf(start, "float %s is out of range", text)
		}
		if neg {
			f = -f
		}
		return f, nil
	}
	return p.integer(start, digits, 10, neg)
}

// digits reads digits of base with single underscores between them, as in
// 1_000_000, and returns them without the underscores.
func (p *parser) digits(base int) (string, error) {
	start := p.i
	var sb strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '_' && sb.Len() > 0 && p.i+1 < len(p.s) && textDigit(p.s[p.i+1]) < base {
			p.i++
			continue
		}
		if textDigit(c) >= base {
			break
		}
		sb.WriteByte(c)
		p.i++
		if sb.Len() > maxIntDigits {
			return "", p.errorf(start, "number longer than %d digits", maxIntDigits)
		}
	}
	if sb.Len() == 0 {
		return "", p.expected(fmt.Sprintf("a base %d digit", base))
	}
	return sb.String(), nil
}

func (p *parser) integer(start int, digits string, base int, neg bool) (Term, error) {
	if v, err := strconv.ParseUint(digits, base, 64); err == nil {
		switch {
		case !neg && v <= math.MaxInt64:
			return int64(v), nil
		case neg && v <= 1<<63:
			return -int64(v), nil // wraps to MinInt64 for 1<<63, as wanted
		}
	}
	v, ok := new(big.Int).SetString(digits, base)
	if !ok {
		return nil, p.errorf(start, "malformed integer")
	}
	if neg {
		v.Neg(v)
	}
	if v.IsInt64() {
		return v.Int64(), nil
	}
	return v, nil
}

func (p *parser) fun() (Term, error) {
	mod, err := p.funAtom("module name after 'fun'")
	if err != nil {
		return nil, err
	}
	if err := p.expect(":", "':' after the module of fun M:F/A (local funs cannot be parsed)"); err != nil {
		return nil, err
	}
	fn, err := p.funAtom("function name in fun M:F/A")
	if err != nil {
		return nil, err
	}
	if err := p.expect("/", "'/' in fun M:F/A"); err != nil {
		return nil, err
	}
	p.skipSpace()
	at := p.i
	ds, err := p.digits(10)
	if err != nil {
		return nil, err
	}
	arity, err := strconv.Atoi(ds)
	if err != nil || arity > 255 {
		return nil, p.errorf(at, "fun arity must be 0..255, found %s", ds)
	}
	return ExportFun{Module: mod, Function: fn, Arity: uint8(arity)}, nil
}

func (p *parser) funAtom(what string) (Atom, error) {
	p.skipSpace()
	if p.peek() == '\'' {
		return p.quotedAtom()
	}
	r, _ := utf8.DecodeRuneInString(p.s[p.i:])
	if p.i >= len(p.s) || !isAtomStart(r) {
		return "", p.expected("an atom as " + what)
	}
	start := p.i
	name, err := p.bareAtom()
	if err != nil {
		return "", err
	}
	if textRejectBare(name) {
		return "", p.errorf(start, "%s is a reserved word: write the atom as '%s'", name, name)
	}
	return Atom(name), nil
}

// node reads the node of a pid, port or reference: a quoted atom or a bare
// name@host (see scanBareNode).
func (p *parser) node() (Atom, error) {
	if p.peek() == '\'' {
		return p.quotedAtom()
	}
	n := scanBareNode(p.s[p.i:])
	if n == 0 {
		return "", p.expected("a node name (name@host or a quoted atom); local notation like <0.1.2> has no node")
	}
	node := p.s[p.i : p.i+n]
	if utf8.RuneCountInString(node) > maxAtomChars {
		return "", p.errorf(p.i, "node name longer than %d characters", maxAtomChars)
	}
	p.i += n
	return Atom(node), nil
}

// dottedNumbers reads up to max numbers each preceded by '.', then '>'.
func (p *parser) dottedNumbers(max int, bits int, what string) ([]uint64, error) {
	var out []uint64
	for p.accept(".") {
		if len(out) == max {
			return nil, p.errorf(p.i-1, "too many numbers in %s (at most %d)", what, max)
		}
		at := p.i
		ds, err := p.digits(10)
		if err != nil {
			return nil, err
		}
		v, err := strconv.ParseUint(ds, 10, bits)
		if err != nil {
			return nil, p.errorf(at, "%s number %s does not fit in %d bits", what, ds, bits)
		}
		out = append(out, v)
	}
	if !p.accept(">") {
		return nil, p.expected(fmt.Sprintf("'.' or '>' in %s", what))
	}
	return out, nil
}

func (p *parser) pid() (Term, error) {
	start := p.i
	p.i++ // <
	node, err := p.node()
	if err != nil {
		return nil, err
	}
	nums, err := p.dottedNumbers(2, 32, "pid")
	if err != nil {
		return nil, err
	}
	if len(nums) != 2 {
		return nil, p.errorf(start, "a pid needs two numbers after its node: <node.ID.Serial>")
	}
	return Pid{Node: node, ID: uint32(nums[0]), Serial: uint32(nums[1])}, nil
}

func (p *parser) port() (Term, error) {
	start := p.i
	node, err := p.node()
	if err != nil {
		return nil, err
	}
	nums, err := p.dottedNumbers(1, 64, "port")
	if err != nil {
		return nil, err
	}
	if len(nums) != 1 {
		return nil, p.errorf(start, "a port needs one number after its node: #Port<node.ID>")
	}
	return Port{Node: node, ID: nums[0]}, nil
}

func (p *parser) ref() (Term, error) {
	node, err := p.node()
	if err != nil {
		return nil, err
	}
	nums, err := p.dottedNumbers(MaxRefWords, 32, "reference")
	if err != nil {
		return nil, err
	}
	r := Ref{Node: node, Len: uint8(len(nums))}
	for i, v := range nums {
		r.ID[len(nums)-1-i] = uint32(v) // printed from the last word to the first
	}
	return r, nil
}

// bitWriter accumulates the segments of a binary literal.
type bitWriter struct {
	buf   []byte
	nbits int
}

func (w *bitWriter) writeBit(bit uint) {
	if w.nbits%8 == 0 {
		w.buf = append(w.buf, 0)
	}
	if bit != 0 {
		w.buf[len(w.buf)-1] |= 0x80 >> (w.nbits % 8)
	}
	w.nbits++
}

// writeUint writes the low n bits of v, most significant first.
func (w *bitWriter) writeUint(v uint64, n int) {
	if w.nbits%8 == 0 && n%8 == 0 {
		for i := n - 8; i >= 0; i -= 8 {
			w.buf = append(w.buf, byte(v>>i))
		}
		w.nbits += n
		return
	}
	for i := n - 1; i >= 0; i-- {
		w.writeBit(uint(v>>i) & 1)
	}
}

// writeInt writes v as an n-bit big-endian integer, keeping only the low n
// bits of its two's complement as Erlang does.
func (w *bitWriter) writeInt(v Term, n int) {
	if n <= 64 {
		switch x := v.(type) {
		case int64:
			w.writeUint(uint64(x), n)
			return
		case *big.Int:
			m := new(big.Int).Lsh(big.NewInt(1), 64)
			w.writeUint(new(big.Int).Mod(x, m).Uint64(), n)
			return
		}
	}
	x, ok := v.(*big.Int)
	if !ok {
		x = big.NewInt(v.(int64))
	}
	mod := new(big.Int).Lsh(big.NewInt(1), uint(n))
	x = new(big.Int).Mod(x, mod)
	raw := x.FillBytes(make([]byte, (n+7)/8))
	skip := len(raw)*8 - n
	for i := skip; i < len(raw)*8; i++ {
		w.writeBit(uint(raw[i/8]>>(7-i%8)) & 1)
	}
}

func (p *parser) binary() (Term, error) {
	p.i += 2 // <<
	p.depth++
	defer func() { p.depth-- }()
	var w bitWriter
	p.skipSpace()
	if !p.accept(">>") {
		for {
			if err := p.segment(&w); err != nil {
				return nil, err
			}
			p.skipSpace()
			if p.accept(">>") {
				break
			}
			if !p.accept(",") {
				return nil, p.expected("',' or '>>' in binary")
			}
		}
	}
	if w.buf == nil {
		w.buf = []byte{}
	}
	if bits := w.nbits % 8; bits != 0 {
		return BitString{Bytes: w.buf, Bits: uint8(bits)}, nil
	}
	return w.buf, nil
}

// segment reads one segment of a binary: an integer or string, an optional
// :Size in bits, and optional /Type specifiers (integer, utf8, big,
// unsigned, signed, or unit:1).
func (p *parser) segment(w *bitWriter) error {
	p.skipSpace()
	start := p.i
	var values []Term
	isString := false
	switch c := p.peek(); {
	case c == '"':
		cs, err := p.strings()
		if err != nil {
			return err
		}
		values, isString = cs, true
	case c == '-' || c == '+' || c == '$' || (c >= '0' && c <= '9'):
		v, err := p.number()
		if err != nil {
			return err
		}
		if _, isFloat := v.(float64); isFloat {
			return p.errorf(start, "float segments are not supported in binaries")
		}
		values = []Term{v}
	default:
		return p.expected("an integer or a string in binary")
	}
	size := -1
	p.skipSpace()
	if p.accept(":") {
		p.skipSpace()
		at := p.i
		ds, err := p.digits(10)
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(ds)
		if err != nil || n > maxSegmentBits {
			return p.errorf(at, "segment size %s is larger than %d bits", ds, maxSegmentBits)
		}
		size = n
	}
	utf := false
	p.skipSpace()
	if p.accept("/") {
		for {
			p.skipSpace()
			at := p.i
			name, err := p.bareAtom()
			if err != nil {
				return err
			}
			switch name {
			case "utf8":
				utf = true
			case "integer", "big", "unsigned", "signed":
			case "unit":
				if !p.accept(":1") || (p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9') {
					return p.errorf(at, "only unit:1 is supported")
				}
			default:
				if name == "" {
					return p.expected("a type specifier after '/'")
				}
				return p.errorf(at, "unsupported binary type specifier %q (integer, utf8, big, unsigned, signed)", name)
			}
			if !p.accept("-") {
				break
			}
		}
	}
	if utf && size >= 0 {
		return p.errorf(start, "a utf8 segment cannot have a size")
	}
	if size < 0 {
		size = 8
	}
	for _, v := range values {
		if utf {
			c, ok := v.(int64)
			if !ok || c < 0 || c > utf8.MaxRune || (c >= 0xD800 && c <= 0xDFFF) {
				return p.errorf(start, "%s is not a Unicode code point for /utf8", Format(v))
			}
			p.budget -= 4
			if p.budget < 0 {
				return p.errorf(start, "binary literals too large for the input size")
			}
			var enc [4]byte
			n := utf8.EncodeRune(enc[:], rune(c))
			for _, b := range enc[:n] {
				w.writeUint(uint64(b), 8)
			}
			continue
		}
		if isString {
			if c := v.(int64); c > 255 && size == 8 {
				return p.errorf(start, "character %d does not fit in a byte: add /utf8", c)
			}
		}
		p.budget -= (size + 7) / 8
		if p.budget < 0 {
			return p.errorf(start, "binary literals too large for the input size")
		}
		w.writeInt(v, size)
	}
	return nil
}
