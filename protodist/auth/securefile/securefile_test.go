package securefile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteIsPrivateAndAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "node.key")
	// A leftover world-readable temporary must not keep its mode.
	if err := os.WriteFile(p+TmpSuffix, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("secret")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != Mode {
		t.Fatalf("mode %v %v", fi.Mode().Perm(), err)
	}
	if b, _ := os.ReadFile(p); string(b) != "secret" {
		t.Errorf("content %q", b)
	}
	if _, err := os.Stat(p + TmpSuffix); !os.IsNotExist(err) {
		t.Error("temporary left behind")
	}
	// Stage leaves the live file alone until Commit.
	if err := Stage(p, []byte("next")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "secret" {
		t.Error("Stage changed the live file")
	}
	if err := Commit(p); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "next" {
		t.Error("Commit did not install")
	}
	if err := Write(filepath.Join(dir, "missing", "x"), nil); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestBackupAndRestore(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))
	if b, err := Backup(dir, []string{"a", "b"}, now); err != nil || b != "" {
		t.Fatalf("empty backup: %q %v", b, err)
	}
	_ = os.WriteFile(filepath.Join(dir, "a"), []byte("A"), 0o644)
	b1, err := Backup(dir, []string{"a", "b"}, now)
	if err != nil {
		t.Fatal(err)
	}
	// UTC timestamp, not the local zone.
	if filepath.Base(b1) != "20251231T230000Z" {
		t.Errorf("backup dir %s", b1)
	}
	if fi, _ := os.Stat(filepath.Join(b1, "a")); fi.Mode().Perm() != Mode {
		t.Errorf("backup mode %v", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(b1, "b")); !os.IsNotExist(err) {
		t.Error("absent file backed up")
	}
	b2, err := Backup(dir, []string{"a"}, now)
	if err != nil || b2 != b1+"-1" {
		t.Fatalf("same-second backup %q %v", b2, err)
	}
	_ = os.WriteFile(filepath.Join(dir, "a"), []byte("changed"), 0o600)
	if err := Restore(b1, dir, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a")); !bytes.Equal(b, []byte("A")) {
		t.Errorf("restored %q", b)
	}
}
