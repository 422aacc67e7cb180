package auth

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/internal/syncbuf"
	"github.com/barrelgo/barrelgo/protodist/auth/securefile"
)

// writeErlangKeyDir lays out an auth_key_dir exactly as barrel_p2p leaves
// it: raw 32-byte node.key/node.pub and trusted/<node>.pub, all 0600.
func writeErlangKeyDir(t *testing.T, dir string, id identity) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, TrustedDirName), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, KeyFileName), unhex(t, id.Seed))
	write(filepath.Join(dir, PubFileName), unhex(t, id.Pub))
	for _, p := range id.Pins {
		write(filepath.Join(dir, TrustedDirName, p.Node+".pub"), unhex(t, p.Pub))
	}
}

func TestLoadErlangKeyDirs(t *testing.T) {
	for _, id := range loadIdentities(t) {
		dir := t.TempDir()
		writeErlangKeyDir(t, dir, id)
		k, err := EnsureKeyPair(dir, nil)
		if err != nil {
			t.Fatalf("%s %s: %v", id.Run, id.Node, err)
		}
		if hex.EncodeToString(k.Public) != id.Pub || hex.EncodeToString(k.Private.Seed()) != id.Seed {
			t.Errorf("%s: loaded another key", id.Node)
		}
		if k2, err := KeyDir(dir).Identity(); err != nil || !k2.Public.Equal(k.Public) {
			t.Errorf("%s: KeyDir: %v", id.Node, err)
		}
		pins, err := OpenPins(dir, discardLogger())
		if err != nil {
			t.Fatal(err)
		}
		list := pins.List()
		if len(list) != len(id.Pins) {
			t.Fatalf("%s: %d pins, want %d", id.Node, len(list), len(id.Pins))
		}
		for _, p := range id.Pins {
			if !pins.IsTrusted(p.Node, unhex(t, p.Pub)) {
				t.Errorf("%s: pin %s missing", id.Node, p.Node)
			}
			if got, _ := pins.Get(p.Node); got.Level != Permanent {
				t.Errorf("%s: loaded pin level %v", id.Node, got.Level)
			}
		}
	}
}

// TestReplayWithKeyDir runs connection 1 with both identities loaded from
// barrel_p2p-layout directories instead of in-memory keys.
func TestReplayWithKeyDir(t *testing.T) {
	ids := loadIdentities(t)
	f := loadTranscripts(t)
	tr := f.Connections[0]
	var srvID identity
	for _, id := range ids {
		if id.Node == tr.Server && id.Run == "run1" {
			srvID = id
		}
	}
	dir := t.TempDir()
	writeErlangKeyDir(t, dir, srvID)
	pins, err := OpenPins(dir, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(tr.Challenges["server"].TS)
	a, err := New(Config{LocalName: tr.Server, Identity: KeyDir(dir), Pins: pins, Logger: discardLogger(),
		Now: func() time.Time { return now }, Rand: bytes.NewReader(unhex(t, tr.Challenges["server"].Nonce))})
	if err != nil {
		t.Fatal(err)
	}
	var chunks [][]byte
	for _, c := range tr.Chunks["server"] {
		if c.Stream == 2 {
			chunks = append(chunks, unhex(t, c.Bytes))
		}
	}
	rec := &recorder{}
	var binding [32]byte
	copy(binding[:], unhex(t, tr.Binding))
	peer, err := a.Authenticate(context.Background(), Server, "", &Streams{Recv: &chunkReader{chunks: chunks},
		Open: func() (io.WriteCloser, error) { return rec, nil }, Binding: binding})
	if err != nil || peer != tr.Client {
		t.Fatalf("%q %v", peer, err)
	}
	var want []byte
	for _, fr := range tr.Frames {
		if fr.Dir == "server->client" {
			want = append(want, unhex(t, fr.Bytes)...)
		}
	}
	if got := bytes.Join(rec.writes, nil); !bytes.Equal(got, want) {
		t.Errorf("server wrote %x\nrecorded     %x", got, want)
	}
	// v1 already held v2's pin on disk (barrel_p2p layout): unchanged.
	if !pins.IsTrusted(tr.Client, unhex(t, tr.Frames[0].Message.Pubkey)) {
		t.Error("pin of v2 lost")
	}
}

func checkKeyFile(t *testing.T, path string) []byte {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 32 {
		t.Errorf("%s: %d bytes, want 32", path, len(b))
	}
	return b
}

func noTmp(t *testing.T, dir string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*"+securefile.TmpSuffix))
	if len(m) > 0 {
		t.Errorf("leftover temporaries %v", m)
	}
}

func TestEnsureKeyPairCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "keys")
	k, err := EnsureKeyPair(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	seed := checkKeyFile(t, filepath.Join(dir, KeyFileName))
	pub := checkKeyFile(t, filepath.Join(dir, PubFileName))
	if !bytes.Equal(seed, k.Private.Seed()) || !bytes.Equal(pub, k.Public) {
		t.Error("files differ from the returned pair")
	}
	noTmp(t, dir)
	// A second start loads the same identity.
	k2, err := EnsureKeyPair(dir, nil)
	if err != nil || !k2.Public.Equal(k.Public) {
		t.Fatalf("reload: %v", err)
	}
}

