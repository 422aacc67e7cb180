// Package certs creates and loads the self-signed TLS certificate barrelgo's
// QUIC carrier serves, exactly as barrel_p2p_quic_cert does: ECDSA P-256,
// CN=barrel_p2p-node, O=Barrel P2P, in <quic_cert_dir>/node.crt + node.key.
// It also yields the channel binding, SHA-256 of the leaf DER, that the
// Ed25519 auth exchange signs over (auth.md §5, §12).
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/barrelgo/barrelgo/protodist/auth/securefile"
)

// File names inside quic_cert_dir.
const (
	CertFileName = "node.crt"
	KeyFileName  = "node.key"
)

// Subject of generated certificates. barrel_p2p uses the node name as CN
// only when the VM is already distributed; at first boot (inside the
// proto_dist listen) it is not, and every certificate recorded from live
// nodes carries CN=barrel_p2p-node (vectors README §3.3, §4.1). Ensure
// therefore uses DefaultCommonName; Rotate, like rotate_cert/0 on a running
// node, uses the node name.
const (
	DefaultCommonName = "barrel_p2p-node"
	Organization      = "Barrel P2P"
)

// Validity of generated certificates (barrel_p2p_quic_cert).
const (
	Backdate = 300 * time.Second
	Lifetime = 365 * 24 * time.Hour
)

// maxPEM bounds what is read from a cert or key file.
const maxPEM = 1 << 20

var (
	// ErrNoCredentials: no certificate/key files where they were expected
	// (quic_dist's {credentials,no_credentials}).
	ErrNoCredentials = errors.New("no_credentials")
	// ErrCertEnsureFailed: generating missing credentials failed
	// (barrel_p2p's "cert ensure failed: <reason>").
	ErrCertEnsureFailed = errors.New("cert ensure failed")
	// ErrLoadCredentials: files exist but are unreadable or invalid
	// (quic_dist's {credentials,{load_credentials,_}}).
	ErrLoadCredentials = errors.New("load_credentials")
)

// Credentials are what the carrier needs from the cert directory.
type Credentials struct {
	// Certificate is ready for tls.Config.Certificates; Leaf is set.
	Certificate tls.Certificate
	// Binding is SHA-256 of the leaf DER: the server's auth binding.
	Binding [32]byte
	// CertFile, KeyFile are the paths loaded.
	CertFile, KeyFile string
	// Generated is true when Ensure created the files.
	Generated bool
}

// Leaf is the parsed certificate.
func (c *Credentials) Leaf() *x509.Certificate { return c.Certificate.Leaf }

// Binding returns SHA-256 of a certificate's DER, the channel binding.
func Binding(der []byte) [32]byte { return sha256.Sum256(der) }

// Options tunes generation; the zero value is production.
type Options struct {
	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // nil: time.Now
	Rand   io.Reader        // nil: crypto/rand
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}

func (o Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

func (o Options) rand() io.Reader {
	if o.Rand == nil {
		return rand.Reader
	}
	return o.Rand
}

// Ensure is barrel_p2p's ensure_cert at listener start: when dir/node.crt
// and dir/node.key both exist it loads them, else it generates both
// (overwriting a lone survivor). nodeName only labels errors and logs; the
// CN is DefaultCommonName, as on a real first boot. Unlike barrel_p2p,
// existing files are validated: a broken pair fails with ErrLoadCredentials
// rather than being served and failing every handshake.
func Ensure(dir, nodeName string) (*Credentials, error) {
	return EnsureWith(dir, nodeName, Options{})
}

// EnsureWith is Ensure with options.
func EnsureWith(dir, nodeName string, o Options) (*Credentials, error) {
	recoverCert(dir)
	certPath, keyPath := filepath.Join(dir, CertFileName), filepath.Join(dir, KeyFileName)
	if securefile.IsRegular(certPath) && securefile.IsRegular(keyPath) {
		return LoadFiles(certPath, keyPath)
	}
	if err := Generate(dir, DefaultCommonName, o); err != nil {
		o.logger().Error("barrel_p2p_dist: cert ensure failed: "+err.Error(), "dir", dir, "node", nodeName)
		return nil, fmt.Errorf("certs: %s: %w: %w", nodeName, ErrCertEnsureFailed, err)
	}
	c, err := LoadFiles(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w: %w", nodeName, ErrCertEnsureFailed, err)
	}
	c.Generated = true
	return c, nil
}

// Load reads dir/node.crt and dir/node.key; missing files are
// ErrNoCredentials.
func Load(dir string) (*Credentials, error) {
	return LoadFiles(filepath.Join(dir, CertFileName), filepath.Join(dir, KeyFileName))
}

// LoadFiles reads a PEM certificate file holding exactly one CERTIFICATE
// block (quic_dist's rule: no chains) and a PEM key file in any form
// barrel_p2p's peers accept (EC PRIVATE KEY as generated, PKCS#8 PRIVATE
// KEY or RSA PRIVATE KEY as made by barrel_p2p_gen_cert.sh), and checks
// that they belong together.
func LoadFiles(certPath, keyPath string) (*Credentials, error) {
	certPEM, err := readPEM(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := readPEM(keyPath)
	if err != nil {
		return nil, err
	}
	var ders [][]byte
	for rest := certPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			ders = append(ders, b.Bytes)
		}
	}
	if len(ders) != 1 {
		return nil, fmt.Errorf("certs: %s: %d CERTIFICATE blocks, want exactly 1: %w", certPath, len(ders), ErrLoadCredentials)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: %s + %s: %w: %w", certPath, keyPath, ErrLoadCredentials, err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(ders[0]); err != nil {
			return nil, fmt.Errorf("certs: %s: %w: %w", certPath, ErrLoadCredentials, err)
		}
	}
	return &Credentials{Certificate: pair, Binding: Binding(ders[0]), CertFile: certPath, KeyFile: keyPath}, nil
}

