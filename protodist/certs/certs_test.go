package certs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/protodist/auth/securefile"
)

var vectorsDir = filepath.Join("..", "..", "..", "shared", "vectors")

type identity struct {
	Run        string `json:"run"`
	Node       string `json:"node"`
	CertPEM    string `json:"tls_cert_pem"`
	CertDER    string `json:"tls_cert_der_hex"`
	CertSHA256 string `json:"tls_cert_sha256_hex"`
	KeyPEM     string `json:"tls_key_pem_throwaway"`
}

func loadIdentities(t *testing.T) []identity {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir, "identities.json"))
	if err != nil {
		t.Skipf("vectors not available: %v", err)
	}
	var f struct {
		Identities []identity `json:"identities"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Identities
}

func quiet() Options { return Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))} }

// TestLoadRecordedCredentials loads every cert+key barrel_p2p generated,
// from a directory laid out as barrel_p2p's quic_cert_dir.
func TestLoadRecordedCredentials(t *testing.T) {
	for _, id := range loadIdentities(t) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, CertFileName), []byte(id.CertPEM), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, KeyFileName), []byte(id.KeyPEM), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, _ := pem.Decode([]byte(id.KeyPEM)); b == nil || b.Type != "EC PRIVATE KEY" {
			t.Fatalf("%s: key PEM type %v", id.Node, b)
		}
		c, err := EnsureWith(dir, id.Node, quiet())
		if err != nil {
			t.Fatalf("%s %s: %v", id.Run, id.Node, err)
		}
		if c.Generated {
			t.Error("regenerated existing files")
		}
		if hex.EncodeToString(c.Binding[:]) != id.CertSHA256 {
			t.Errorf("%s: binding %x, want %s", id.Node, c.Binding, id.CertSHA256)
		}
		if hex.EncodeToString(c.Leaf().Raw) != id.CertDER {
			t.Errorf("%s: leaf DER differs", id.Node)
		}
		if c.Leaf().Subject.CommonName != DefaultCommonName {
			t.Errorf("%s: CN %q", id.Node, c.Leaf().Subject.CommonName)
		}
		if _, ok := c.Certificate.PrivateKey.(*ecdsa.PrivateKey); !ok {
			t.Errorf("%s: key %T", id.Node, c.Certificate.PrivateKey)
		}
	}
}

// TestGeneratedMatchesRecorded compares a fresh certificate with the
// recorded ones field by field and encoding by encoding.
func TestGeneratedMatchesRecorded(t *testing.T) {
	ids := loadIdentities(t)
	ref, err := x509.ParseCertificate(mustHex(t, ids[0].CertDER))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	now := time.Date(2026, 11, 26, 12, 39, 13, 0, time.UTC)
	o := quiet()
	o.Now = func() time.Time { return now }
	c, err := EnsureWith(dir, "go@127.0.0.1", o)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Generated {
		t.Error("Generated not set")
	}
	got := c.Leaf()
	if !bytes.Equal(got.RawSubject, ref.RawSubject) || !bytes.Equal(got.RawIssuer, ref.RawIssuer) {
		t.Errorf("subject/issuer encoding differs:\n%x\n%x", got.RawSubject, ref.RawSubject)
	}
	if got.Version != 3 || got.SignatureAlgorithm != x509.ECDSAWithSHA256 || got.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("version %d sig %v key %v", got.Version, got.SignatureAlgorithm, got.PublicKeyAlgorithm)
	}
	if pk := got.PublicKey.(*ecdsa.PublicKey); pk.Curve != elliptic.P256() {
		t.Error("not P-256")
	}
	if len(got.Extensions) != len(ref.Extensions) {
		t.Fatalf("%d extensions, want %d", len(got.Extensions), len(ref.Extensions))
	}
	for i := range ref.Extensions {
		g, r := got.Extensions[i], ref.Extensions[i]
		if !g.Id.Equal(r.Id) || g.Critical != r.Critical || !bytes.Equal(g.Value, r.Value) {
			t.Errorf("extension %d: %v %v %x, want %v %v %x", i, g.Id, g.Critical, g.Value, r.Id, r.Critical, r.Value)
		}
	}
	if !got.NotBefore.Equal(now.Add(-300*time.Second)) || !got.NotAfter.Equal(now.Add(365*24*time.Hour)) {
		t.Errorf("validity %v .. %v", got.NotBefore, got.NotAfter)
	}
	// Same validity shape as the recorded certificate (now - 300 s, +365 d).
	if ref.NotAfter.Sub(ref.NotBefore) != got.NotAfter.Sub(got.NotBefore) {
		t.Errorf("validity span %v, recorded %v", got.NotAfter.Sub(got.NotBefore), ref.NotAfter.Sub(ref.NotBefore))
	}
	if got.SerialNumber.Sign() <= 0 || got.SerialNumber.BitLen() > 127 {
		t.Errorf("serial %v", got.SerialNumber)
	}
	if len(got.DNSNames)+len(got.IPAddresses) != 0 || len(got.SubjectKeyId) != 0 || len(got.AuthorityKeyId) != 0 {
		t.Error("unexpected SAN/SKI/AKI")
	}
	// Self-signed by its own key (CheckSignatureFrom would demand CA:TRUE).
	if err := got.CheckSignature(got.SignatureAlgorithm, got.RawTBSCertificate, got.Signature); err != nil {
		t.Errorf("self-signature: %v", err)
	}
	// Files: one CERTIFICATE block; the key is SEC 1 "EC PRIVATE KEY", 0600.
	keyPEM, _ := os.ReadFile(filepath.Join(dir, KeyFileName))
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "EC PRIVATE KEY" {
		t.Errorf("key PEM %q", keyPEM)
	}
	if fi, _ := os.Stat(filepath.Join(dir, KeyFileName)); fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", fi.Mode().Perm())
	}
	if c.Binding != sha256.Sum256(got.Raw) {
		t.Error("binding is not SHA-256 of the leaf")
	}
	// Loading again returns the same credentials.
	again, err := Ensure(dir, "go@127.0.0.1")
	if err != nil || again.Binding != c.Binding || again.Generated {
		t.Fatalf("reload: %v", err)
	}
}

func TestSerialsDiffer(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 8; i++ {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), nil)
		der, err := CreateDER(DefaultCommonName, key, Options{})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		if seen[c.SerialNumber.String()] || c.SerialNumber.Cmp(big.NewInt(0)) <= 0 {
			t.Fatalf("serial %v", c.SerialNumber)
		}
		seen[c.SerialNumber.String()] = true
	}
}

func TestServesTLS(t *testing.T) {
	c, err := EnsureWith(t.TempDir(), "a@b", quiet())
	if err != nil {
		t.Fatal(err)
	}
	// A TLS 1.3 handshake with the generated cert; the client computes
	// the same binding from what it received.
	srvConn, cliConn := netPipe(t)
	errc := make(chan error, 1)
	go func() {
		s := tls.Server(srvConn, &tls.Config{Certificates: []tls.Certificate{c.Certificate}, MinVersion: tls.VersionTLS13})
		errc <- s.Handshake()
		_ = srvConn.Close() // no close_notify: net.Pipe writes would block
	}()
	cl := tls.Client(cliConn, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err := cl.HandshakeContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	peer := cl.ConnectionState().PeerCertificates
	if len(peer) != 1 || Binding(peer[0].Raw) != c.Binding {
		t.Error("client-side binding differs")
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestNoCredentials(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("%v", err)
	}
}

func TestBadCredentials(t *testing.T) {
	ids := loadIdentities(t)
	write := func(dir, crt, key string) {
		_ = os.WriteFile(filepath.Join(dir, CertFileName), []byte(crt), 0o644)
		_ = os.WriteFile(filepath.Join(dir, KeyFileName), []byte(key), 0o600)
	}
	cases := map[string][2]string{
		"chain of two":      {ids[0].CertPEM + ids[1].CertPEM, ids[0].KeyPEM},
		"no certificate":    {"garbage", ids[0].KeyPEM},
		"key of another":    {ids[0].CertPEM, ids[1].KeyPEM},
		"garbage key":       {ids[0].CertPEM, "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"},
		"certificate twice": {ids[0].CertPEM + ids[0].CertPEM, ids[0].KeyPEM},
	}
	for name, c := range cases {
		dir := t.TempDir()
		write(dir, c[0], c[1])
		// Existing but broken files are reported, never silently replaced.
		_, err := EnsureWith(dir, "a@b", quiet())
		if !errors.Is(err, ErrLoadCredentials) {
			t.Errorf("%s: %v", name, err)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, CertFileName)); string(got) != c[0] {
			t.Errorf("%s: file replaced", name)
		}
	}
}

func TestPKCS8AndRSAKeysLoad(t *testing.T) {
	// barrel_p2p_gen_cert.sh writes RSA keys as PKCS#8 "PRIVATE KEY".
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not on PATH")
	}
	dir := t.TempDir()
	cmd := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
		"-keyout", filepath.Join(dir, KeyFileName), "-out", filepath.Join(dir, CertFileName), "-subj", "/CN=barrel_p2p")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("openssl: %v %s", err, out)
	}
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Leaf().Subject.CommonName != "barrel_p2p" {
		t.Errorf("CN %q", c.Leaf().Subject.CommonName)
	}
}

func TestEnsureUnwritable(t *testing.T) {
	// A file where the directory should be: generation must fail with
	// barrel_p2p's words instead of panicking.
	f := filepath.Join(t.TempDir(), "file")
	_ = os.WriteFile(f, nil, 0o600)
	_, err := EnsureWith(filepath.Join(f, "quic"), "a@b", quiet())
	if !errors.Is(err, ErrCertEnsureFailed) || !strings.Contains(err.Error(), "cert ensure failed: mkdir_failed") {
		t.Fatalf("%v", err)
	}
}

func TestEnsureRegeneratesLoneFile(t *testing.T) {
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, KeyFileName), []byte("stale"), 0o600)
	c, err := EnsureWith(dir, "a@b", quiet())
	if err != nil || !c.Generated {
		t.Fatalf("%v", err)
	}
}

// TestGenerateCrashSafety leaves the directory as a crash after each
// write of Generate would and checks that Ensure serves a consistent pair.
func TestGenerateCrashSafety(t *testing.T) {
	newPair := func() (crt, key []byte) {
		crt, key, err := Create(DefaultCommonName, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return crt, key
	}
	for _, step := range []string{"staged-key", "staged-both", "committed-key"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			old, err := EnsureWith(dir, "a@b", quiet())
			if err != nil {
				t.Fatal(err)
			}
			crt, key := newPair()
			crtPath, keyPath := filepath.Join(dir, CertFileName), filepath.Join(dir, KeyFileName)
			must := func(err error) {
				if err != nil {
					t.Fatal(err)
				}
			}
			must(securefile.Stage(keyPath, key))
			if step != "staged-key" {
				must(securefile.Stage(crtPath, crt))
			}
			if step == "committed-key" {
				must(securefile.Commit(keyPath))
			}
			c, err := EnsureWith(dir, "a@b", quiet())
			if err != nil {
				t.Fatal(err)
			}
			wantNew := step == "committed-key"
			if (c.Binding != old.Binding) != wantNew {
				t.Errorf("served the %s certificate", map[bool]string{true: "new", false: "old"}[c.Binding != old.Binding])
			}
			if m, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(m) != 0 {
				t.Errorf("leftovers %v", m)
			}
		})
	}
}

func TestRotate(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	o := Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }}
	old, err := EnsureWith(dir, "a@b", o)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Rotate(dir, "a@b", o)
	if err != nil {
		t.Fatal(err)
	}
	if !info.RestartRequired || info.BackupDir != filepath.Join(dir, "backups", "20260101T000000Z") {
		t.Errorf("%+v", info)
	}
	backed, err := Load(info.BackupDir)
	if err != nil || backed.Binding != old.Binding {
		t.Fatalf("backup: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(info.BackupDir, KeyFileName)); fi.Mode().Perm() != 0o600 {
		t.Errorf("backup key mode %v", fi.Mode().Perm())
	}
	now, err := Load(dir)
	if err != nil || now.Binding == old.Binding || now.Leaf().Subject.CommonName != "a@b" {
		t.Fatalf("rotated: %v", err)
	}
	if !strings.Contains(logs.String(), fmt.Sprintf("barrel_p2p_rotate: cert rotated in %s; node restart required", dir)) {
		t.Errorf("log %s", logs.String())
	}
}

// TestErlangReadsGeneratedPEM has OTP public_key decode what Go wrote,
// the check quic_dist's credential loader relies on.
func TestErlangReadsGeneratedPEM(t *testing.T) {
	if _, err := exec.LookPath("erl"); err != nil {
		t.Skip("erl not on PATH: install erlang-nox")
	}
	dir := t.TempDir()
	if _, err := EnsureWith(dir, "a@b", quiet()); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`{ok,C}=file:read_file(%q), {ok,K}=file:read_file(%q),
		[{'Certificate',Der,not_encrypted}]=public_key:pem_decode(C),
		[{'ECPrivateKey',_,not_encrypted}=KE]=public_key:pem_decode(K),
		_=public_key:pem_entry_decode(KE),
		Cert=public_key:pkix_decode_cert(Der, otp),
		io:format("~p~n", [public_key:pkix_is_self_signed(Cert)]), halt().`,
		filepath.Join(dir, CertFileName), filepath.Join(dir, KeyFileName))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "erl", "-noshell", "-eval", script).CombinedOutput()
	if err != nil {
		t.Fatalf("erl: %v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) != "true" {
		t.Errorf("erl: %s", out)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
