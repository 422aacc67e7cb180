package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/epmd"
	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/interop/barrelharness"
	"github.com/barrelgo/barrelgo/interop/erlharness"
	"github.com/barrelgo/barrelgo/node"
	"github.com/barrelgo/barrelgo/protodist"
	"github.com/barrelgo/barrelgo/protodist/auth"
	"github.com/barrelgo/barrelgo/protodist/certs"
)

// Each check is tested by breaking what it checks and asserting the row it
// reports.

func quicSettings(t *testing.T) doctorSettings {
	t.Helper()
	q := protodist.DefaultConfig(t.TempDir())
	q.DistCookie = "secret"
	return doctorSettings{Name: "doc@127.0.0.1", Proto: "quic", Cookie: "secret", QUIC: q, TickTime: 60 * time.Second}
}

// provision creates the node's certificate and identity as a first start
// would.
func provision(t *testing.T, s doctorSettings) auth.KeyPair {
	t.Helper()
	if _, err := certs.EnsureWith(s.QUIC.QUICCertDir, s.Name, certs.Options{Logger: quiet()}); err != nil {
		t.Fatal(err)
	}
	k, err := auth.EnsureKeyPair(s.QUIC.AuthKeyDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func runDoctor(t *testing.T, s doctorSettings, peer string) *doctor {
	t.Helper()
	d := &doctor{s: s, peer: peer, timeout: 5 * time.Second}
	d.run(t.Context())
	return d
}

// want asserts that check reported st with detail or symptom containing
// text, and returns the finding.
func want(t *testing.T, d *doctor, check string, st status, text string) finding {
	t.Helper()
	var seen []string
	for _, f := range d.out {
		if f.Check != check {
			continue
		}
		if f.Status == st && (strings.Contains(f.Detail, text) || strings.Contains(f.Symptom, text)) {
			return f
		}
		seen = append(seen, f.Status.String()+" "+f.Detail+" / "+f.Symptom)
	}
	var all bytes.Buffer
	printFindings(&all, "findings:", d.out)
	t.Fatalf("no %s %s finding containing %q (got %q)\n%s", st, check, text, seen, all.String())
	return finding{}
}

func noFailures(t *testing.T, d *doctor) {
	t.Helper()
	if err := doctorFailed(d.out); err != nil {
		var all bytes.Buffer
		printFindings(&all, "findings:", d.out)
		t.Fatalf("%v\n%s", err, all.String())
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// blocked returns a directory path that cannot be created: its parent is
// a regular file. Unlike chmod it also holds for root.
func blocked(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "file")
	writeFile(t, f, []byte("x"))
	return filepath.Join(f, "dir")
}

func TestDoctorHealthyQUICNode(t *testing.T) {
	s := quicSettings(t)
	provision(t, s)
	writeFile(t, filepath.Join(s.QUIC.DiscoveryDir, "peer@127.0.0.1.endpoint"), []byte("{\"127.0.0.1\",9100}.\n"))
	d := runDoctor(t, s, "")
	for _, f := range d.out {
		if f.Status == statusWarn || f.Status == statusFail {
			t.Errorf("unexpected %s %s: %s", f.Status, f.Check, f.Detail)
		}
	}
	want(t, d, "cert", statusOK, "CN=barrel_p2p-node")
	want(t, d, "keypair", statusOK, "fingerprint")
	want(t, d, "endpoints", statusOK, "peer@127.0.0.1")
}

func TestDoctorFreshNodeIsFine(t *testing.T) {
	d := runDoctor(t, quicSettings(t), "")
	noFailures(t, d)
	want(t, d, "cert", statusOK, "do not exist yet")
	want(t, d, "keypair", statusOK, "does not exist yet")
	want(t, d, "endpoints", statusWarn, "does not exist")
}

func TestDoctorCert(t *testing.T) {
	t.Run("corrupt", func(t *testing.T) {
		s := quicSettings(t)
		provision(t, s)
		writeFile(t, filepath.Join(s.QUIC.QUICCertDir, certs.CertFileName), []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"))
		want(t, runDoctor(t, s, ""), "cert", statusFail, "load_credentials")
	})
	t.Run("unreadable", func(t *testing.T) {
		s := quicSettings(t)
		provision(t, s)
		// A directory where the key file should be cannot be read, even
		// by root.
		p := filepath.Join(s.QUIC.QUICCertDir, certs.KeyFileName)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		want(t, runDoctor(t, s, ""), "cert", statusFail, "load_credentials")
	})
	t.Run("mismatched pair", func(t *testing.T) {
		s := quicSettings(t)
		provision(t, s)
		_, key, err := certs.Create("other", certs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(s.QUIC.QUICCertDir, certs.KeyFileName), key)
		want(t, runDoctor(t, s, ""), "cert", statusFail, "load_credentials")
	})
	t.Run("P-384", func(t *testing.T) {
		s := quicSettings(t)
		provision(t, s)
		crt, key := selfSigned(t, elliptic.P384(), time.Now().Add(time.Hour))
		writeFile(t, filepath.Join(s.QUIC.QUICCertDir, certs.CertFileName), crt)
		writeFile(t, filepath.Join(s.QUIC.QUICCertDir, certs.KeyFileName), key)
		want(t, runDoctor(t, s, ""), "cert", statusFail, "P-384")
	})
	t.Run("expired", func(t *testing.T) {
		s := quicSettings(t)
		provision(t, s)
		crt, key := selfSigned(t, elliptic.P256(), time.Now().Add(-time.Hour))
		writeFile(t, filepath.Join(s.QUIC.QUICCertDir, certs.CertFileName), crt)
		writeFile(t, filepath.Join(s.QUIC.QUICCertDir, certs.KeyFileName), key)
		want(t, runDoctor(t, s, ""), "cert", statusWarn, "expired")
	})
	t.Run("missing and unwritable", func(t *testing.T) {
		s := quicSettings(t)
		s.QUIC.QUICCertDir = blocked(t)
		d := runDoctor(t, s, "")
		want(t, d, "cert-dir", statusFail, "cert ensure failed")
		want(t, d, "cert", statusFail, "no_credentials")
	})
	t.Run("read-only directory", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes to read-only directories")
		}
		s := quicSettings(t)
		if err := os.MkdirAll(s.QUIC.QUICCertDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(s.QUIC.QUICCertDir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(s.QUIC.QUICCertDir, 0o755) })
		d := runDoctor(t, s, "")
		want(t, d, "cert-dir", statusFail, "cannot be written")
		want(t, d, "cert", statusFail, "no_credentials")
	})
}

func selfSigned(t *testing.T, curve elliptic.Curve, notAfter time.Time) (crt, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

func TestDoctorKeypair(t *testing.T) {
	t.Run("mismatch", func(t *testing.T) {
		s := quicSettings(t)
		provision(t, s)
		other, _ := auth.GenerateKeyPair(nil)
		writeFile(t, filepath.Join(s.QUIC.AuthKeyDir, auth.PubFileName), other.Public)
		f := want(t, runDoctor(t, s, ""), "keypair", statusFail, "keypair_mismatch")
		if !strings.Contains(f.Fix, "backups") {
			t.Fatalf("fix %q does not point at the backups", f.Fix)
		}
	})
	t.Run("invalid size", func(t *testing.T) {
		s := quicSettings(t)
		provision(t, s)
		writeFile(t, filepath.Join(s.QUIC.AuthKeyDir, auth.KeyFileName), []byte("short"))
		want(t, runDoctor(t, s, ""), "keypair", statusFail, "invalid_key_size")
	})
	t.Run("unreadable", func(t *testing.T) {
		s := quicSettings(t)
		provision(t, s)
		p := filepath.Join(s.QUIC.AuthKeyDir, auth.PubFileName)
		os.Remove(p)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		want(t, runDoctor(t, s, ""), "keypair", statusFail, "read_pubkey_failed")
	})
	t.Run("pub missing", func(t *testing.T) {
		s := quicSettings(t)
		provision(t, s)
		os.Remove(filepath.Join(s.QUIC.AuthKeyDir, auth.PubFileName))
		want(t, runDoctor(t, s, ""), "keypair", statusOK, "derives it")
	})
	t.Run("missing and unwritable", func(t *testing.T) {
		s := quicSettings(t)
		s.QUIC.AuthKeyDir = blocked(t)
		d := runDoctor(t, s, "")
		want(t, d, "key-dir", statusFail, "Failed to initialize keypair")
		want(t, d, "keypair", statusFail, "Failed to initialize keypair")
	})
}

func TestDoctorAuth(t *testing.T) {
	t.Run("enabled without authenticator", func(t *testing.T) {
		s := quicSettings(t)
		s.QUIC.Authenticator = auth.Disabled{}
		want(t, runDoctor(t, s, ""), "auth", statusFail, "auth_enabled_without_callback")
	})
	t.Run("disabled", func(t *testing.T) {
		s := quicSettings(t)
		s.QUIC.AuthEnabled = false
		d := runDoctor(t, s, "")
		want(t, d, "auth", statusWarn, "auth_enabled=false")
		for _, f := range d.out {
			if f.Check == "keypair" || f.Check == "pins" {
				t.Fatalf("%s checked with auth off", f.Check)
			}
		}
	})
	t.Run("timeout beyond window", func(t *testing.T) {
		s := quicSettings(t)
		s.QUIC.AuthHandshakeTimeout = time.Minute
		want(t, runDoctor(t, s, ""), "auth", statusWarn, "exceeds")
	})
}

func TestDoctorPins(t *testing.T) {
	pinFile := func(s doctorSettings, n string) string {
		return filepath.Join(s.QUIC.AuthKeyDir, auth.TrustedDirName, n+".pub")
	}
	key := func() []byte { k, _ := auth.GenerateKeyPair(nil); return k.Public }
	t.Run("strict without pins", func(t *testing.T) {
		s := quicSettings(t)
		provision(t, s)
		s.QUIC.AuthTrustMode = auth.TrustStrict
		f := want(t, runDoctor(t, s, ""), "pins", statusFail, "untrusted_key")
		if !strings.Contains(f.Fix, "tofu") {
			t.Fatalf("fix %q", f.Fix)
		}
	})
	t.Run("strict without a contact's pin", func(t *testing.T) {
		s := quicSettings(t)
		provision(t, s)
		s.QUIC.AuthTrustMode = auth.TrustStrict
		s.Contacts = []string{"seed@127.0.0.1"}
		writeFile(t, pinFile(s, "other@127.0.0.1"), key())
		want(t, runDoctor(t, s, ""), "pins", statusFail, "seed@127.0.0.1")
		writeFile(t, pinFile(s, "seed@127.0.0.1"), key())
		want(t, runDoctor(t, s, ""), "pins", statusOK, "2 pinned")
	})
	t.Run("invalid pin files", func(t *testing.T) {
		s := quicSettings(t)
		provision(t, s)
		writeFile(t, pinFile(s, "short@127.0.0.1"), []byte("abc"))
		writeFile(t, pinFile(s, "no-at-sign"), key())
		f := want(t, runDoctor(t, s, ""), "pins", statusWarn, "Invalid key size")
		if !strings.Contains(f.Detail, "Invalid node name") {
			t.Fatalf("detail %q misses the bad name", f.Detail)
		}
	})
	t.Run("tofu", func(t *testing.T) {
		s := quicSettings(t)
		provision(t, s)
		want(t, runDoctor(t, s, ""), "pins", statusOK, "tofu")
		if _, err := os.Stat(filepath.Join(s.QUIC.AuthKeyDir, auth.TrustedDirName)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the doctor created trusted/: %v", err)
		}
	})
}

func TestDoctorCookie(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		s := quicSettings(t)
		s.Proto, s.Cookie, s.CookieErr = "tcp", "", errors.New("no cookie: set cookie")
		s.EPMD = "127.0.0.1:1"
		want(t, runDoctor(t, s, ""), "cookie", statusFail, "no cookie")
	})
	t.Run("default", func(t *testing.T) {
		s := quicSettings(t)
		s.Cookie = protodist.DefaultDistCookie
		want(t, runDoctor(t, s, ""), "cookie", statusWarn, "default distribution cookie")
	})
	t.Run("default with cookie_only_nodes", func(t *testing.T) {
		s := quicSettings(t)
		s.Cookie = protodist.DefaultDistCookie
		s.QUIC.CookieOnlyNodes = []string{"legacy@*"}
		want(t, runDoctor(t, s, ""), "cookie", statusFail, "cookie_only_nodes_with_default_cookie")
	})
}

func TestDoctorDiscovery(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		s := quicSettings(t)
		os.MkdirAll(s.QUIC.DiscoveryDir, 0o755)
		writeFile(t, filepath.Join(s.QUIC.DiscoveryDir, s.Name+".endpoint"), []byte("{\"127.0.0.1\",9100}.\n"))
		want(t, runDoctor(t, s, ""), "endpoints", statusWarn, "holds no endpoint file of another node")
	})
	t.Run("malformed", func(t *testing.T) {
		s := quicSettings(t)
		writeFile(t, filepath.Join(s.QUIC.DiscoveryDir, "a@127.0.0.1.endpoint"), []byte("{\"host\": 1}"))
		writeFile(t, filepath.Join(s.QUIC.DiscoveryDir, "b@127.0.0.1.endpoint"), []byte("{\"127.0.0.1\",9100}.\n"))
		d := runDoctor(t, s, "")
		want(t, d, "endpoints", statusWarn, "a@127.0.0.1.endpoint")
		want(t, d, "endpoints", statusOK, "b@127.0.0.1")
	})
	t.Run("unwritable", func(t *testing.T) {
		s := quicSettings(t)
		s.QUIC.DiscoveryDir = blocked(t)
		want(t, runDoctor(t, s, ""), "discovery", statusFail, "not a directory")
	})
}