func readPEM(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("certs: %s: %w", path, ErrNoCredentials)
	}
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w: %w", path, ErrLoadCredentials, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPEM+1))
	if err == nil && len(b) > maxPEM {
		err = errors.New("larger than 1 MiB")
	}
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w: %w", path, ErrLoadCredentials, err)
	}
	return b, nil
}

// Generate writes a fresh key and certificate with the given CN into dir
// (barrel_p2p_quic_cert:generate_cert/1). Both files are staged before
// either is replaced; the key is committed first, then the certificate, so
// a crash leaves either the old pair, or a new key with node.crt.tmp that
// Ensure completes.
func Generate(dir, commonName string, o Options) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("mkdir_failed: %w", err)
	}
	certPEM, keyPEM, err := Create(commonName, o)
	if err != nil {
		return err
	}
	certPath, keyPath := filepath.Join(dir, CertFileName), filepath.Join(dir, KeyFileName)
	if err := securefile.Stage(keyPath, keyPEM); err != nil {
		return fmt.Errorf("file_write_failed: %w", err)
	}
	if err := securefile.Stage(certPath, certPEM); err != nil {
		securefile.Discard(keyPath)
		return fmt.Errorf("file_write_failed: %w", err)
	}
	if err := securefile.Commit(keyPath); err != nil {
		securefile.Discard(certPath)
		return fmt.Errorf("file_write_failed: %w", err)
	}
	if err := securefile.Commit(certPath); err != nil {
		return fmt.Errorf("file_write_failed: %w", err)
	}
	o.logger().Info("QUIC certificates generated in "+dir, "dir", dir)
	return nil
}

// recoverCert settles an interrupted Generate: with node.key.tmp present
// nothing was replaced, so drop the temporaries; with only node.crt.tmp
// present the key was replaced, so install the certificate if it matches
// the key, else drop it (Ensure then regenerates or reports).
func recoverCert(dir string) {
	certPath, keyPath := filepath.Join(dir, CertFileName), filepath.Join(dir, KeyFileName)
	if _, err := os.Lstat(keyPath + securefile.TmpSuffix); err == nil {
		securefile.Discard(keyPath)
		securefile.Discard(certPath)
		return
	}
	staged, err := os.ReadFile(certPath + securefile.TmpSuffix)
	if err != nil {
		return
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err == nil {
		if _, err := tls.X509KeyPair(staged, keyPEM); err == nil {
			_ = securefile.Commit(certPath)
			return
		}
	}
	securefile.Discard(certPath)
}

// Create makes a key and self-signed certificate in memory and returns
// their PEM encodings: "CERTIFICATE" and SEC 1 "EC PRIVATE KEY".
func Create(commonName string, o Options) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), o.rand())
	if err != nil {
		return nil, nil, fmt.Errorf("key_generation_failed: %w", err)
	}
	der, err := CreateDER(commonName, key, o)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("key_generation_failed: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

var (
	oidCN  = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidO   = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidBC  = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidKU  = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidEKU = asn1.ObjectIdentifier{2, 5, 29, 37}

	oidServerAuth = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}
	oidClientAuth = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2}
)

