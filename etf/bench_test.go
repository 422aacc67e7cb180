//go:build unix

package etf

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ergoetf "github.com/ergo-services/ergo/etf"
	ergolib "github.com/ergo-services/ergo/lib"
)

// benchItem is one workload: terms encoded one after another (a dist frame
// carries a control tuple and then a message). The same items are built in
// rebar_test_app/src/etf_bench.erl for the OTP comparison
// (scripts/bench_otp_etf.sh).
type benchItem struct {
	name  string
	terms []Term
}

func benchItems() []benchItem {
	const node = Atom("gateway@127.0.0.1")
	pid := Pid{Node: node, ID: 211, Serial: 0, Creation: 4}
	alias := Ref{Node: node, Creation: 4, Len: 3, ID: [5]uint32{28690, 4284219393, 2471329701}}
	control := Tuple{int64(6), pid, Atom(""), Atom("barrel_p2p_registry")}
	call := Tuple{Atom("$gen_call"), Tuple{pid, alias}, Tuple{Atom("get"), Atom("key"), []byte("value")}}

	// A registry delta as barrel_p2p gossips it (membership_sequence.json),
	// with 200 services.
	const host = Atom("node@host")
	delta := make(Map, 200)
	for i := range delta {
		svc := Atom(fmt.Sprintf("svc_%d", i))
		delta[i] = MapPair{
			Key: Tuple{svc, host},
			Value: Tuple{Atom("value"),
				Tuple{Atom("service_entry"), svc, Pid{Node: host, ID: uint32(100 + i), Creation: 4}, host,
					Map{{Atom("n"), int64(i)}, {Atom("role"), []byte("golden")}}},
				Map{{Tuple{host, Tuple{Atom("timestamp"), 1795696812646 + int64(i), int64(1)}}, Atom("true")}}},
		}
	}

	bin := make([]byte, 1<<20)
	for i := range bin {
		bin[i] = byte(i * 7)
	}

	atoms := []Atom{"ok", "error", "undefined", "true"}
	list := make(List, 10000)
	for i := range list {
		switch i % 6 {
		case 0:
			list[i] = int64(i % 256)
		case 1:
			list[i] = atoms[i%4]
		case 2:
			list[i] = Tuple{Atom("item"), int64(i)}
		case 3:
			list[i] = []byte("bin")
		case 4:
			list[i] = int64(i * 1000)
		case 5:
			list[i] = float64(i) + 0.5
		}
	}

	var nested Term = Atom("bottom")
	for d := 1; d <= 50; d++ {
		if d%2 == 1 {
			nested = Tuple{int64(d), nested}
		} else {
			nested = List{nested, int64(d)}
		}
	}

	return []benchItem{
		{"control_call", []Term{control, call}},
		{"registry_delta", []Term{delta}},
		{"binary_1mib", []Term{bin}},
		{"list_10k", []Term{list}},
		{"nested_50", []Term{nested}},
	}
}

func (it benchItem) encoded(tb testing.TB) [][]byte {
	out := make([][]byte, len(it.terms))
	for i, t := range it.terms {
		b, err := Encode(t)
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = b
	}
	return out
}

func totalLen(bs [][]byte) int64 {
	var n int64
	for _, b := range bs {
		n += int64(len(b))
	}
	return n
}

func (it benchItem) ergoTerms() []ergoetf.Term {
	out := make([]ergoetf.Term, len(it.terms))
	for i, t := range it.terms {
		out[i] = toErgo(t)
	}
	return out
}