// TestGoKeyDirReadByErlang has OTP crypto read the files Go wrote: the
// seed derives node.pub and signs the same bytes as Go.
func TestGoKeyDirReadByErlang(t *testing.T) {
	if _, err := exec.LookPath("erl"); err != nil {
		t.Skip("erl not on PATH: install erlang-nox")
	}
	dir := t.TempDir()
	k, err := EnsureKeyPair(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ch Challenge
	copy(ch.Nonce[:], bytes.Repeat([]byte{7}, 32))
	ch.Timestamp = 1767225600000
	goSig := Sign(k, ch, testBinding)
	msg := SignedMessage(ch, k.Public, testBinding)
	script := fmt.Sprintf(`{ok,S}=file:read_file(%q), {ok,P}=file:read_file(%q),
		{P2,_}=crypto:generate_key(eddsa, ed25519, S),
		Sig=crypto:sign(eddsa, none, binary:decode_hex(<<%q>>), [S, ed25519]),
		io:format("~s ~s~n", [P2 =:= P, binary:encode_hex(Sig)]), halt().`,
		filepath.Join(dir, KeyFileName), filepath.Join(dir, PubFileName), hex.EncodeToString(msg[:]))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "erl", "-noshell", "-eval", script).CombinedOutput()
	if err != nil {
		t.Fatalf("erl: %v\n%s", err, out)
	}
	want := "true " + strings.ToUpper(hex.EncodeToString(goSig.Signature[:]))
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("erl says %q, want %q", got, want)
	}
}

func TestKeypairMismatchOnDisk(t *testing.T) {
	dir := t.TempDir()
	a, _ := GenerateKeyPair(nil)
	b, _ := GenerateKeyPair(nil)
	if err := os.WriteFile(filepath.Join(dir, KeyFileName), a.Private.Seed(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, PubFileName), b.Public, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureKeyPair(dir, nil); !errors.Is(err, ErrKeypairMismatch) {
		t.Fatalf("EnsureKeyPair: %v", err)
	}
	if _, err := KeyDir(dir).Identity(); !errors.Is(err, ErrKeypairMismatch) {
		t.Fatalf("KeyDir: %v", err)
	}
	// Nothing was replaced.
	if got, _ := os.ReadFile(filepath.Join(dir, KeyFileName)); !bytes.Equal(got, a.Private.Seed()) {
		t.Error("node.key replaced")
	}
}

func TestInvalidKeySize(t *testing.T) {
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, KeyFileName), make([]byte, 31), 0o600)
	_ = os.WriteFile(filepath.Join(dir, PubFileName), make([]byte, 32), 0o600)
	if _, err := LoadKeyPair(dir); !errors.Is(err, ErrInvalidKeySize) {
		t.Fatalf("%v", err)
	}
	if _, err := LoadKeyPair(t.TempDir()); err == nil || !strings.Contains(err.Error(), "read_privkey_failed,enoent") {
		t.Fatalf("missing files: %v", err)
	}
}

