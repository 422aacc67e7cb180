package interop

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/interop/erlharness"
	"github.com/barrelgo/barrelgo/interop/termgen"
)

var (
	seedFlag = flag.Uint64("interop.seed", 20261126, "seed of the random term corpus")
	nFlag    = flag.Int("interop.n", 3000, "number of random terms in the corpus")
)

// callTimeout bounds one round trip so a wedged VM fails the test instead of
// hanging it until go test's global timeout.
const callTimeout = 30 * time.Second

type corpusCase struct {
	name string
	term etf.Term
}

// vectorsDir is ../shared/vectors beside the repository root.
func vectorsDir(t *testing.T) string {
	t.Helper()
	root, err := erlharness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "..", "shared", "vectors")
}

type vectorFile struct {
	Entries []struct {
		ID         string `json:"id"`
		Hex        string `json:"hex"`
		Opts       string `json:"opts"`
		DecodeOnly bool   `json:"decode_only"`
		Rejected   *bool  `json:"rejected"`
		Reason     string `json:"reason"`
		What       string `json:"what"`
	} `json:"entries"`
}

func readVectors(t *testing.T, name string) vectorFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir(t), name))
	if err != nil {
		t.Fatalf("interop: the shared vectors are missing (they live in ../shared/vectors beside the repository): %v", err)
	}
	var vf vectorFile
	if err := json.Unmarshal(b, &vf); err != nil {
		t.Fatalf("interop: %s: %v", name, err)
	}
	return vf
}

// buildCorpus returns the boundary cases, the random terms and every entry
// of the recorded OTP 27 corpus that an encoder can reproduce.
func buildCorpus(t *testing.T) (cases []corpusCase, counts map[string]int) {
	t.Helper()
	counts = map[string]int{}
	for _, c := range termgen.Boundaries() {
		cases = append(cases, corpusCase{"boundary/" + c.Name, c.Term})
		counts["boundary"]++
	}
	g := termgen.New(*seedFlag)
	for i := range *nFlag {
		cases = append(cases, corpusCase{fmt.Sprintf("random/%d", i), g.Term()})
		counts["random"]++
	}
	for _, file := range []string{"etf_corpus.json", "etf_corpus_large.json"} {
		for _, e := range readVectors(t, file).Entries {
			if e.DecodeOnly {
				continue
			}
			b, err := hex.DecodeString(e.Hex)
			if err != nil {
				t.Fatalf("%s %s: %v", file, e.ID, err)
			}
			term, err := etf.Decode(b)
			if err != nil {
				t.Errorf("%s %s: Go cannot decode OTP 27's bytes: %v", file, e.ID, err)
				continue
			}
			cases = append(cases, corpusCase{"vector/" + e.ID, term})
			counts["vector"]++
		}
	}
	return cases, counts
}

// echoMode is one etf_echo VM: the term_to_binary options it encodes with,
// and how barrelgo must reproduce that output.
type echoMode struct {
	name string
	args []string // etf_echo options
	// goOpts is the EncodeOptions that must give OTP's bytes exactly;
	// nil means the mode is decode-only (compressed output depends on zlib).
	goOpts *etf.EncodeOptions
	// fromOriginal: compare Go's encoding of the original term with OTP's
	// bytes (valid when OTP's output does not depend on VM state, i.e. with
	// [deterministic] or for terms without maps). Otherwise Go's
	// re-encoding of its decoding of OTP's bytes is compared, which checks
	// that wire order survives a decode.
	fromOriginal bool
}

type tally struct {
	total, goErlGo, otpDecoded, exact, explained int
	fromOriginalExact                            int
	reasons                                      map[string]int
	failures                                     map[string]int
}

func (s *tally) fail(t *testing.T, kind, format string, args ...any) {
	t.Helper()
	s.failures[kind]++
	if s.failures[kind] <= 5 {
		t.Errorf(format, args...)
	} else if s.failures[kind] == 6 {
		t.Errorf("(further %q failures counted, not shown)", kind)
	}
}

