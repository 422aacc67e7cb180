package auth

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/barrelgo/barrelgo/protodist/auth/securefile"
)

// TrustLevel records how a pin came to be (barrel_p2p #peer_key.trust_level).
type TrustLevel int

const (
	// Permanent pins were stored by an operator or loaded from disk.
	Permanent TrustLevel = iota + 1
	// TOFU pins were recorded after a first successful handshake.
	TOFU
)

func (l TrustLevel) String() string {
	switch l {
	case Permanent:
		return "permanent"
	case TOFU:
		return "tofu"
	}
	return "unknown"
}

// Pin is one trusted node key.
type Pin struct {
	Node      string
	PublicKey ed25519.PublicKey
	AddedAt   time.Time
	LastSeen  time.Time
	Level     TrustLevel
}

// Fingerprint is the hex SHA-256 of the pinned key.
func (p Pin) Fingerprint() string { return FingerprintHex(p.PublicKey) }

// Pins is the pin store: node name -> public key, persisted as
// <auth_key_dir>/trusted/<node>.pub holding the raw 32 bytes, mode 0600
// (barrel_p2p_dist_keys, auth.md §10.2-10.3). Safe for concurrent use by
// simultaneous handshakes.
type Pins struct {
	dir string // trusted/ directory; "" keeps pins in memory only
	log *slog.Logger
	now func() time.Time

	mu sync.RWMutex
	m  map[string]*Pin
}

// NewMemoryPins returns a pin store that never touches disk (nil logger:
// slog.Default()).
func NewMemoryPins(logger *slog.Logger) *Pins {
	if logger == nil {
		logger = slog.Default()
	}
	return &Pins{log: logger, now: time.Now, m: map[string]*Pin{}}
}

// OpenPins loads keyDir/trusted/ with barrel_p2p's filters: only names
// whose last extension is .pub, node names passing §4, 32-byte contents;
// skipped files are logged with barrel_p2p's warnings. A missing directory
// is created. All loaded pins are Permanent. Like barrel_p2p, files dropped
// in later are not seen until the next OpenPins; use Store at runtime.
func OpenPins(keyDir string, logger *slog.Logger) (*Pins, error) {
	if logger == nil {
		logger = slog.Default()
	}
	p := &Pins{dir: filepath.Join(keyDir, TrustedDirName), log: logger, now: time.Now, m: map[string]*Pin{}}
	entries, err := os.ReadDir(p.dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(p.dir, 0o755); err != nil {
			return nil, fmt.Errorf("auth: pins: create %s: %w", p.dir, err)
		}
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auth: pins: Failed to list trusted keys directory %s: %w", p.dir, err)
	}
	now := p.now()
	for _, e := range entries {
		name := e.Name()
		if filepath.Ext(name) != PinFileSuffix {
			continue
		}
		file := filepath.Join(p.dir, name)
		node := strings.TrimSuffix(name, PinFileSuffix)
		if !validNodeName([]byte(node)) {
			logger.Warn("Invalid node name in key file: "+file, "file", file)
			continue
		}
		key, err := readSmall(file)
		if err != nil {
			logger.Warn(fmt.Sprintf("Failed to read key file %s: %v", file, err), "file", file, "err", err)
			continue
		}
		if len(key) != ed25519.PublicKeySize {
			logger.Warn("Invalid key size in file: "+file, "file", file, "size", len(key))
			continue
		}
		p.m[node] = &Pin{Node: node, PublicKey: ed25519.PublicKey(key), AddedAt: now, LastSeen: now, Level: Permanent}
	}
	return p, nil
}

// Dir is the trusted/ directory, "" for a memory store.
func (p *Pins) Dir() string { return p.dir }

// Lookup is barrel_p2p's tri-state lookup_pin: the pinned key and true, or
// nil and false when the name is not pinned.
func (p *Pins) Lookup(node string) (ed25519.PublicKey, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if e, ok := p.m[node]; ok {
		return append(ed25519.PublicKey(nil), e.PublicKey...), true
	}
	return nil, false
}

