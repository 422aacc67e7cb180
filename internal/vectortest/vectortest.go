// Package vectortest reads the recordings in ../shared/vectors for the
// tests of several packages. Those files are the wire contract recorded
// from real Erlang nodes, so a missing file fails the test rather than
// skipping it.
package vectortest

import (
	"bufio"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// MembershipTerms returns label -> bytes of every blob in
// dir/membership-terms-otp25.txt. A label is the unindented line ending
// in ':' before the blob, without a " (...)" note ("JOIN envelope (134
// bytes):" gives "JOIN envelope").
func MembershipTerms(tb testing.TB, dir string) map[string][]byte {
	tb.Helper()
	f, err := os.Open(filepath.Join(dir, "membership-terms-otp25.txt"))
	if err != nil {
		tb.Fatalf("shared vectors missing (want ../shared/vectors beside the project root): %v", err)
	}
	defer f.Close()
	out := map[string][]byte{}
	hexLine := regexp.MustCompile(`^[0-9A-F]{16,}$`)
	label := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case hexLine.MatchString(trimmed):
			b, err := hex.DecodeString(trimmed)
			if err != nil {
				tb.Fatalf("%s: %v", label, err)
			}
			out[label] = b
		case !strings.HasPrefix(line, " ") && strings.HasSuffix(trimmed, ":"):
			label = strings.TrimSuffix(trimmed, ":")
			if i := strings.Index(label, " ("); i > 0 {
				label = label[:i]
			}
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}