// cpuTime is the CPU time used by the whole process (GC workers included).
// The machines that run these benchmarks are often busy with other work;
// CPU time, unlike wall time, does not count the time spent waiting for a
// core, so cpu-ns/op stays comparable under load (the Erlang side reports
// the same measure, see etf_bench.erl).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs op under b.Loop, reporting size bytes per op, allocations
// and cpu-ns/op.
func measure(b *testing.B, size int64, op func() error) {
	b.ReportAllocs()
	b.SetBytes(size)
	start := cpuTime()
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkEncode: ours returns a slice the caller owns (Encode); ergo
// writes into a pooled buffer, as ergo's node does. ours_append reuses the
// caller's buffer (AppendEncode), as a connection writer does.
func BenchmarkEncode(b *testing.B) {
	for _, it := range benchItems() {
		size := totalLen(it.encoded(b))
		b.Run(it.name+"/ours", func(b *testing.B) {
			measure(b, size, func() error {
				for _, t := range it.terms {
					if _, err := Encode(t); err != nil {
						return err
					}
				}
				return nil
			})
		})
		b.Run(it.name+"/ours_append", func(b *testing.B) {
			var buf []byte
			measure(b, size, func() error {
				for _, t := range it.terms {
					var err error
					if buf, err = AppendEncode(buf[:0], t, nil); err != nil {
						return err
					}
				}
				return nil
			})
		})
		ergoTerms := it.ergoTerms()
		b.Run(it.name+"/ergo", func(b *testing.B) {
			measure(b, size, func() error {
				for _, t := range ergoTerms {
					buf := ergolib.TakeBuffer()
					if err := ergoetf.Encode(t, buf, ergoEncOpts); err != nil {
						return err
					}
					ergolib.ReleaseBuffer(buf)
				}
				return nil
			})
		})
	}
}

// BenchmarkDecode decodes the bytes our encoder wrote. ergo reads the same
// bytes, minus the version byte (its Decode starts at the tag); for
// registry_delta it parses every pair but keeps none, since it cannot hold
// tuple keys.
func BenchmarkDecode(b *testing.B) {
	for _, it := range benchItems() {
		enc := it.encoded(b)
		size := totalLen(enc)
		b.Run(it.name+"/ours", func(b *testing.B) {
			measure(b, size, func() error {
				for _, e := range enc {
					if _, err := Decode(e); err != nil {
						return err
					}
				}
				return nil
			})
		})
		if it.name == "binary_1mib" {
			// Copying is the whole cost here; AliasBinaries skips it.
			alias := &DecodeOptions{AliasBinaries: true}
			b.Run(it.name+"/ours_alias", func(b *testing.B) {
				measure(b, size, func() error {
					for _, e := range enc {
						if _, err := DecodeWith(e, alias); err != nil {
							return err
						}
					}
					return nil
				})
			})
		}
		b.Run(it.name+"/ergo", func(b *testing.B) {
			measure(b, size, func() error {
				for _, e := range enc {
					if _, _, err := ergoetf.Decode(e[1:], nil, ergoDecOpts); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
}

// The Go and Erlang benchmark items must be the same terms, or the OTP
// ratios mean nothing: compare our encodings with term_to_binary's.
func TestBenchItemsMatchOTP(t *testing.T) {
	if _, err := exec.LookPath("erl"); err != nil {
		t.Skip("erl not on PATH: install erlang-nox")
	}
	if testing.Short() {
		t.Skip("starts an Erlang VM")
	}
	src, err := filepath.Abs(filepath.Join("..", "rebar_test_app", "src", "etf_bench.erl"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); err != nil {
		t.Skipf("no %s: %v", src, err)
	}
	dir := t.TempDir()
	if out, err := exec.CommandContext(t.Context(), "erlc", "-o", dir, src).CombinedOutput(); err != nil {
		t.Fatalf("erlc: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(t.Context(), "erl", "-noshell", "-pa", dir, "-run", "etf_bench", "dump", "-run", "init", "stop").Output()
	if err != nil {
		t.Fatalf("erl: %v", err)
	}
	otp := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			otp[f[0]] = f[1:]
		}
	}
	for _, it := range benchItems() {
		hexes, ok := otp[it.name]
		if !ok || len(hexes) != len(it.terms) {
			t.Errorf("%s: OTP printed %d terms, want %d", it.name, len(hexes), len(it.terms))
			continue
		}
		for i, ours := range it.encoded(t) {
			theirs, err := hex.DecodeString(hexes[i])
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(ours, theirs) {
				continue
			}
			// Large maps: OTP writes pairs in its hash order.
			back, err := Decode(theirs)
			if err != nil || len(theirs) != len(ours) || !Equal(back, it.terms[i]) {
				t.Errorf("%s term %d: OTP's %d bytes differ from our %d (%v)", it.name, i, len(theirs), len(ours), err)
			}
		}
	}
}
