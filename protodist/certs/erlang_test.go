package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/internal/barrelenv"
)

func runBarrel(t *testing.T, expr string) string {
	t.Helper()
	env := barrelenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := env.Command(ctx, t.TempDir(), "-noshell", "-eval", expr+", halt().")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("erl: %v\n%s", err, out)
	}
	return string(out)
}

// TestBarrelGeneratedCertMatchesGo has barrel_p2p_quic_cert generate a pair
// (non-distributed VM, so CN=barrel_p2p-node as at first boot) and compares
// it with Go's, encoding by encoding; then barrel_p2p's ensure_cert accepts
// a Go-made directory without regenerating it.
func TestBarrelGeneratedCertMatchesGo(t *testing.T) {
	edir := t.TempDir()
	runBarrel(t, `ok = barrel_p2p_quic_cert:generate_cert("`+edir+`")`)
	ec, err := Load(edir)
	if err != nil {
		t.Fatalf("loading barrel_p2p's pair: %v", err)
	}
	keyPEM, _ := os.ReadFile(filepath.Join(edir, KeyFileName))
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "EC PRIVATE KEY" {
		t.Errorf("barrel_p2p key PEM type %v", b)
	}
	gdir := t.TempDir()
	gc, err := EnsureWith(gdir, "go@127.0.0.1", quiet())
	if err != nil {
		t.Fatal(err)
	}
	e, g := ec.Leaf(), gc.Leaf()
	if !bytes.Equal(e.RawSubject, g.RawSubject) || !bytes.Equal(e.RawIssuer, g.RawIssuer) {
		t.Errorf("subject %x vs %x", e.RawSubject, g.RawSubject)
	}
	if e.SignatureAlgorithm != g.SignatureAlgorithm || e.Version != g.Version || len(e.Extensions) != len(g.Extensions) {
		t.Fatalf("shape differs: %v/%v %d/%d", e.SignatureAlgorithm, g.SignatureAlgorithm, len(e.Extensions), len(g.Extensions))
	}
	for i := range e.Extensions {
		if !e.Extensions[i].Id.Equal(g.Extensions[i].Id) || e.Extensions[i].Critical != g.Extensions[i].Critical ||
			!bytes.Equal(e.Extensions[i].Value, g.Extensions[i].Value) {
			t.Errorf("extension %d differs", i)
		}
	}
	if e.NotAfter.Sub(e.NotBefore) != g.NotAfter.Sub(g.NotBefore) {
		t.Errorf("validity span %v vs %v", e.NotAfter.Sub(e.NotBefore), g.NotAfter.Sub(g.NotBefore))
	}
	if _, err := x509.ParseCertificate(e.Raw); err != nil {
		t.Error(err)
	}
	before, _ := os.ReadFile(filepath.Join(gdir, CertFileName))
	out := runBarrel(t, `io:format("~nOUT ~p~n", [barrel_p2p_quic_cert:ensure_cert("`+gdir+`")])`)
	if !strings.Contains(out, "\nOUT ok") {
		t.Errorf("ensure_cert on a Go dir: %s", out)
	}
	if after, _ := os.ReadFile(filepath.Join(gdir, CertFileName)); !bytes.Equal(before, after) {
		t.Error("barrel_p2p regenerated a Go-made certificate")
	}
}