func TestETFRoundTripThroughOTP(t *testing.T) {
	ebin := erlharness.CompileTestApp(t)
	rel, err := erlharness.OTPRelease(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	otp, _ := strconv.Atoi(rel)
	// OTP 26 made minor_version 2 (UTF-8 atoms) the default of
	// term_to_binary/1; before that the default was 1 (ATOM_EXT for Latin-1
	// atoms).
	defaultMinor := etf.Minor2
	if otp < 26 {
		defaultMinor = etf.Minor1
	}
	cases, counts := buildCorpus(t)
	t.Logf("OTP %s; corpus: %d boundary, %d random (seed %d), %d recorded vectors",
		rel, counts["boundary"], counts["random"], *seedFlag, counts["vector"])

	modes := []echoMode{
		{name: "default", goOpts: &etf.EncodeOptions{Minor: defaultMinor}},
		{name: "deterministic", args: []string{"deterministic", "minor2"},
			goOpts: &etf.EncodeOptions{Deterministic: true}, fromOriginal: true},
		{name: "compressed", args: []string{"compressed"}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := erlharness.StartPortT(t, ebin, "etf_echo", "main", m.args...)
			s := &tally{reasons: map[string]int{}, failures: map[string]int{}}
			for _, c := range cases {
				checkCase(t, p, m, otp, c, s)
			}
			t.Logf("%s: %d terms; Go->OTP->Go equal %d; OTP bytes decode equal %d; byte-exact %d (of which from the original term %d); explained differences %d %v; failures %v",
				m.name, s.total, s.goErlGo, s.otpDecoded, s.exact, s.fromOriginalExact, s.explained, s.reasons, s.failures)
		})
	}
}

