// Package securefile writes and backs up key material the way barrel_p2p's
// barrel_p2p_file:write_secure/2 and barrel_p2p_rotate do, so that a Go node
// and an Erlang node can share one key directory. It adds what the Erlang code
// lacks for crash safety: fsync of every file and of its directory, and 0600
// on backups.
package securefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// TmpSuffix is the suffix barrel_p2p gives the temporary file of a secure
// write; a leftover "<file>.tmp" is the mark of an interrupted write.
const TmpSuffix = ".tmp"

// Mode is the permission of every file written here, public halves
// included, as barrel_p2p does.
const Mode fs.FileMode = 0o600

// BackupLayout is the UTC timestamp format of barrel_p2p's
// backups/<YYYYMMDDTHHMMSSZ>/ directories.
const BackupLayout = "20060102T150405Z"

// Write atomically replaces path with data: it writes path.tmp with mode
// 0600, fsyncs it, renames it over path and fsyncs the directory, so a crash
// leaves either the old or the new content, never a torn file.
func Write(path string, data []byte) error {
	if err := Stage(path, data); err != nil {
		return err
	}
	return Commit(path)
}

// Stage writes path.tmp (0600, fsynced) without touching path. Together with
// Commit it lets a caller prepare several files before renaming any of them.
func Stage(path string, data []byte) (err error) {
	tmp := path + TmpSuffix
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, Mode)
	if err != nil {
		return fmt.Errorf("securefile: create %s: %w", tmp, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	// The file may have existed with a wider mode; O_CREATE does not fix
	// that, so chmod before any secret byte lands in it.
	if err = f.Chmod(Mode); err != nil {
		return fmt.Errorf("securefile: chmod %s: %w", tmp, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("securefile: write %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("securefile: fsync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("securefile: close %s: %w", tmp, err)
	}
	return nil
}

// Commit renames a staged path.tmp over path and fsyncs the directory so the
// rename itself survives a power loss.
func Commit(path string) error {
	tmp := path + TmpSuffix
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("securefile: rename %s: %w", tmp, err)
	}
	return SyncDir(filepath.Dir(path))
}

// Discard removes a staged path.tmp, ignoring a missing file.
func Discard(path string) {
	_ = os.Remove(path + TmpSuffix)
}

// SyncDir fsyncs a directory so that renames and creations in it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("securefile: open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("securefile: fsync dir %s: %w", dir, err)
	}
	return nil
}

// Copy copies src to dst with mode 0600 through Write; barrel_p2p's plain
// copy leaves backed-up private keys world-readable (auth.md §10.6).
func Copy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("securefile: open %s: %w", src, err)
	}
	defer in.Close()
	// Key material is tiny; refuse anything that is not, instead of
	// reading an arbitrary file into memory.
	data, err := io.ReadAll(io.LimitReader(in, 1<<20+1))
	if err != nil {
		return fmt.Errorf("securefile: read %s: %w", src, err)
	}
	if len(data) > 1<<20 {
		return fmt.Errorf("securefile: %s is larger than 1 MiB", src)
	}
	return Write(dst, data)
}

// IsRegular reports whether path exists and is a regular file, the test
// barrel_p2p applies before backing a file up or trusting it exists.
func IsRegular(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// Backup copies those of files (base names inside dir) that exist as regular
// files into dir/backups/<UTC timestamp>/ and returns that directory, or ""
// when none exists (barrel_p2p's backup_dir = undefined). A second backup
// within the same second gets a "-N" suffix instead of overwriting the first
// one, which barrel_p2p does (auth.md §10.6).
func Backup(dir string, files []string, now time.Time) (string, error) {
	var present []string
	for _, f := range files {
		if IsRegular(filepath.Join(dir, f)) {
			present = append(present, f)
		}
	}
	if len(present) == 0 {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", fmt.Errorf("securefile: {backup_mkdir_failed,%s}: %w", dir, err)
		}
		return "", nil
	}
	root := filepath.Join(dir, "backups")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", fmt.Errorf("securefile: {backup_mkdir_failed,%s}: %w", root, err)
	}
	base := filepath.Join(root, now.UTC().Format(BackupLayout))
	bdir := base
	for i := 1; ; i++ {
		err := os.Mkdir(bdir, 0o700)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || i > 1000 {
			return "", fmt.Errorf("securefile: {backup_mkdir_failed,%s}: %w", bdir, err)
		}
		bdir = base + "-" + strconv.Itoa(i)
	}
	for _, f := range present {
		if err := Copy(filepath.Join(dir, f), filepath.Join(bdir, f)); err != nil {
			return "", fmt.Errorf("securefile: {backup_copy_failed,%s}: %w", f, err)
		}
	}
	if err := SyncDir(root); err != nil {
		return "", err
	}
	return bdir, nil
}

// Restore copies every file of files found in backupDir back over dir,
// best-effort, returning the first error. It is the rollback of a failed
// rotation.
func Restore(backupDir, dir string, files []string) error {
	var first error
	for _, f := range files {
		src := filepath.Join(backupDir, f)
		if !IsRegular(src) {
			continue
		}
		if err := Copy(src, filepath.Join(dir, f)); err != nil && first == nil {
			first = err
		}
	}
	return first
}