func TestDoctorContacts(t *testing.T) {
	s := quicSettings(t)
	writeFile(t, filepath.Join(s.QUIC.DiscoveryDir, "filed@127.0.0.1.endpoint"), []byte("{\"127.0.0.1\",9100}.\n"))
	writeFile(t, filepath.Join(s.QUIC.DiscoveryDir, "broken@127.0.0.1.endpoint"), []byte("nonsense"))
	s.Contacts = []string{"filed@127.0.0.1", "unfiled@127.0.0.1", "broken@127.0.0.1", "gone@nonexistent.invalid"}
	d := runDoctor(t, s, "")
	want(t, d, "contacts", statusOK, "filed@127.0.0.1 -> 127.0.0.1:9100 (endpoint file)")
	want(t, d, "contacts", statusWarn, "unfiled@127.0.0.1: no endpoint file")
	want(t, d, "contacts", statusFail, "broken@127.0.0.1")
	want(t, d, "contacts", statusFail, "gone@nonexistent.invalid does not resolve")
}

func TestDoctorListenQUIC(t *testing.T) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.UDPAddr).Port
	s := quicSettings(t)
	s.QUIC.ListenPort = port
	want(t, runDoctor(t, s, ""), "listen", statusWarn, "already bound")
	// The node's own endpoint file names the port: it is the node.
	writeFile(t, filepath.Join(s.QUIC.DiscoveryDir, s.Name+".endpoint"), []byte("{\"127.0.0.1\","+strconv.Itoa(port)+"}.\n"))
	want(t, runDoctor(t, s, ""), "listen", statusOK, "the node is running")
	// An address of no interface here.
	s = quicSettings(t)
	s.QUIC.Address = netip.MustParseAddr("192.0.2.77")
	s.QUIC.ListenPort = 4433
	want(t, runDoctor(t, s, ""), "listen", statusFail, "cannot bind")
}

