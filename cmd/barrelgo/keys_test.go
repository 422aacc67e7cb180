package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/barrelgo/barrelgo/protodist/auth"
)

// runOK runs a command that must succeed and returns its output.
func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("%v: %v\n%s%s", args, err, out.String(), errb.String())
	}
	return out.String()
}

// runErr runs a command that must fail and returns its error text.
func runErr(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	if err == nil {
		t.Fatalf("%v succeeded:\n%s", args, out.String())
	}
	return err.Error()
}

func mustContain(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s: %q lacks %q", what, got, w)
		}
	}
}

var keyLine = regexp.MustCompile(`public key   ([0-9a-f]{64})\nfingerprint  ([0-9a-f]{64})\n`)

// shownKey returns the public key and fingerprint a keys command printed,
// checking that the fingerprint is SHA-256 of the key.
func shownKey(t *testing.T, out string) (pub, fp string) {
	t.Helper()
	m := keyLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no key in %q", out)
	}
	raw, _ := hex.DecodeString(m[1])
	sum := sha256.Sum256(raw)
	if hex.EncodeToString(sum[:]) != m[2] {
		t.Fatalf("fingerprint %s is not sha256(%s)", m[2], m[1])
	}
	return m[1], m[2]
}

func TestKeysGenShowRotate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	mustContain(t, "show before gen", runErr(t, "keys", "show", "--dir", dir), "no identity in", "keys gen")
	pub, fp := shownKey(t, runOK(t, "keys", "gen", "--dir", dir))
	k, err := auth.LoadKeyPair(dir)
	if err != nil || hex.EncodeToString(k.Public) != pub {
		t.Fatalf("gen wrote %v (%v), printed %s", k.Public, err, pub)
	}
	mustContain(t, "gen twice", runErr(t, "keys", "gen", "--dir", dir), "already exists", fp, "keys rotate")
	if p2, f2 := shownKey(t, runOK(t, "keys", "show", "--dir", dir)); p2 != pub || f2 != fp {
		t.Fatalf("show printed %s %s, gen %s %s", p2, f2, pub, fp)
	}
	out := runOK(t, "keys", "rotate", "--dir", dir)
	p3, _ := shownKey(t, out)
	if p3 == pub {
		t.Fatal("rotate kept the key")
	}
	mustContain(t, "rotate", out, "identity rotated in "+dir, "backup", "strict-trust mode must re-pin")
	backups, _ := filepath.Glob(filepath.Join(dir, auth.BackupsDirName, "*", auth.PubFileName))
	if len(backups) != 1 {
		t.Fatalf("backups: %v", backups)
	}
	if old, _ := os.ReadFile(backups[0]); hex.EncodeToString(old) != pub {
		t.Fatal("the backup does not hold the old key")
	}
}

// The key directory comes from -dir, else the configuration.
func TestKeysDirFromConfig(t *testing.T) {
	data := t.TempDir()
	out := runOK(t, "keys", "gen", "--data-dir", data)
	mustContain(t, "gen --data-dir", out, filepath.Join(data, "keys"))
	other := filepath.Join(t.TempDir(), "k")
	path := writeConfig(t, "[quic]\nauth_key_dir = \""+other+"\"")
	mustContain(t, "gen -config", runOK(t, "keys", "gen", "-config", path), other)
	mustContain(t, "bad config", runErr(t, "keys", "show", "-config", writeConfig(t, "[quic]\nauth_key_dri = \"x\"")),
		"did you mean quic.auth_key_dir?")
}

func TestKeysPins(t *testing.T) {
	dir := t.TempDir()
	mustContain(t, "list in a missing dir", runErr(t, "keys", "pins", "list", "--dir", filepath.Join(dir, "nope")), "no key directory")
	mustContain(t, "empty list", runOK(t, "keys", "pins", "list", "--dir", dir), "NODE", "FINGERPRINT")
	k, _ := auth.GenerateKeyPair(nil)
	pub := hex.EncodeToString(k.Public)
	// Flags after the arguments work too.
	out := runOK(t, "keys", "pins", "store", "peer@127.0.0.1", pub, "--dir", dir)
	mustContain(t, "store", out, "pinned peer@127.0.0.1 to fingerprint "+auth.FingerprintHex(k.Public), "restart")
	if b, err := os.ReadFile(filepath.Join(dir, auth.TrustedDirName, "peer@127.0.0.1.pub")); err != nil || !bytes.Equal(b, k.Public) {
		t.Fatalf("pin file: %v %x", err, b)
	}
	mustContain(t, "list", runOK(t, "keys", "pins", "list", "--dir", dir), "peer@127.0.0.1", auth.FingerprintHex(k.Public), pub)
	k2, _ := auth.GenerateKeyPair(nil)
	mustContain(t, "re-store", runOK(t, "keys", "pins", "store", "peer@127.0.0.1", hex.EncodeToString(k2.Public), "--dir", dir),
		"replaced the previous pin (fingerprint "+auth.FingerprintHex(k.Public))
	mustContain(t, "bad hex", runErr(t, "keys", "pins", "store", "peer@127.0.0.1", "abcd", "--dir", dir), "64 hex digits")
	mustContain(t, "bad name", runErr(t, "keys", "pins", "store", "no host", pub, "--dir", dir), "not a valid node name")
	mustContain(t, "delete", runOK(t, "keys", "pins", "delete", "peer@127.0.0.1", "--dir", dir), "deleted the pin of peer@127.0.0.1")
	if strings.Contains(runOK(t, "keys", "pins", "list", "--dir", dir), "peer@127.0.0.1") {
		t.Fatal("deleted pin still listed")
	}
	mustContain(t, "delete twice", runErr(t, "keys", "pins", "delete", "peer@127.0.0.1", "--dir", dir), "no pin for peer@127.0.0.1")
	for _, args := range [][]string{{"keys"}, {"keys", "pins"}, {"keys", "burn"}, {"keys", "pins", "store", "a@b"}, {"keys", "show", "extra"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); !isUsage(err) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

func TestCert(t *testing.T) {
	dir := t.TempDir()
	mustContain(t, "show before gen", runErr(t, "cert", "show", "--dir", dir), "no certificate in", "cert gen")
	out := runOK(t, "cert", "gen", "--dir", dir, "--name", "node1@127.0.0.1")
	mustContain(t, "gen", out, "CN=node1@127.0.0.1", "O=Barrel P2P", filepath.Join(dir, "node.crt"), "sha256")
	mustContain(t, "show", runOK(t, "cert", "show", "--dir", dir), "CN=node1@127.0.0.1")
	mustContain(t, "gen twice", runErr(t, "cert", "gen", "--dir", dir), "already exists", "-force")
	out = runOK(t, "cert", "gen", "--dir", dir, "--force")
	mustContain(t, "gen -force", out, "certificate replaced", "backup", "CN=barrel_p2p-node")
	mustContain(t, "default dir", runOK(t, "cert", "gen", "--data-dir", dir), filepath.Join(dir, "quic", "node.crt"))
}