// Get returns a copy of the pin record.
func (p *Pins) Get(node string) (Pin, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	e, ok := p.m[node]
	if !ok {
		return Pin{}, false
	}
	c := *e
	c.PublicKey = append(ed25519.PublicKey(nil), e.PublicKey...)
	return c, true
}

// IsTrusted reports whether node is pinned to exactly key.
func (p *Pins) IsTrusted(node string, key []byte) bool {
	k, ok := p.Lookup(node)
	return ok && bytes.Equal(k, key)
}

// List returns every pin, sorted by node name.
func (p *Pins) List() []Pin {
	p.mu.RLock()
	out := make([]Pin, 0, len(p.m))
	for _, e := range p.m {
		c := *e
		c.PublicKey = append(ed25519.PublicKey(nil), e.PublicKey...)
		out = append(out, c)
	}
	p.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// Store is the operator API store_key: it pins node to key unconditionally
// (Permanent) and persists the file. The in-memory pin takes effect even if
// the write fails, as in barrel_p2p; the write error is returned.
func (p *Pins) Store(node string, key []byte) error {
	if err := checkPin(node, key); err != nil {
		return err
	}
	now := p.now()
	p.mu.Lock()
	p.m[node] = &Pin{Node: node, PublicKey: append(ed25519.PublicKey(nil), key...), AddedAt: now, LastSeen: now, Level: Permanent}
	p.mu.Unlock()
	return p.persist(node, key)
}

// StoreIfNew is the TOFU primitive run after a successful handshake: no pin
// inserts one (TOFU level) and persists it; the same key refreshes
// LastSeen; a different key returns ErrKeyMismatch and logs barrel_p2p's
// warning (with both fingerprints, which barrel_p2p omits). A persist
// failure is logged, not returned: the pin holds in memory.
func (p *Pins) StoreIfNew(node string, key []byte) error {
	if err := checkPin(node, key); err != nil {
		return err
	}
	now := p.now()
	p.mu.Lock()
	if e, ok := p.m[node]; ok {
		if bytes.Equal(e.PublicKey, key) {
			e.LastSeen = now
			p.mu.Unlock()
			return nil
		}
		pinned := FingerprintHex(e.PublicKey)
		p.mu.Unlock()
		p.log.Warn(fmt.Sprintf("Key mismatch for node %s - existing key differs from presented key", node),
			"node", node, "pinned_fingerprint", pinned, "presented_fingerprint", FingerprintHex(key))
		return fmt.Errorf("auth: pins: %s: %w", node, ErrKeyMismatch)
	}
	p.m[node] = &Pin{Node: node, PublicKey: append(ed25519.PublicKey(nil), key...), AddedAt: now, LastSeen: now, Level: TOFU}
	p.mu.Unlock()
	if err := p.persist(node, key); err != nil {
		p.log.Warn(fmt.Sprintf("Failed to save trusted key for %s: %v", node, err), "node", node, "err", err)
	}
	return nil
}

// Delete removes the pin and its file (a missing file is fine). After it,
// TOFU re-pins the node at its next handshake.
func (p *Pins) Delete(node string) error {
	p.mu.Lock()
	delete(p.m, node)
	p.mu.Unlock()
	if p.dir == "" || !validNodeName([]byte(node)) {
		return nil
	}
	err := os.Remove(filepath.Join(p.dir, node+PinFileSuffix))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("auth: pins: delete %s: %w", node, err)
	}
	return nil
}

func (p *Pins) persist(node string, key []byte) error {
	if p.dir == "" {
		return nil
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return fmt.Errorf("auth: pins: Failed to create trusted keys directory: %w", err)
	}
	if err := securefile.Write(filepath.Join(p.dir, node+PinFileSuffix), key); err != nil {
		return fmt.Errorf("auth: pins: save %s: %w", node, err)
	}
	return nil
}

// checkPin refuses names that fail §4 (they also keep a pin file name
// inside trusted/: no '/' can pass) and keys that are not 32 bytes.
func checkPin(node string, key []byte) error {
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("auth: pins: %s: key of %d bytes: %w", node, len(key), ErrInvalidKeySize)
	}
	if !validNodeName([]byte(node)) {
		return fmt.Errorf("auth: pins: %q: %w", node, ErrInvalidNodeName)
	}
	return nil
}