func checkCase(t *testing.T, p *erlharness.Port, m echoMode, otp int, c corpusCase, s *tally) {
	t.Helper()
	s.total++
	req, err := etf.Encode(c.term)
	if err != nil {
		s.fail(t, "encode", "%s: Encode: %v (term %s)", c.name, err, show(c.term))
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	resp, err := p.Call(ctx, req)
	if err != nil {
		t.Fatalf("%s: etf_echo: %v", c.name, err)
	}
	reply, err := etf.Decode(resp)
	if err != nil {
		s.fail(t, "decode-envelope", "%s: cannot decode OTP's reply %x: %v", c.name, trunc(resp), err)
		return
	}
	tup, ok := reply.(etf.Tuple)
	if !ok || len(tup) == 0 {
		s.fail(t, "envelope", "%s: unexpected reply %s", c.name, show(reply))
		return
	}
	if tup[0] == etf.Atom("error") {
		s.fail(t, "otp-rejects", "%s: OTP's binary_to_term rejects Go's bytes %x: %s (term %s)", c.name, trunc(req), show(tup[1:]), show(c.term))
		return
	}
	if len(tup) != 3 || tup[0] != etf.Atom("ok") {
		s.fail(t, "envelope", "%s: unexpected reply %s", c.name, show(reply))
		return
	}
	otpBytes, ok := tup[2].([]byte)
	if !ok {
		s.fail(t, "envelope", "%s: third element is not a binary: %s", c.name, show(tup[2]))
		return
	}

	// Go -> OTP: OTP decoded Go's bytes to the same term (as seen after
	// OTP re-encodes it in the envelope and Go decodes that).
	if etf.Equal(tup[1], c.term) {
		s.goErlGo++
	} else {
		s.fail(t, "go-otp-go", "%s: OTP's decoding differs from the original\n  sent %x\n  orig %s\n  got  %s", c.name, trunc(req), show(c.term), show(tup[1]))
	}

	// OTP -> Go: OTP's own bytes decode to the original.
	decoded, err := etf.Decode(otpBytes)
	if err != nil {
		s.fail(t, "otp-decode", "%s: Go cannot decode OTP's bytes %x: %v", c.name, trunc(otpBytes), err)
		return
	}
	if !etf.Equal(decoded, c.term) {
		s.fail(t, "otp-decode", "%s: OTP's bytes decode to a different term\n  otp  %x\n  orig %s\n  got  %s", c.name, trunc(otpBytes), show(c.term), show(decoded))
		return
	}
	s.otpDecoded++
	if m.goOpts == nil {
		return
	}

	// Byte for byte.
	src := decoded
	fromOriginal := m.fromOriginal || !containsMap(c.term)
	if fromOriginal {
		src = c.term
	}
	goBytes, err := etf.EncodeWith(src, m.goOpts)
	if err != nil {
		s.fail(t, "encode", "%s: EncodeWith: %v", c.name, err)
		return
	}
	if bytes.Equal(goBytes, otpBytes) {
		s.exact++
		if fromOriginal {
			s.fromOriginalExact++
		}
		return
	}
	if reason := explain(otp, decoded, otpBytes, goBytes); reason != "" {
		s.explained++
		s.reasons[reason]++
		return
	}
	var why string
	if back, err := etf.Decode(goBytes); err == nil {
		why = keyOrderDiff(decoded, back)
	}
	d := firstDiff(otpBytes, goBytes)
	s.fail(t, "bytes", "%s: Go's bytes differ from OTP's (%s)\n  orig %s\n  first difference at byte %d of %d (otp) / %d (go):\n  otp  …%x\n  go   …%x%s",
		c.name, m.name, show(c.term), d, len(otpBytes), len(goBytes), window(otpBytes, d), window(goBytes, d), why)
}

// keyOrderDiff describes the first map whose keys are in a different order
// in a and b (two decodings of the same term), or returns "".
func keyOrderDiff(a, b etf.Term) string {
	switch x := a.(type) {
	case etf.Map:
		y, ok := b.(etf.Map)
		if !ok || len(x) != len(y) {
			return ""
		}
		for i := range x {
			if !etf.Equal(x[i].Key, y[i].Key) {
				var ok, gk []string
				for j := range x {
					ok = append(ok, show(x[j].Key))
					gk = append(gk, show(y[j].Key))
				}
				return fmt.Sprintf("\n  map key order differs:\n    otp [%s]\n    go  [%s]", strings.Join(ok, ", "), strings.Join(gk, ", "))
			}
		}
		for i := range x {
			if d := keyOrderDiff(x[i].Key, y[i].Key) + keyOrderDiff(x[i].Value, y[i].Value); d != "" {
				return d
			}
		}
	case etf.Tuple:
		y, ok := b.(etf.Tuple)
		if !ok || len(x) != len(y) {
			return ""
		}
		for i := range x {
			if d := keyOrderDiff(x[i], y[i]); d != "" {
				return d
			}
		}
	case etf.List:
		y, ok := b.(etf.List)
		if !ok || len(x) != len(y) {
			return ""
		}
		for i := range x {
			if d := keyOrderDiff(x[i], y[i]); d != "" {
				return d
			}
		}
	case etf.ImproperList:
		y, ok := b.(etf.ImproperList)
		if !ok || len(x.Elems) != len(y.Elems) {
			return ""
		}
		for i := range x.Elems {
			if d := keyOrderDiff(x.Elems[i], y.Elems[i]); d != "" {
				return d
			}
		}
		return keyOrderDiff(x.Tail, y.Tail)
	}
	return ""
}

// explain names a known, intended difference between OTP's bytes and
// barrelgo's, or returns "" when the difference is a bug. term is the
// decoding of otpBytes.
func explain(otp int, term etf.Term, otpBytes, goBytes []byte) string {
	back, err := etf.Decode(goBytes)
	if err != nil || !etf.Equal(back, term) || keyOrderDiff(term, back) != "" {
		return ""
	}
	// Before OTP 26 a port whose id is below 2^28 is written as
	// NEW_PORT_EXT (89: 4-byte id), larger ids as V4_PORT_EXT (120: 8-byte
	// id) (observed on OTP 25). barrelgo always writes V4_PORT_EXT, as OTP
	// 26+ does and OTP 24+ decodes. With the same term and the same map key
	// order, that accounts for exactly 4 bytes per such port.
	if n := countSmallPorts(term); otp < 26 && n > 0 && len(goBytes)-len(otpBytes) == 4*n {
		return "otp<26 NEW_PORT_EXT"
	}
	return ""
}

func containsMap(t etf.Term) bool {
	return count(t, func(x etf.Term) bool { _, ok := x.(etf.Map); return ok }) > 0
}

func countSmallPorts(t etf.Term) int {
	return count(t, func(x etf.Term) bool { p, ok := x.(etf.Port); return ok && p.ID < 1<<28 })
}

// count returns how many terms inside t, t included, satisfy pred.
func count(t etf.Term, pred func(etf.Term) bool) int {
	n := 0
	if pred(t) {
		n++
	}
	switch v := t.(type) {
	case etf.List:
		for _, e := range v {
			n += count(e, pred)
		}
	case etf.Tuple:
		for _, e := range v {
			n += count(e, pred)
		}
	case etf.ImproperList:
		for _, e := range v.Elems {
			n += count(e, pred)
		}
		n += count(v.Tail, pred)
	case etf.Map:
		for _, p := range v {
			n += count(p.Key, pred) + count(p.Value, pred)
		}
	}
	return n
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// window returns the bytes around offset d.
func window(b []byte, d int) []byte {
	return b[max(0, d-16):min(len(b), d+48)]
}

func trunc(b []byte) []byte {
	if len(b) > 160 {
		return b[:160]
	}
	return b
}

func show(t etf.Term) string {
	s := etf.Format(t)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// TestInvalidInputsAgreeWithOTP sends the recorded invalid inputs to OTP and
// checks that Go's strict decoder rejects everything OTP rejects.
func TestInvalidInputsAgreeWithOTP(t *testing.T) {
	ebin := erlharness.CompileTestApp(t)
	plain := erlharness.StartPortT(t, ebin, "etf_echo", "main")
	safe := erlharness.StartPortT(t, ebin, "etf_echo", "main", "safe")
	var agreeReject, otpAcceptsGoRejects, both int
	var notes []string
	for _, e := range readVectors(t, "etf_invalid.json").Entries {
		in, err := hex.DecodeString(e.Hex)
		if err != nil {
			t.Fatalf("%s: %v", e.ID, err)
		}
		p := plain
		if strings.Contains(e.Opts, "safe") {
			p = safe
		}
		ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
		resp, err := p.Call(ctx, in)
		cancel()
		if err != nil {
			t.Fatalf("%s: etf_echo: %v", e.ID, err)
		}
		reply, err := etf.Decode(resp)
		if err != nil {
			t.Fatalf("%s: cannot decode OTP's reply: %v", e.ID, err)
		}
		tup, _ := reply.(etf.Tuple)
		otpRejects := len(tup) > 0 && tup[0] == etf.Atom("error")
		_, goErr := etf.Decode(in)
		switch {
		case otpRejects && goErr != nil:
			agreeReject++
		case otpRejects && goErr == nil:
			if strings.Contains(e.Opts, "safe") {
				// [safe] refuses atoms the VM does not know; Go has no atom
				// table to protect, so it accepts them by design.
				notes = append(notes, e.ID+": only [safe] rejects it")
				continue
			}
			t.Errorf("%s (%s): OTP rejects %x but Go decodes it", e.ID, e.What, in)
		case !otpRejects && goErr != nil:
			otpAcceptsGoRejects++
			notes = append(notes, fmt.Sprintf("%s: OTP accepts, Go rejects (%v)", e.ID, goErr))
		default:
			both++
		}
		if e.Rejected != nil && *e.Rejected != otpRejects {
			notes = append(notes, fmt.Sprintf("%s: local OTP rejects=%v, recorded OTP 27 rejects=%v", e.ID, otpRejects, *e.Rejected))
		}
	}
	sort.Strings(notes)
	t.Logf("both reject %d, both accept %d, OTP accepts but Go rejects %d; notes:\n  %s",
		agreeReject, both, otpAcceptsGoRejects, strings.Join(notes, "\n  "))
}
