package auth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/barrelgo/barrelgo/protodist/auth/securefile"
)

// RotateInfo is barrel_p2p_rotate's Info map.
type RotateInfo struct {
	// CertFile is what barrel_p2p reports under cert_file: for an identity
	// rotation that is the node.pub path.
	CertFile string
	KeyFile  string
	// BackupDir is backups/<UTC timestamp>/, or "" when there was nothing
	// to back up (barrel_p2p's undefined).
	BackupDir       string
	RestartRequired bool
	// Fingerprint is the hex SHA-256 of the new public key.
	Fingerprint string
}

// RotateOptions tunes RotateIdentity; the zero value is production.
type RotateOptions struct {
	Logger *slog.Logger      // nil: slog.Default()
	Now    func() time.Time  // backup timestamp; nil: time.Now
	Rand   io.Reader         // key generation; nil: crypto/rand
	hook   func(step string) // tests: called between steps to simulate a crash
}

// identityFiles are backed up and restored, in barrel_p2p's order.
var identityFiles = []string{PubFileName, KeyFileName}

// RotateIdentity replaces the identity in dir (barrel_p2p_rotate:
// rotate_identity/1, auth.md §10.6): back up the existing files to
// dir/backups/<UTC timestamp>/, generate a keypair, install it, and log
// barrel_p2p's warning with the new fingerprint.
//
// Every step is crash-safe. Both new files are staged (node.key.tmp,
// node.pub.tmp, fsynced) before anything live changes; renaming node.key is
// the commit point; a crash after it leaves node.pub.tmp, which
// EnsureKeyPair renames forward because it derives from the new node.key. A
// crash before it leaves the old pair live and only .tmp files that
// EnsureKeyPair deletes.
func RotateIdentity(dir string, o RotateOptions) (RotateInfo, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	step := func(s string) {
		if o.hook != nil {
			o.hook(s)
		}
	}
	// A crash of an earlier rotation must be settled first, or its backup
	// would capture a torn pair.
	if err := recoverIdentity(dir); err != nil {
		return RotateInfo{}, err
	}
	bdir, err := securefile.Backup(dir, identityFiles, now())
	if err != nil {
		return RotateInfo{}, fmt.Errorf("auth: rotate identity: %w", err)
	}
	step("backed-up")
	k, err := GenerateKeyPair(o.Rand)
	if err != nil {
		return RotateInfo{}, err
	}
	keyPath, pubPath := filepath.Join(dir, KeyFileName), filepath.Join(dir, PubFileName)
	if err := securefile.Stage(keyPath, k.Private.Seed()); err != nil {
		return RotateInfo{}, fmt.Errorf("auth: rotate identity: write_privkey_failed: %w", err)
	}
	step("staged-key")
	if err := securefile.Stage(pubPath, k.Public); err != nil {
		securefile.Discard(keyPath)
		return RotateInfo{}, fmt.Errorf("auth: rotate identity: write_pubkey_failed: %w", err)
	}
	step("staged-both")
	if err := securefile.Commit(keyPath); err != nil {
		securefile.Discard(pubPath)
		return RotateInfo{}, fmt.Errorf("auth: rotate identity: write_privkey_failed: %w", err)
	}
	step("committed-key")
	if err := securefile.Commit(pubPath); err != nil {
		securefile.Discard(pubPath)
		if bdir != "" {
			if rerr := securefile.Restore(bdir, dir, identityFiles); rerr != nil {
				log.Error("auth: rotate identity: restoring backup failed", "backup", bdir, "err", rerr)
			}
		}
		return RotateInfo{}, fmt.Errorf("auth: rotate identity: write_pubkey_failed: %w", err)
	}
	step("committed-both")
	fp := FingerprintHex(k.Public)
	log.LogAttrs(context.Background(), slog.LevelWarn,
		fmt.Sprintf("barrel_p2p_rotate: identity rotated in %s; new fingerprint %s. Peers running in strict-trust mode must re-pin. Backup at %s",
			dir, fp, backupText(bdir)),
		slog.String("dir", dir), slog.String("fingerprint", fp), slog.String("backup_dir", bdir))
	return RotateInfo{CertFile: pubPath, KeyFile: keyPath, BackupDir: bdir, Fingerprint: fp}, nil
}

func backupText(bdir string) string {
	if bdir == "" {
		return "undefined"
	}
	return bdir
}

// RestoreIdentity puts the pair saved in backupDir (a backups/<ts>/
// directory) back into dir, with the same staging as RotateIdentity. The
// backup must hold a consistent pair.
func RestoreIdentity(dir, backupDir string) error {
	k, err := LoadKeyPair(backupDir)
	if err != nil {
		return fmt.Errorf("auth: restore identity from %s: %w", backupDir, err)
	}
	keyPath, pubPath := filepath.Join(dir, KeyFileName), filepath.Join(dir, PubFileName)
	if err := securefile.Stage(keyPath, k.Private.Seed()); err != nil {
		return fmt.Errorf("auth: restore identity: %w", err)
	}
	if err := securefile.Stage(pubPath, k.Public); err != nil {
		securefile.Discard(keyPath)
		return fmt.Errorf("auth: restore identity: %w", err)
	}
	if err := securefile.Commit(keyPath); err != nil {
		securefile.Discard(pubPath)
		return fmt.Errorf("auth: restore identity: %w", err)
	}
	if err := securefile.Commit(pubPath); err != nil {
		return fmt.Errorf("auth: restore identity: %w", err)
	}
	return nil
}

// recoverIdentity settles an interrupted write of the identity files.
//   - node.key.tmp present: node.key was never replaced, so the live pair is
//     the old one; drop both temporaries.
//   - only node.pub.tmp present: node.key was replaced (rotation past its
//     commit point, or barrel_p2p's save_keypair between its two writes);
//     install node.pub.tmp if it is the public half of node.key, else drop
//     it and let the load report what is on disk.
func recoverIdentity(dir string) error {
	keyPath, pubPath := filepath.Join(dir, KeyFileName), filepath.Join(dir, PubFileName)
	if _, err := os.Lstat(keyPath + securefile.TmpSuffix); err == nil {
		securefile.Discard(keyPath)
		securefile.Discard(pubPath)
		return nil
	}
	staged, err := readSmall(pubPath + securefile.TmpSuffix)
	if err != nil {
		return nil // nothing staged
	}
	seed, err := readSmall(keyPath)
	if err == nil && len(seed) == ed25519.SeedSize {
		k, _ := KeyPairFromSeed(seed)
		if bytes.Equal(staged, k.Public) {
			if err := securefile.Commit(pubPath); err != nil {
				return fmt.Errorf("auth: finish interrupted identity write: %w", err)
			}
			return nil
		}
	}
	securefile.Discard(pubPath)
	return nil
}
