package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/barrelgo/barrelgo/protodist/auth/securefile"
)

// File names inside auth_key_dir (auth.md §10.2).
const (
	KeyFileName     = "node.key" // raw 32-byte Ed25519 seed, 0600
	PubFileName     = "node.pub" // raw 32-byte public key, 0600
	TrustedDirName  = "trusted"  // <node>.pub pins
	BackupsDirName  = "backups"  // <YYYYMMDDTHHMMSSZ>/ from RotateIdentity
	PinFileSuffix   = ".pub"
	identityFileMax = 4096 // refuse to read anything bigger than a key file
)

// KeyPair is a node's Ed25519 identity.
type KeyPair struct {
	Private ed25519.PrivateKey // 64 bytes; Private.Seed() is node.key
	Public  ed25519.PublicKey  // node.pub
}

// IdentitySource yields the identity to sign with. barrel_p2p re-reads its
// key files for every signature so that a rotation takes effect at once;
// KeyDir does the same, a KeyPair is fixed.
type IdentitySource interface {
	Identity() (KeyPair, error)
}

// Identity returns k itself.
func (k KeyPair) Identity() (KeyPair, error) { return k, nil }

// KeyPairFromSeed derives the keypair of a 32-byte seed (node.key).
func KeyPairFromSeed(seed []byte) (KeyPair, error) {
	if len(seed) != ed25519.SeedSize {
		return KeyPair{}, fmt.Errorf("auth: seed of %d bytes: %w", len(seed), ErrInvalidKeySize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return KeyPair{Private: priv, Public: priv.Public().(ed25519.PublicKey)}, nil
}

// GenerateKeyPair makes a fresh identity from r (nil: crypto/rand).
func GenerateKeyPair(r io.Reader) (KeyPair, error) {
	if r == nil {
		r = rand.Reader
	}
	pub, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return KeyPair{}, fmt.Errorf("auth: generate keypair: %w", err)
	}
	return KeyPair{Private: priv, Public: pub}, nil
}

// Check verifies that Public derives from Private's seed.
func (k KeyPair) Check() error {
	if len(k.Private) != ed25519.PrivateKeySize || len(k.Public) != ed25519.PublicKeySize {
		return fmt.Errorf("auth: keypair: %w", ErrInvalidKeySize)
	}
	derived := ed25519.NewKeyFromSeed(k.Private.Seed()).Public().(ed25519.PublicKey)
	if !derived.Equal(k.Public) {
		return fmt.Errorf("auth: keypair: %w", ErrKeypairMismatch)
	}
	return nil
}

// Fingerprint is SHA-256 of a raw 32-byte public key
// (barrel_p2p_dist_keys:fingerprint/1).
func Fingerprint(pub []byte) [32]byte { return sha256.Sum256(pub) }

// FingerprintHex is Fingerprint as 64 lowercase hex digits, the form of
// barrel_p2p's rotation log line.
func FingerprintHex(pub []byte) string {
	f := Fingerprint(pub)
	return hex.EncodeToString(f[:])
}

// KeyDir is an auth_key_dir. As an IdentitySource it loads node.key and
// node.pub on every call, like barrel_p2p's get_private_key/get_public_key.
type KeyDir string

// Identity loads and checks the keypair in the directory.
func (d KeyDir) Identity() (KeyPair, error) { return LoadKeyPair(string(d)) }

// LoadKeyPair reads dir/node.key and dir/node.pub (barrel_p2p
// load_keypair): both 32 bytes (else invalid_key_size), the public key
// derived from the seed equal to node.pub (else keypair_mismatch).
func LoadKeyPair(dir string) (KeyPair, error) {
	seed, err := readSmall(filepath.Join(dir, KeyFileName))
	if err != nil {
		return KeyPair{}, fmt.Errorf("auth: {read_privkey_failed,%s}: %w", posixName(err), err)
	}
	pub, err := readSmall(filepath.Join(dir, PubFileName))
	if err != nil {
		return KeyPair{}, fmt.Errorf("auth: {read_pubkey_failed,%s}: %w", posixName(err), err)
	}
	if len(seed) != ed25519.SeedSize || len(pub) != ed25519.PublicKeySize {
		return KeyPair{}, fmt.Errorf("auth: %s: node.key %d bytes, node.pub %d bytes: %w",
			dir, len(seed), len(pub), ErrInvalidKeySize)
	}
	k, _ := KeyPairFromSeed(seed)
	if !bytes.Equal(k.Public, pub) {
		return KeyPair{}, fmt.Errorf("auth: %s: node.pub %s is not the public key of node.key (%s); restore the pair from %s/ or rotate: %w",
			dir, FingerprintHex(pub), FingerprintHex(k.Public), BackupsDirName, ErrKeypairMismatch)
	}
	return k, nil
}

// SaveKeyPair writes node.key then node.pub, each atomically and 0600
// (barrel_p2p save_keypair). The pair as a whole is made crash-safe by
// RotateIdentity's staging, not here.
func SaveKeyPair(dir string, k KeyPair) error {
	if err := k.Check(); err != nil {
		return err
	}
	if err := securefile.Write(filepath.Join(dir, KeyFileName), k.Private.Seed()); err != nil {
		return fmt.Errorf("auth: write_privkey_failed: %w", err)
	}
	if err := securefile.Write(filepath.Join(dir, PubFileName), k.Public); err != nil {
		return fmt.Errorf("auth: write_pubkey_failed: %w", err)
	}
	return nil
}

// EnsureKeyPair is barrel_p2p's ensure_keypair: it creates dir, finishes or
// rolls back an interrupted rotation (see RotateIdentity), and loads the
// pair, generating one when none exists. Unlike barrel_p2p it keeps a
// surviving node.key when only node.pub is missing (the public key derives
// from the seed) and refuses a mismatched pair with ErrKeypairMismatch
// instead of logging and signing with it.
func EnsureKeyPair(dir string, r io.Reader) (KeyPair, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return KeyPair{}, fmt.Errorf("auth: {mkdir_failed,%s}: %w", posixName(err), err)
	}
	if err := recoverIdentity(dir); err != nil {
		return KeyPair{}, err
	}
	keyPath, pubPath := filepath.Join(dir, KeyFileName), filepath.Join(dir, PubFileName)
	haveKey, havePub := securefile.IsRegular(keyPath), securefile.IsRegular(pubPath)
	switch {
	case haveKey && havePub:
		return LoadKeyPair(dir)
	case haveKey:
		seed, err := readSmall(keyPath)
		if err != nil {
			return KeyPair{}, fmt.Errorf("auth: {read_privkey_failed,%s}: %w", posixName(err), err)
		}
		k, err := KeyPairFromSeed(seed)
		if err != nil {
			return KeyPair{}, err
		}
		if err := securefile.Write(pubPath, k.Public); err != nil {
			return KeyPair{}, fmt.Errorf("auth: write_pubkey_failed: %w", err)
		}
		return k, nil
	}
	k, err := GenerateKeyPair(r)
	if err != nil {
		return KeyPair{}, err
	}
	if err := SaveKeyPair(dir, k); err != nil {
		return KeyPair{}, err
	}
	return k, nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, identityFileMax))
}

// posixName maps a file error to the Erlang posix atom barrel_p2p reports.
func posixName(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "enoent"
	case errors.Is(err, fs.ErrPermission):
		return "eacces"
	case errors.Is(err, fs.ErrExist):
		return "eexist"
	}
	return "eio"
}