func TestEnsureKeepsSurvivingSeed(t *testing.T) {
	dir := t.TempDir()
	k, _ := GenerateKeyPair(nil)
	if err := os.WriteFile(filepath.Join(dir, KeyFileName), k.Private.Seed(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := EnsureKeyPair(dir, nil)
	if err != nil || !got.Public.Equal(k.Public) {
		t.Fatalf("%v: identity not kept", err)
	}
	checkKeyFile(t, filepath.Join(dir, PubFileName))

	// node.pub alone cannot be completed: a new identity is made.
	dir2 := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir2, PubFileName), k.Public, 0o600)
	got, err = EnsureKeyPair(dir2, nil)
	if err != nil || got.Public.Equal(k.Public) {
		t.Fatalf("%v", err)
	}
}

// bufferLogger logs text lines into b.
func bufferLogger(b *syncbuf.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

func TestOpenPinsFilters(t *testing.T) {
	dir := t.TempDir()
	td := filepath.Join(dir, TrustedDirName)
	_ = os.MkdirAll(filepath.Join(td, "d@e.pub"), 0o755) // a directory named like a pin
	k, _ := GenerateKeyPair(nil)
	files := map[string][]byte{
		"good@host.pub":     k.Public,
		"bad name@h.pub":    k.Public,
		"short@h.pub":       k.Public[:31],
		"left@over.pub.tmp": k.Public,
		"notes.txt":         []byte("x"),
		"-dash@h.pub":       k.Public,
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(td, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var logs syncbuf.Buffer
	p, err := OpenPins(dir, bufferLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	if l := p.List(); len(l) != 1 || l[0].Node != "good@host" || !l[0].PublicKey.Equal(k.Public) {
		t.Fatalf("pins %+v", l)
	}
	for _, want := range []string{"Invalid node name in key file", "Invalid key size in file", "Failed to read key file"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	// A missing trusted/ is created.
	dir2 := t.TempDir()
	if _, err := OpenPins(dir2, discardLogger()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir2, TrustedDirName)); err != nil || !fi.IsDir() {
		t.Fatalf("trusted/ not created: %v", err)
	}
}

func TestPinsAPI(t *testing.T) {
	dir := t.TempDir()
	var logs syncbuf.Buffer
	p, err := OpenPins(dir, bufferLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := GenerateKeyPair(nil)
	b, _ := GenerateKeyPair(nil)
	file := filepath.Join(dir, TrustedDirName, "n@h.pub")

	if _, ok := p.Lookup("n@h"); ok {
		t.Fatal("pinned before store")
	}
	if err := p.StoreIfNew("n@h", a.Public); err != nil {
		t.Fatal(err)
	}
	if got := checkKeyFile(t, file); !bytes.Equal(got, a.Public) {
		t.Error("pin file content")
	}
	if pin, _ := p.Get("n@h"); pin.Level != TOFU || pin.Fingerprint() != FingerprintHex(a.Public) {
		t.Errorf("pin %+v", pin)
	}
	if err := p.StoreIfNew("n@h", a.Public); err != nil {
		t.Fatalf("same key: %v", err)
	}
	if err := p.StoreIfNew("n@h", b.Public); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("other key: %v", err)
	}
	for _, want := range []string{"Key mismatch for node n@h - existing key differs from presented key", FingerprintHex(a.Public), FingerprintHex(b.Public)} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	// The operator API overwrites.
	if err := p.Store("n@h", b.Public); err != nil {
		t.Fatal(err)
	}
	if got := checkKeyFile(t, file); !bytes.Equal(got, b.Public) {
		t.Error("Store did not persist")
	}
	if pin, _ := p.Get("n@h"); pin.Level != Permanent {
		t.Errorf("level %v", pin.Level)
	}
	// Reopen: pins come back Permanent.
	p2, err := OpenPins(dir, discardLogger())
	if err != nil || !p2.IsTrusted("n@h", b.Public) {
		t.Fatalf("reopen: %v", err)
	}
	if err := p.Delete("n@h"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("pin file survives Delete: %v", err)
	}
	if _, ok := p.Lookup("n@h"); ok {
		t.Error("pin survives Delete")
	}
	if err := p.Delete("n@h"); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	// Names that fail §4 (and would escape trusted/) and wrong sizes.
	if err := p.Store("../../etc@h", a.Public); !errors.Is(err, ErrInvalidNodeName) {
		t.Errorf("traversal name: %v", err)
	}
	if err := p.Store("x@h", a.Public[:5]); !errors.Is(err, ErrInvalidKeySize) {
		t.Errorf("short key: %v", err)
	}
}

func TestPinsConcurrentTOFU(t *testing.T) {
	p := NewMemoryPins(discardLogger())
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, _ := GenerateKeyPair(nil)
			if p.StoreIfNew("race@h", k.Public) == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d concurrent first pins succeeded, want 1", ok)
	}
}

func TestRotateIdentity(t *testing.T) {
	dir := t.TempDir()
	var logs syncbuf.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	opts := RotateOptions{Logger: bufferLogger(&logs), Now: func() time.Time { return now }}

	// Fresh directory: nothing to back up.
	info, err := RotateIdentity(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if info.BackupDir != "" || info.RestartRequired || info.CertFile != filepath.Join(dir, PubFileName) || info.KeyFile != filepath.Join(dir, KeyFileName) {
		t.Errorf("info %+v", info)
	}
	first, err := LoadKeyPair(dir)
	if err != nil {
		t.Fatal(err)
	}
	if info.Fingerprint != FingerprintHex(first.Public) {
		t.Error("fingerprint")
	}
	if !strings.Contains(logs.String(), "barrel_p2p_rotate: identity rotated in "+dir+"; new fingerprint "+info.Fingerprint+". Peers running in strict-trust mode must re-pin. Backup at undefined") {
		t.Errorf("log: %s", logs.String())
	}

	// Second rotation: backup holds the first pair, 0600.
	info2, err := RotateIdentity(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if info2.BackupDir != filepath.Join(dir, BackupsDirName, "20260101T000000Z") {
		t.Errorf("backup dir %s", info2.BackupDir)
	}
	backed, err := LoadKeyPair(info2.BackupDir)
	if err != nil || !backed.Public.Equal(first.Public) {
		t.Fatalf("backup: %v", err)
	}
	checkKeyFile(t, filepath.Join(info2.BackupDir, KeyFileName))
	second, _ := LoadKeyPair(dir)
	if second.Public.Equal(first.Public) {
		t.Error("rotation kept the key")
	}
	// Same second again: a new backup directory, the first one intact.
	info3, err := RotateIdentity(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if info3.BackupDir != info2.BackupDir+"-1" {
		t.Errorf("same-second backup %s", info3.BackupDir)
	}
	if b, _ := LoadKeyPair(info2.BackupDir); !b.Public.Equal(first.Public) {
		t.Error("first backup overwritten")
	}
	noTmp(t, dir)
}

type crash struct{ step string }

// TestRotateIdentityCrashSafety stops RotateIdentity dead after each step
// (no cleanup runs, as in a power loss) and checks what a restart finds.
func TestRotateIdentityCrashSafety(t *testing.T) {
	steps := []struct {
		step    string
		rotated bool // the new identity is what a restart must load
	}{
		{"backed-up", false},
		{"staged-key", false},
		{"staged-both", false},
		{"committed-key", true},
		{"committed-both", true},
	}
	for _, s := range steps {
		t.Run(s.step, func(t *testing.T) {
			dir := t.TempDir()
			old, err := EnsureKeyPair(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						if _, ok := r.(crash); !ok {
							panic(r)
						}
					}
				}()
				_, _ = RotateIdentity(dir, RotateOptions{Logger: discardLogger(), hook: func(step string) {
					if step == s.step {
						panic(crash{step})
					}
				}})
				t.Fatal("no crash")
			}()
			if s.step == "committed-key" {
				// The torn state barrel_p2p would report as keypair_mismatch.
				if _, err := LoadKeyPair(dir); !errors.Is(err, ErrKeypairMismatch) {
					t.Fatalf("before recovery: %v", err)
				}
			}
			got, err := EnsureKeyPair(dir, nil)
			if err != nil {
				t.Fatalf("restart: %v", err)
			}
			if s.rotated == got.Public.Equal(old.Public) {
				t.Errorf("restart loaded the %s key", map[bool]string{true: "old", false: "new"}[got.Public.Equal(old.Public)])
			}
			noTmp(t, dir)
			// The backup always holds the old pair.
			backups, _ := filepath.Glob(filepath.Join(dir, BackupsDirName, "*"))
			if len(backups) != 1 {
				t.Fatalf("backups %v", backups)
			}
			if b, err := LoadKeyPair(backups[0]); err != nil || !b.Public.Equal(old.Public) {
				t.Errorf("backup: %v", err)
			}
			// A later rotation works from here.
			if _, err := RotateIdentity(dir, RotateOptions{Logger: discardLogger()}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRecoverBarrelTornPair(t *testing.T) {
	// barrel_p2p's save_keypair dies between its two renames: new node.key,
	// old node.pub, no temporary. Refused, then restored from backups/.
	dir := t.TempDir()
	old, _ := EnsureKeyPair(dir, nil)
	bdir, err := securefile.Backup(dir, identityFiles, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := GenerateKeyPair(nil)
	if err := securefile.Write(filepath.Join(dir, KeyFileName), fresh.Private.Seed()); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureKeyPair(dir, nil); !errors.Is(err, ErrKeypairMismatch) {
		t.Fatalf("torn pair: %v", err)
	}
	if err := RestoreIdentity(dir, bdir); err != nil {
		t.Fatal(err)
	}
	if k, err := EnsureKeyPair(dir, nil); err != nil || !k.Public.Equal(old.Public) {
		t.Fatalf("after restore: %v", err)
	}
	// barrel_p2p died while writing node.pub.tmp after node.key: finished.
	if err := securefile.Write(filepath.Join(dir, KeyFileName), fresh.Private.Seed()); err != nil {
		t.Fatal(err)
	}
	if err := securefile.Stage(filepath.Join(dir, PubFileName), fresh.Public); err != nil {
		t.Fatal(err)
	}
	if k, err := EnsureKeyPair(dir, nil); err != nil || !k.Public.Equal(fresh.Public) {
		t.Fatalf("roll forward: %v", err)
	}
	// A partial backup (crash inside the copy) leaves the live pair alone.
	part := filepath.Join(dir, BackupsDirName, "20990101T000000Z")
	_ = os.MkdirAll(part, 0o700)
	_ = os.WriteFile(filepath.Join(part, PubFileName), fresh.Public, 0o600)
	if k, err := EnsureKeyPair(dir, nil); err != nil || !k.Public.Equal(fresh.Public) {
		t.Fatalf("partial backup: %v", err)
	}
}

func TestRotateIdentityRestoresOnFailure(t *testing.T) {
	dir := t.TempDir()
	old, _ := EnsureKeyPair(dir, nil)
	// node.pub becomes a non-empty directory: the final rename fails
	// after node.key was replaced, and the backup must come back.
	pub := filepath.Join(dir, PubFileName)
	_ = os.Remove(pub)
	_ = os.MkdirAll(filepath.Join(pub, "x"), 0o755)
	if _, err := RotateIdentity(dir, RotateOptions{Logger: discardLogger()}); err == nil {
		t.Fatal("rotation succeeded")
	}
	seed, _ := os.ReadFile(filepath.Join(dir, KeyFileName))
	if !bytes.Equal(seed, old.Private.Seed()) {
		t.Error("node.key not restored")
	}
	noTmp(t, dir)
}