// CreateDER signs the certificate barrel_p2p generates for key: X.509 v3,
// subject = issuer = CN=<commonName>, O=Barrel P2P (two RDNs, that order,
// UTF8String), a positive 16-byte random serial (top bit cleared),
// notBefore = now - 300 s, notAfter = now + 365 days, ecdsa-with-SHA256,
// extensions basicConstraints CA:FALSE (critical), keyUsage
// digitalSignature (critical), extKeyUsage serverAuth+clientAuth, in that
// order, and no SAN, SKI or AKI.
func CreateDER(commonName string, key *ecdsa.PrivateKey, o Options) ([]byte, error) {
	name, err := rawName(commonName)
	if err != nil {
		return nil, fmt.Errorf("certificate_creation_failed: %w", err)
	}
	var sb [16]byte
	if _, err := io.ReadFull(o.rand(), sb[:]); err != nil {
		return nil, fmt.Errorf("certificate_creation_failed: %w", err)
	}
	sb[0] &= 0x7f
	exts, err := extensions()
	if err != nil {
		return nil, fmt.Errorf("certificate_creation_failed: %w", err)
	}
	now := o.now().UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:       new(big.Int).SetBytes(sb[:]),
		RawSubject:         name,
		RawIssuer:          name,
		NotBefore:          now.Add(-Backdate),
		NotAfter:           now.Add(Lifetime),
		SignatureAlgorithm: x509.ECDSAWithSHA256,
		ExtraExtensions:    exts,
	}
	der, err := x509.CreateCertificate(o.rand(), tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("certificate_creation_failed: %w", err)
	}
	return der, nil
}

// rawName encodes CN then O as separate RDNs with UTF8String values; Go's
// pkix.Name would order O first and pick PrintableString for "Barrel P2P".
func rawName(cn string) ([]byte, error) {
	atv := func(oid asn1.ObjectIdentifier, v string) []pkix.AttributeTypeAndValue {
		return []pkix.AttributeTypeAndValue{{Type: oid, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(v)}}}
	}
	return asn1.Marshal(pkix.RDNSequence{atv(oidCN, cn), atv(oidO, Organization)})
}

func extensions() ([]pkix.Extension, error) {
	bc, err := asn1.Marshal(struct{}{}) // SEQUENCE {}: cA defaults to FALSE
	if err != nil {
		return nil, err
	}
	ku, err := asn1.Marshal(asn1.BitString{Bytes: []byte{0x80}, BitLength: 1}) // digitalSignature
	if err != nil {
		return nil, err
	}
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidServerAuth, oidClientAuth})
	if err != nil {
		return nil, err
	}
	return []pkix.Extension{
		{Id: oidBC, Critical: true, Value: bc},
		{Id: oidKU, Critical: true, Value: ku},
		{Id: oidEKU, Value: eku},
	}, nil
}

// RotateInfo is barrel_p2p_rotate's Info map for a certificate rotation.
type RotateInfo struct {
	CertFile, KeyFile string
	// BackupDir is backups/<UTC timestamp>/, or "" when there was nothing
	// to back up (barrel_p2p's undefined).
	BackupDir string
	// RestartRequired is always true: the listener loads credentials once.
	RestartRequired bool
}

// Rotate is barrel_p2p_rotate:rotate_cert/1: back up node.crt/node.key to
// dir/backups/<UTC timestamp>/ (0600), generate a new pair with CN =
// nodeName (DefaultCommonName if empty), restore the backup on failure,
// and log barrel_p2p's warning. The listener must be restarted to serve it.
func Rotate(dir, nodeName string, o Options) (RotateInfo, error) {
	files := []string{CertFileName, KeyFileName}
	recoverCert(dir)
	bdir, err := securefile.Backup(dir, files, o.now())
	if err != nil {
		return RotateInfo{}, fmt.Errorf("certs: rotate: %w", err)
	}
	cn := nodeName
	if cn == "" {
		cn = DefaultCommonName
	}
	if err := Generate(dir, cn, o); err != nil {
		if bdir != "" {
			if rerr := securefile.Restore(bdir, dir, files); rerr != nil {
				o.logger().Error("certs: rotate: restoring backup failed", "backup", bdir, "err", rerr)
			}
		}
		return RotateInfo{}, fmt.Errorf("certs: rotate: %w", err)
	}
	bd := bdir
	if bd == "" {
		bd = "undefined"
	}
	o.logger().Warn(fmt.Sprintf("barrel_p2p_rotate: cert rotated in %s; node restart required for the listener to load the new credentials. Backup at %s", dir, bd),
		"dir", dir, "backup_dir", bdir)
	return RotateInfo{
		CertFile:        filepath.Join(dir, CertFileName),
		KeyFile:         filepath.Join(dir, KeyFileName),
		BackupDir:       bdir,
		RestartRequired: true,
	}, nil
}