func TestDoctorTCP(t *testing.T) {
	srv, err := epmd.Start(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := doctorSettings{Name: "doc@127.0.0.1", Proto: "tcp", Cookie: "c", EPMD: srv.Addr().String(), TCPListen: l.Addr().String(),
		Contacts: []string{"absent@127.0.0.1"}}
	d := runDoctor(t, s, "")
	want(t, d, "epmd", statusOK, "answers")
	want(t, d, "listen", statusWarn, "already bound")
	want(t, d, "contacts", statusFail, "not registered")

	// No EPMD, and none may be embedded.
	free := freePort(t)
	s = doctorSettings{Name: "doc@127.0.0.1", Proto: "tcp", Cookie: "c", EPMD: "127.0.0.1:" + strconv.Itoa(free), NoEmbeddedEPMD: true}
	want(t, runDoctor(t, s, ""), "epmd", statusFail, "no EPMD answers")
	s.NoEmbeddedEPMD = false
	want(t, runDoctor(t, s, ""), "epmd", statusOK, "will embed one")
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// A Go peer on TCP: wrong cookie, right cookie, a skewed clock, a node that
// is not there, and the name of a running node.
func TestDoctorPeerTCP(t *testing.T) {
	srv, err := epmd.Start(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	peer, err := node.Start(ctx, node.Options{Name: "docpeer@127.0.0.1", Cookie: "right", EPMDAddr: srv.Addr().String(), NoEmbeddedEPMD: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Stop()
	s := doctorSettings{Name: "doc@127.0.0.1", Proto: "tcp", Cookie: "wrong", EPMD: srv.Addr().String(), NoEmbeddedEPMD: true}

	d := runDoctor(t, s, "docpeer@127.0.0.1")
	want(t, d, "dial", statusFail, "cookie mismatch")

	s.Cookie = "right"
	d = runDoctor(t, s, "docpeer@127.0.0.1")
	want(t, d, "dial", statusOK, "connected to docpeer@127.0.0.1")
	want(t, d, "clock", statusSkip, "does not answer erlang:system_time")

	var offset time.Duration
	peer.RegisterFunc("erlang", "system_time", func(context.Context, []etf.Term) (etf.Term, error) {
		return time.Now().Add(offset).UnixMilli(), nil
	})
	want(t, runDoctor(t, s, "docpeer@127.0.0.1"), "clock", statusOK, "docpeer@127.0.0.1's clock")
	offset = 45 * time.Second
	want(t, runDoctor(t, s, "docpeer@127.0.0.1"), "clock", statusWarn, "ahead of")
	offset = -5 * time.Minute
	f := want(t, runDoctor(t, s, "docpeer@127.0.0.1"), "clock", statusFail, "behind")
	if !strings.Contains(f.Symptom, "peer_ts_skew") {
		t.Fatalf("symptom %q", f.Symptom)
	}

	want(t, runDoctor(t, s, "nobody@127.0.0.1"), "dial", statusFail, "not registered in EPMD")

	// While doc@127.0.0.1 runs, the doctor dials under another name.
	running, err := node.Start(ctx, node.Options{Name: "doc@127.0.0.1", Cookie: "right", EPMDAddr: srv.Addr().String(), NoEmbeddedEPMD: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer running.Stop()
	want(t, runDoctor(t, s, "docpeer@127.0.0.1"), "dial", statusOK, "as doc_doctor@127.0.0.1")
}

// goQUICPeer starts a Go node on the QUIC carrier publishing its endpoint
// in disc; mod adjusts its barrel_p2p configuration.
func goQUICPeer(t *testing.T, name, disc string, mod func(*protodist.Config)) (*node.Node, protodist.Config) {
	t.Helper()
	cfg := protodist.DefaultConfig(t.TempDir())
	cfg.DistCookie = "secret"
	cfg.DiscoveryDir = disc
	if mod != nil {
		mod(&cfg)
	}
	tr, err := protodist.NewFromConfig(cfg, name, 0, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	n, err := node.Start(ctx, node.Options{Name: name, Cookie: cfg.DistCookie, Transport: tr, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	return n, cfg
}

func TestDoctorPeerQUIC(t *testing.T) {
	s := quicSettings(t)
	me := provision(t, s)
	disc := s.QUIC.DiscoveryDir
	other, _ := auth.GenerateKeyPair(nil)

	t.Run("ok", func(t *testing.T) {
		goQUICPeer(t, "okpeer@127.0.0.1", disc, nil)
		d := runDoctor(t, s, "okpeer@127.0.0.1")
		want(t, d, "dial", statusOK, "Ed25519 auth and cookie accepted")
		// The doctor's TOFU success pinned nothing on disk.
		if _, err := os.Stat(filepath.Join(s.QUIC.AuthKeyDir, auth.TrustedDirName, "okpeer@127.0.0.1.pub")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the doctor wrote a pin: %v", err)
		}
	})
	t.Run("peer strict without our pin", func(t *testing.T) {
		goQUICPeer(t, "strictpeer@127.0.0.1", disc, func(c *protodist.Config) { c.AuthTrustMode = auth.TrustStrict })
		f := want(t, runDoctor(t, s, "strictpeer@127.0.0.1"), "dial", statusFail, "untrusted_key")
		if !strings.Contains(f.Fix, "store_key('doc@127.0.0.1', binary:decode_hex(<<\""+hex.EncodeToString(me.Public)) {
			t.Fatalf("fix %q does not say how to pin us", f.Fix)
		}
	})
	t.Run("peer holds another key for us", func(t *testing.T) {
		goQUICPeer(t, "pinnedpeer@127.0.0.1", disc, func(c *protodist.Config) {
			writeFile(t, filepath.Join(c.AuthKeyDir, auth.TrustedDirName, "doc@127.0.0.1.pub"), other.Public)
		})
		want(t, runDoctor(t, s, "pinnedpeer@127.0.0.1"), "dial", statusFail, "{auth_rejected, key_mismatch}")
	})
	t.Run("we hold another key for the peer", func(t *testing.T) {
		goQUICPeer(t, "rotated@127.0.0.1", disc, nil)
		p := filepath.Join(s.QUIC.AuthKeyDir, auth.TrustedDirName, "rotated@127.0.0.1.pub")
		writeFile(t, p, other.Public)
		defer os.Remove(p)
		want(t, runDoctor(t, s, "rotated@127.0.0.1"), "dial", statusFail, "key_mismatch")
	})
	t.Run("we are strict without the peer's pin", func(t *testing.T) {
		goQUICPeer(t, "unpinned@127.0.0.1", disc, nil)
		s2 := s
		s2.QUIC.AuthTrustMode = auth.TrustStrict
		writeFile(t, filepath.Join(s.QUIC.AuthKeyDir, auth.TrustedDirName, "someone@127.0.0.1.pub"), other.Public)
		want(t, runDoctor(t, s2, "unpinned@127.0.0.1"), "dial", statusFail, "untrusted_key")
	})
	t.Run("wrong cookie", func(t *testing.T) {
		goQUICPeer(t, "cookiepeer@127.0.0.1", disc, func(c *protodist.Config) { c.DistCookie = "another" })
		want(t, runDoctor(t, s, "cookiepeer@127.0.0.1"), "dial", statusFail, "cookie mismatch")
	})
	t.Run("not discoverable", func(t *testing.T) {
		want(t, runDoctor(t, s, "ghost@nonexistent.invalid"), "dial", statusFail, "")
	})
}

// Against stock OTP over TCP: the cookie check and a real clock.
func TestDoctorPeerErlang(t *testing.T) {
	e := erlharness.StartNodeT(t, erlharness.NodeOptions{Cookie: "erlcookie"})
	s := doctorSettings{Name: "doc@127.0.0.1", Proto: "tcp", Cookie: "wrong", EPMD: e.EPMDAddr(), NoEmbeddedEPMD: true}
	want(t, runDoctor(t, s, string(e.Name())), "dial", statusFail, "cookie mismatch")
	s.Cookie = "erlcookie"
	d := runDoctor(t, s, string(e.Name()))
	want(t, d, "dial", statusOK, "connected")
	want(t, d, "clock", statusOK, "clock is")
}

// The command end to end: a config file with strict trust and no pins
// fails with exit status 1, and one that does not load reports why.
func TestDoctorCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "barrelgo.toml")
	writeFile(t, cfg, []byte(`name = "doc@127.0.0.1"
proto = "quic"
cookie = "secret"
data_dir = "`+filepath.Join(dir, "data")+`"

[quic]
auth_trust_mode = "strict"
`))
	var out, errb bytes.Buffer
	err := cmdDoctor(t.Context(), []string{"--config", cfg}, &out, &errb)
	if err == nil || !strings.Contains(out.String(), "FAIL  pins") || !strings.Contains(out.String(), "config "+cfg) {
		t.Fatalf("doctor = %v\n%s%s", err, out.String(), errb.String())
	}
	// Flags override the file, as for barrelgo node.
	out.Reset()
	if err := cmdDoctor(t.Context(), []string{"--config", cfg, "-trust-mode", "tofu"}, &out, &errb); err != nil {
		t.Fatalf("doctor with tofu = %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "ok    pins") {
		t.Fatalf("output:\n%s", out.String())
	}

	bad := filepath.Join(dir, "bad.toml")
	writeFile(t, bad, []byte("proto = \"quic\"\n[quic]\ncookie_only_nodes = [\"legacy@*\"]\n"))
	out.Reset()
	err = cmdDoctor(t.Context(), []string{"--config", bad}, &out, &errb)
	if err == nil || !strings.Contains(out.String(), "cookie_only_nodes_with_default_cookie") {
		t.Fatalf("doctor of a config with cookie_only_nodes and the default cookie = %v\n%s", err, out.String())
	}

	for _, args := range [][]string{{"extra"}, {"--peer", "nohost"}, {"--as", "x"}} {
		var ue usageError
		if err := cmdDoctor(t.Context(), args, &out, &errb); !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

// Against real barrel_p2p nodes over QUIC (with BARREL_P2P_ERL and
// BARREL_P2P_ERL_LIBS): a healthy dial and clock, a strict node without
// our pin, and a cookie mismatch, which barrel_p2p answers with silence.
func TestDoctorPeerBarrel(t *testing.T) {
	barrelharness.Require(t)
	s := quicSettings(t)
	provision(t, s)
	start := func(prefix string, mod func(*barrelharness.Options)) *barrelharness.Node {
		o := barrelharness.Options{Name: barrelharness.UniqueName(prefix) + "@127.0.0.1", Dir: t.TempDir(),
			DiscoveryDir: s.QUIC.DiscoveryDir, Cookie: "secret"}
		if mod != nil {
			mod(&o)
		}
		return barrelharness.StartT(t, o)
	}
	ok := start("docok", nil)
	d := runDoctor(t, s, string(ok.Name()))
	want(t, d, "dial", statusOK, "Ed25519 auth and cookie accepted")
	want(t, d, "clock", statusOK, "clock is")

	strict := start("docstrict", func(o *barrelharness.Options) { o.TrustMode = "strict" })
	want(t, runDoctor(t, s, string(strict.Name())), "dial", statusFail, "{auth_rejected, untrusted_key}")

	other := start("doccookie", func(o *barrelharness.Options) { o.Cookie = "another" })
	f := want(t, runDoctor(t, s, string(other.Name())), "dial", statusFail, "stays silent on a bad cookie")
	if !strings.Contains(f.Cause, "cookie mismatch") {
		t.Fatalf("cause %q", f.Cause)
	}
}

// docs/configuration.md documents every key and flag the configuration
// code knows, so the reference cannot fall behind.
func TestConfigurationDocCoversEveryKey(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, k := range keyTable {
		// Top-level and [section] keys are written with their section.
		if !strings.Contains(doc, "`"+k.name+"`") {
			t.Errorf("docs/configuration.md does not document key %s", k.name)
		}
		if k.flag != "" && !strings.Contains(doc, "`-"+k.flag) {
			t.Errorf("docs/configuration.md does not mention flag -%s of %s", k.flag, k.name)
		}
	}
}
