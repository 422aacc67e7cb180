package auth

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/protodist/auth/securefile"
)

// runBarrel evaluates expr in barrel_p2p's OTP 27 VM and returns stdout.
func runBarrel(t *testing.T, expr string) string {
	t.Helper()
	env := needBarrel(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := env.Command(ctx, t.TempDir(), "-noshell", "-eval", expr+", halt().")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("erl: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// outLine is the "OUT ..." line of runBarrel's output (logger lines may
// share stdout).
func outLine(t *testing.T, out string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "OUT ") {
			return strings.TrimPrefix(l, "OUT ")
		}
	}
	t.Fatalf("no OUT line in:\n%s", out)
	return ""
}

// TestErlangRotationLayout: identities rotated by barrel_p2p_rotate load in
// Go, and identities rotated by Go load in barrel_p2p_dist_auth.
func TestErlangRotationLayout(t *testing.T) {
	t.Parallel()
	needBarrel(t)
	dir := t.TempDir()
	out := runBarrel(t, `{ok,_}=barrel_p2p_rotate:rotate_identity(#{key_dir => "`+dir+`"}),
		{ok,#{backup_dir := B}}=barrel_p2p_rotate:rotate_identity(#{key_dir => "`+dir+`"}),
		io:format("~nOUT ~s~n", [B])`)
	backup := outLine(t, out)
	k, err := EnsureKeyPair(dir, nil)
	if err != nil {
		t.Fatalf("barrel_p2p-rotated dir: %v", err)
	}
	if filepath.Base(filepath.Dir(backup)) != BackupsDirName {
		t.Errorf("backup dir %q is not under %s/", backup, BackupsDirName)
	}
	if _, err := time.Parse(securefile.BackupLayout, filepath.Base(backup)); err != nil {
		t.Errorf("backup dir name %q: %v", backup, err)
	}
	old, err := LoadKeyPair(backup)
	if err != nil || old.Public.Equal(k.Public) {
		t.Fatalf("barrel_p2p backup: %v", err)
	}
	// Go rotates the same directory; barrel_p2p loads both live and backup.
	info, err := RotateIdentity(dir, RotateOptions{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	out = runBarrel(t, `{ok,P1,_}=barrel_p2p_dist_auth:load_keypair("`+dir+`"),
		{ok,P2,_}=barrel_p2p_dist_auth:load_keypair("`+info.BackupDir+`"),
		io:format("~nOUT ~s ~s~n", [binary:encode_hex(P1), binary:encode_hex(P2)])`)
	now, _ := LoadKeyPair(dir)
	want := strings.ToUpper(encodeHex(now.Public) + " " + encodeHex(k.Public))
	if got := outLine(t, out); got != want {
		t.Errorf("barrel_p2p loaded %q, want %q", got, want)
	}
}
