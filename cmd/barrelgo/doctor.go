package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/barrelgo/barrelgo/discovery"
	"github.com/barrelgo/barrelgo/epmd"
	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/handshake"
	"github.com/barrelgo/barrelgo/node"
	"github.com/barrelgo/barrelgo/protodist"
	"github.com/barrelgo/barrelgo/protodist/auth"
	"github.com/barrelgo/barrelgo/protodist/certs"
)

// doctorMinFree is the free space below which a data directory fails: key,
// pin and certificate writes are tiny, but atomic writes need room for a
// temporary copy and a full disk fails them all.
const doctorMinFree = 1 << 20

// doctorSettings is what the doctor needs to know about a node; it is
// built from the same configuration `barrelgo node` runs with.
type doctorSettings struct {
	Name      string
	Proto     string // tcp or quic
	Cookie    string
	CookieErr error // why there is no cookie
	// QUIC is barrel_p2p's configuration (proto quic).
	QUIC protodist.Config
	// EPMD, TCPListen and NoEmbeddedEPMD are the tcp carrier's settings.
	EPMD           string
	TCPListen      string
	NoEmbeddedEPMD bool
	Contacts       []string
	Membership     bool
	TickTime       time.Duration
	// Source is the configuration file, "" when none.
	Source string
}

func settingsFromConfig(c *fileConfig) doctorSettings {
	s := doctorSettings{
		Name: c.Name, Proto: c.Proto, Cookie: c.Cookie, CookieErr: c.cookieErr, QUIC: c.QUIC,
		EPMD: c.TCP.EPMD, TCPListen: c.TCP.Listen, NoEmbeddedEPMD: c.TCP.NoEmbeddedEPMD,
		Membership: c.membershipOn(), TickTime: c.NetTickTime, Source: c.Path,
	}
	for _, a := range c.Membership.ContactNodes {
		s.Contacts = append(s.Contacts, string(a))
	}
	if s.EPMD == "" {
		s.EPMD = epmd.DefaultAddr()
	}
	return s
}

// status is a check's verdict.
type status int

const (
	statusOK status = iota
	statusSkip
	statusWarn
	statusFail
)

func (s status) String() string {
	switch s {
	case statusOK:
		return "ok"
	case statusSkip:
		return "skip"
	case statusWarn:
		return "warn"
	}
	return "FAIL"
}

// finding is one check's result. For warnings and failures, Symptom is
// what an operator sees (barrel_p2p's message or barrelgo's), Cause the
// likely reason and Fix what to do: the columns of barrel_p2p's
// troubleshooting table.
type finding struct {
	Check   string
	Status  status
	Detail  string
	Symptom string
	Cause   string
	Fix     string
}

// doctor runs the checks of one node.
type doctor struct {
	s       doctorSettings
	peer    string
	as      string
	timeout time.Duration
	out     []finding
	// ownEndpointPort is the port of this node's own .endpoint file, 0
	// when there is none.
	ownEndpointPort int
}

func (d *doctor) add(f finding) { d.out = append(d.out, f) }

func (d *doctor) ok(check, format string, args ...any) {
	d.add(finding{Check: check, Status: statusOK, Detail: fmt.Sprintf(format, args...)})
}

func (d *doctor) skip(check, format string, args ...any) {
	d.add(finding{Check: check, Status: statusSkip, Detail: fmt.Sprintf(format, args...)})
}

const doctorUsage = `Usage: barrelgo doctor [--config FILE] [--peer NODE] [flags]

Checks what a barrelgo node needs, row by row of barrel_p2p's
troubleshooting table: certificate and keys, data directories, auth and
pins, cookie, discovery, listen port and contact nodes; with --peer it also
dials NODE as this node would and compares clocks. Every problem is printed
as symptom, likely cause and what to do. Exits 1 when a check fails.

Flags (the same configuration flags as 'barrelgo node', plus):
`

func cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, doctorUsage)
		fs.PrintDefaults()
	}
	cf := addConfigFlags(fs, false)
	peer := fs.String("peer", "", "also dial this node as this node would and compare clocks with it")
	as := fs.String("as", "", "node name to dial --peer as (default: this node's name, or NAME_doctor@HOST while this node runs)")
	timeout := fs.Duration("timeout", 10*time.Second, "bound of each network check")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 0 {
		return usageError{"doctor takes no arguments; use --peer NODE"}
	}
	if *peer != "" {
		if _, _, err := handshake.SplitNodeName(*peer); err != nil {
			return usageError{fmt.Sprintf("--peer %q is not a node name (name@host)", *peer)}
		}
	}
	if *as != "" {
		if _, _, err := handshake.SplitNodeName(*as); err != nil {
			return usageError{fmt.Sprintf("--as %q is not a node name (name@host)", *as)}
		}
	}
	cfg, err := loadConfig(cf.Path(), cf)
	if err != nil {
		d := &doctor{}
		d.configFailed(err)
		printFindings(stdout, "barrelgo doctor: the configuration does not load; fix it first", d.out)
		return doctorFailed(d.out)
	}
	d := &doctor{s: settingsFromConfig(cfg), peer: *peer, as: *as, timeout: *timeout}
	d.run(ctx)
	printFindings(stdout, d.header(), d.out)
	return doctorFailed(d.out)
}

func (d *doctor) header() string {
	src := "no config file"
	if d.s.Source != "" {
		src = "config " + d.s.Source
	}
	return fmt.Sprintf("barrelgo doctor: %s, proto %s, %s", d.s.Name, d.s.Proto, src)
}

func doctorFailed(fs []finding) error {
	n := 0
	for _, f := range fs {
		if f.Status == statusFail {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("doctor: %d check(s) failed", n)
}

func printFindings(w io.Writer, header string, fs []finding) {
	fmt.Fprintln(w, header)
	var fails, warns int
	for _, f := range fs {
		fmt.Fprintf(w, "%-4s  %-10s %s\n", f.Status, f.Check, f.Detail)
		if f.Status == statusWarn || f.Status == statusFail {
			if f.Status == statusFail {
				fails++
			} else {
				warns++
			}
			for _, l := range [][2]string{{"symptom", f.Symptom}, {"cause", f.Cause}, {"fix", f.Fix}} {
				if l[1] != "" {
					fmt.Fprintf(w, "                 %-8s %s\n", l[0]+":", l[1])
				}
			}
		}
	}
	switch {
	case fails == 0 && warns == 0:
		fmt.Fprintln(w, "no problems found")
	default:
		fmt.Fprintf(w, "%d failure(s), %d warning(s)\n", fails, warns)
	}
}

// configFailed reports a configuration that does not load, mapping
// barrel_p2p's boot errors to their troubleshooting rows.
func (d *doctor) configFailed(err error) {
	for _, e := range unjoin(err) {
		f := finding{Check: "config", Status: statusFail, Detail: e.Error(),
			Symptom: "barrelgo node refuses to start with this error",
			Cause:   "an invalid or unknown setting",
			Fix:     "correct the key named above (barrelgo.example.toml documents every key; docs/configuration.md has the defaults)"}
		msg := e.Error()
		switch {
		case strings.Contains(msg, "cookie_only_nodes") && strings.Contains(msg, "default"):
			f.Symptom = "barrel_p2p refuses to start: {barrel_p2p, cookie_only_nodes_with_default_cookie}"
			f.Cause = "cookie-only peers would be let in by the publicly known default cookie 'barrel_p2p'"
			f.Fix = "set cookie (or quic.dist_cookie) to a secret shared by the cluster, or remove quic.cookie_only_nodes"
		case strings.Contains(msg, "auth_callback") || strings.Contains(msg, "auth_enabled"):
			f.Symptom = "boot fails with {barrel_p2p_dist, auth_enabled_without_callback}"
			f.Cause = "auth_enabled = true but no authenticator is configured"
			f.Fix = "either set quic.auth_enabled = false or do not override the auth callback"
		}
		d.add(f)
	}
}

// run runs every check that applies to the node.
func (d *doctor) run(ctx context.Context) {
	d.checkCookie()
	if d.s.Proto == "quic" {
		certOK := d.checkDir("cert-dir", "quic.quic_cert_dir", d.s.QUIC.QUICCertDir, d.certFiles())
		d.checkCert(certOK)
		d.checkAuth()
		if d.s.QUIC.AuthEnabled && !isDisabledAuth(d.s.QUIC.Authenticator) {
			keysOK := d.checkDir("key-dir", "quic.auth_key_dir", d.s.QUIC.AuthKeyDir, d.keyFiles())
			d.checkKeypair(keysOK)
			d.checkPins()
		}
		d.checkDiscovery()
		d.checkListenQUIC()
	} else {
		d.checkEPMD(ctx)
		d.checkListenTCP()
	}
	d.checkContacts(ctx)
	if d.peer != "" {
		d.checkPeer(ctx)
	} else {
		d.skip("peer", "no --peer: test dial and clock comparison not run")
	}
}

func pick(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}

func isDisabledAuth(a auth.Authenticator) bool {
	switch a.(type) {
	case auth.Disabled, *auth.Disabled:
		return true
	}
	return false
}

// --- cookie ---------------------------------------------------------------

func (d *doctor) checkCookie() {
	s := d.s
	if s.Cookie == "" {
		why := "no cookie configured"
		if s.CookieErr != nil {
			why = s.CookieErr.Error()
		}
		d.add(finding{Check: "cookie", Status: statusFail, Detail: why,
			Symptom: "barrelgo: no cookie: ... (the node does not start)",
			Cause:   "no cookie in the config file, $BARRELGO_COOKIE, -cookie, $ERLANG_COOKIE or ~/.erlang.cookie",
			Fix:     "set cookie (or cookie_file) to the cluster's cookie: barrel_p2p's dist_cookie, or the Erlang nodes' -setcookie"})
		return
	}
	if s.Proto == "quic" && s.Cookie == protodist.DefaultDistCookie {
		if len(s.QUIC.CookieOnlyNodes) > 0 {
			d.add(finding{Check: "cookie", Status: statusFail, Detail: "cookie_only_nodes with the default cookie 'barrel_p2p'",
				Symptom: "{barrel_p2p, cookie_only_nodes_with_default_cookie} (barrel_p2p refuses to start)",
				Cause:   "cookie-only peers would be let in by a publicly known cookie",
				Fix:     "set cookie to a secret shared by the cluster, or remove quic.cookie_only_nodes"})
			return
		}
		d.add(finding{Check: "cookie", Status: statusWarn, Detail: "the default distribution cookie 'barrel_p2p' is in use",
			Symptom: "barrel_p2p: using the default distribution cookie 'barrel_p2p'. Set {barrel_p2p, [{dist_cookie, <secret>}]} for production.",
			Cause:   "no cookie configured; barrel_p2p clusters that never set dist_cookie use it too",
			Fix:     "set the same secret cookie on every node (barrel_p2p's dist_cookie, barrelgo's cookie)"})
		return
	}
	d.ok("cookie", "set, %d bytes (must equal every peer's %s)", len(s.Cookie), pick(s.Proto == "quic", "dist_cookie", "cookie"))
}

// --- directories ----------------------------------------------------------

func (d *doctor) certFiles() []string {
	return []string{filepath.Join(d.s.QUIC.QUICCertDir, certs.CertFileName), filepath.Join(d.s.QUIC.QUICCertDir, certs.KeyFileName)}
}

func (d *doctor) keyFiles() []string {
	return []string{filepath.Join(d.s.QUIC.AuthKeyDir, auth.KeyFileName), filepath.Join(d.s.QUIC.AuthKeyDir, auth.PubFileName)}
}

// dirRows are the troubleshooting rows of an unwritable directory.
var dirRows = map[string][3]string{
	"cert-dir": {"barrel_p2p_dist: cert ensure failed: <reason> (barrelgo: certs: ...: cert ensure failed)",
		"the certificate directory is not writable, or the disk is full",
		"make quic.quic_cert_dir writable by the node's user and free some space"},
	"key-dir": {"Failed to initialize keypair: <reason> (barrelgo: protodist: auth_key_dir ...)",
		"auth_key_dir is not writable, or the disk is full",
		"make quic.auth_key_dir writable by the node's user (it holds node.key, node.pub, trusted/ and backups/) and free some space"},
	"discovery": {"[barrel_p2p_discovery] barrel_p2p_discovery_file register failed (barrelgo: protodist: publish endpoint: ...)",
		"the discovery directory is not writable, so this node cannot publish its endpoint file",
		"make quic.discovery_dir writable by the node's user"},
}

// checkDir checks that dir exists or can be created, is writable and has
// free space. files are what the node must find or create there: a
// read-only directory is a warning when they all exist, else a failure.
// It reports whether the directory is usable for writing.
func (d *doctor) checkDir(check, key, dir string, files []string) bool {
	row := dirRows[check]
	fail := func(st status, detail string) bool {
		d.add(finding{Check: check, Status: st, Detail: detail, Symptom: row[0], Cause: row[1], Fix: row[2]})
		return false
	}
	if dir == "" {
		return fail(statusFail, key+" is empty")
	}
	existing, exists, err := nearestDir(dir)
	if err != nil {
		return fail(statusFail, fmt.Sprintf("%s = %s: %v", key, dir, err))
	}
	if err := probeWrite(existing); err != nil {
		all := exists
		for _, f := range files {
			if _, err := os.Stat(f); err != nil {
				all = false
			}
		}
		if all {
			return fail(statusWarn, fmt.Sprintf("%s is not writable (%v); the files exist, but rotations and new pins cannot be saved", dir, err))
		}
		return fail(statusFail, fmt.Sprintf("%s cannot be written (%v) and the node must create files there", dir, err))
	}
	free, ferr := freeSpace(existing)
	if ferr == nil && free < doctorMinFree {
		return fail(statusFail, fmt.Sprintf("%s has only %d bytes free", existing, free))
	}
	what := "writable"
	if !exists {
		what = "does not exist yet; " + existing + " is writable, so the node will create it"
	}
	if ferr == nil {
		what += fmt.Sprintf(", %s free", humanBytes(free))
	}
	d.ok(check, "%s: %s", dir, what)
	return true
}

// nearestDir returns dir if it exists, else its closest existing ancestor
// (where MkdirAll needs write access), with exists false. A path blocked by
// a file fails.
func nearestDir(dir string) (string, bool, error) {
	p := filepath.Clean(dir)
	first := true
	for {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return "", false, fmt.Errorf("%s is not a directory", p)
			}
			return p, first, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", false, err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return "", false, fmt.Errorf("no existing parent of %s", dir)
		}
		p, first = parent, false
	}
}

func probeWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".barrelgo-doctor-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// --- certificate ----------------------------------------------------------

func (d *doctor) checkCert(dirWritable bool) {
	dir := d.s.QUIC.QUICCertDir
	c, err := certs.Load(dir)
	switch {
	case errors.Is(err, certs.ErrNoCredentials) || errors.Is(err, syscall.ENOTDIR):
		if dirWritable {
			d.ok("cert", "%s/node.crt + node.key do not exist yet: the node generates them at first start, as barrel_p2p does", dir)
			return
		}
		d.add(finding{Check: "cert", Status: statusFail, Detail: "no_credentials: " + err.Error(),
			Symptom: "Protocol 'quic': register/listen error: {credentials,no_credentials} (barrelgo: certs: ...: no_credentials)",
			Cause:   "TLS material missing and the directory cannot be written to generate it",
			Fix:     "make " + dir + " writable, or generate the pair by hand into it (barrelgo cert gen --dir DIR, or barrel_p2p's priv/bin/barrel_p2p_gen_cert.sh)"})
		return
	case err != nil:
		d.add(finding{Check: "cert", Status: statusFail, Detail: err.Error(),
			Symptom: "{credentials,{load_credentials,_}} (barrelgo: certs: ...: load_credentials); the node does not start",
			Cause:   "node.crt or node.key is unreadable, not PEM, holds a chain, or the two do not belong together",
			Fix:     "fix the files' permissions, or move both aside and restart: the node generates a new pair (the Ed25519 identity in auth_key_dir is unaffected, so pins stay valid)"})
		return
	}
	leaf := c.Leaf()
	if pk, ok := leaf.PublicKey.(*ecdsa.PublicKey); ok && pk.Curve != elliptic.P256() {
		d.add(finding{Check: "cert", Status: statusFail, Detail: fmt.Sprintf("%s: ECDSA %s key", c.CertFile, pk.Curve.Params().Name),
			Symptom: "Erlang peers abort the TLS handshake (handshake_failure)",
			Cause:   "erlang_quic accepts P-256 ECDSA, Ed25519 or RSA server certificates, not P-384 or P-521",
			Fix:     "move node.crt and node.key aside and restart to generate a P-256 pair"})
		return
	}
	desc := fmt.Sprintf("%s: %s, CN=%s, valid until %s", c.CertFile, leaf.PublicKeyAlgorithm, leaf.Subject.CommonName, leaf.NotAfter.Format(time.DateOnly))
	if time.Now().After(leaf.NotAfter) {
		d.add(finding{Check: "cert", Status: statusWarn, Detail: desc + " (expired)",
			Symptom: "none yet: Erlang and barrelgo peers do not verify the self-signed certificate",
			Cause:   "the certificate is older than its one-year lifetime",
			Fix:     "regenerate it (barrelgo cert gen --force, or barrel_p2p_rotate:rotate_cert/0) and restart"})
		return
	}
	d.ok("cert", "%s", desc)
}

// --- auth, keys and pins --------------------------------------------------

func (d *doctor) checkAuth() {
	q := d.s.QUIC
	switch {
	case !q.AuthEnabled:
		d.add(finding{Check: "auth", Status: statusWarn, Detail: "quic.auth_enabled = false",
			Symptom: auth.AuthDisabledWarning,
			Cause:   "Ed25519 authentication is off; every node of the cluster must agree, or connections fail with auth_stream_timeout / unexpected_message",
			Fix:     "turn quic.auth_enabled on everywhere (barrel_p2p's default), or off everywhere knowingly"})
	case isDisabledAuth(q.Authenticator):
		d.add(finding{Check: "auth", Status: statusFail, Detail: "auth_enabled with auth_callback = undefined",
			Symptom: "Boot fails with {barrel_p2p_dist, auth_enabled_without_callback}",
			Cause:   "barrel_p2p.auth_enabled = true but the auth callback is explicitly undefined",
			Fix:     "either set auth_enabled = false or do not override the auth callback"})
	case q.AuthHandshakeTimeout > q.AuthTimestampWindow:
		d.add(finding{Check: "auth", Status: statusWarn,
			Detail:  fmt.Sprintf("auth_handshake_timeout %v exceeds auth_timestamp_window %v", q.AuthHandshakeTimeout, q.AuthTimestampWindow),
			Symptom: "{auth_rejected, signature_invalid} from slow peers before the deadline",
			Cause:   "responses older than the window are refused even though the exchange may still run",
			Fix:     "keep auth_handshake_timeout at or below auth_timestamp_window"})
	default:
		d.ok("auth", "Ed25519, trust mode %s, handshake timeout %v, timestamp window %v (peer clocks may differ by %v)",
			q.AuthTrustMode, q.AuthHandshakeTimeout, q.AuthTimestampWindow, 2*q.AuthTimestampWindow)
	}
}

func (d *doctor) checkKeypair(dirWritable bool) {
	dir := d.s.QUIC.AuthKeyDir
	keyPath, pubPath := filepath.Join(dir, auth.KeyFileName), filepath.Join(dir, auth.PubFileName)
	_, kerr := os.Stat(keyPath)
	_, perr := os.Stat(pubPath)
	if errors.Is(kerr, fs.ErrNotExist) {
		if dirWritable {
			d.ok("keypair", "%s does not exist yet: the node generates its Ed25519 identity at first start", keyPath)
			return
		}
		d.add(finding{Check: "keypair", Status: statusFail, Detail: keyPath + " is missing and cannot be created",
			Symptom: "Failed to initialize keypair: {mkdir_failed,_} / eacces",
			Cause:   "cannot write to auth_key_dir", Fix: "verify filesystem permissions and free space of " + dir})
		return
	}
	if kerr == nil && errors.Is(perr, fs.ErrNotExist) {
		d.ok("keypair", "%s is missing: the node derives it from node.key at start", pubPath)
		return
	}
	k, err := auth.LoadKeyPair(dir)
	switch {
	case errors.Is(err, auth.ErrKeypairMismatch):
		d.add(finding{Check: "keypair", Status: statusFail, Detail: err.Error(),
			Symptom: "{error, keypair_mismatch} on load; peers reject this node with {auth_rejected, signature_invalid}",
			Cause:   "identity rotation crashed mid-flight, or a key file was replaced: node.pub does not derive from node.key",
			Fix:     "restore node.key and node.pub together from the newest " + filepath.Join(dir, auth.BackupsDirName, "<ts>") + "/, or rotate the identity (barrelgo keys rotate) and re-pin it on strict peers"})
	case errors.Is(err, auth.ErrInvalidKeySize):
		d.add(finding{Check: "keypair", Status: statusFail, Detail: err.Error(),
			Symptom: "Failed to initialize keypair: invalid_key_size",
			Cause:   "node.key or node.pub is not a raw 32-byte key (truncated, or written as text)",
			Fix:     "restore both files from " + filepath.Join(dir, auth.BackupsDirName) + "/, or move them aside to generate a new identity (peers must then re-pin it)"})
	case err != nil:
		d.add(finding{Check: "keypair", Status: statusFail, Detail: err.Error(),
			Symptom: "Failed to initialize keypair: <reason>; every handshake fails",
			Cause:   "the key files cannot be read",
			Fix:     "give the node's user read access to " + dir + " (the files should be mode 0600, owned by that user)"})
	default:
		d.ok("keypair", "%s: Ed25519 identity, fingerprint %s", dir, auth.FingerprintHex(k.Public))
	}
}

// pinWarnings collects the pin store's warnings about skipped files.
type pinWarnings struct {
	mu   sync.Mutex
	msgs []string
}

func (p *pinWarnings) Enabled(context.Context, slog.Level) bool { return true }
func (p *pinWarnings) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		p.mu.Lock()
		p.msgs = append(p.msgs, r.Message)
		p.mu.Unlock()
	}
	return nil
}
func (p *pinWarnings) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *pinWarnings) WithGroup(string) slog.Handler      { return p }

// loadPins reads the trusted/ directory without creating it.
func loadPins(keyDir string) (*auth.Pins, []string, error) {
	w := &pinWarnings{}
	dir := filepath.Join(keyDir, auth.TrustedDirName)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return auth.NewMemoryPins(slog.New(w)), nil, nil
	}
	p, err := auth.OpenPins(keyDir, slog.New(w))
	return p, w.msgs, err
}

func (d *doctor) checkPins() {
	q := d.s.QUIC
	pins, warns, err := loadPins(q.AuthKeyDir)
	if err != nil {
		d.add(finding{Check: "pins", Status: statusFail, Detail: err.Error(),
			Symptom: "Failed to list trusted keys directory <Dir>: <R>",
			Cause:   "trusted/ cannot be read", Fix: "give the node's user access to " + filepath.Join(q.AuthKeyDir, auth.TrustedDirName)})
		return
	}
	if len(warns) > 0 {
		d.add(finding{Check: "pins", Status: statusWarn, Detail: strings.Join(warns, "; "),
			Symptom: "Invalid node name in key file / Invalid key size in file (the pin is ignored)",
			Cause:   "a file in trusted/ is not <node>.pub holding a raw 32-byte key",
			Fix:     "replace it with the peer's node.pub copied byte for byte, named <node@host>.pub"})
	}
	n := len(pins.List())
	if q.AuthTrustMode != auth.TrustStrict {
		d.ok("pins", "%d pinned peer key(s); trust mode tofu pins new peers on first contact", n)
		return
	}
	if n == 0 {
		d.add(finding{Check: "pins", Status: statusFail, Detail: "strict trust mode with no pins in " + filepath.Join(q.AuthKeyDir, auth.TrustedDirName),
			Symptom: "auth client <peer> failed: untrusted_key here; {auth_rejected, untrusted_key} on the peers",
			Cause:   "strict mode, no pin for any peer: every connection is refused",
			Fix:     "provision each peer's public key (barrelgo keys pins store NODE PUBHEX, with the hex 'barrelgo keys show' prints on that node; barrel_p2p_dist_keys:store_key/2 on Erlang) or switch quic.auth_trust_mode to tofu"})
		return
	}
	var missing []string
	for _, c := range d.s.Contacts {
		if _, ok := pins.Lookup(c); !ok && !auth.MatchCookieOnly(q.CookieOnlyNodes, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		d.add(finding{Check: "pins", Status: statusFail, Detail: "strict mode: no pin for contact node(s) " + strings.Join(missing, ", "),
			Symptom: "auth client <contact> failed: untrusted_key; barrelgo's active view stays empty",
			Cause:   "strict mode and no pin for this peer",
			Fix:     "provision the contact's public key (barrelgo keys pins store NODE PUBHEX) or switch to tofu"})
		return
	}
	d.ok("pins", "strict trust mode with %d pinned peer key(s)", n)
}

// --- discovery ------------------------------------------------------------

func (d *doctor) checkDiscovery() {
	dir := d.s.QUIC.DiscoveryDir
	if !d.checkDir("discovery", "quic.discovery_dir", dir, nil) {
		return
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		d.add(finding{Check: "endpoints", Status: statusWarn, Detail: dir + " does not exist: no node has published an endpoint file here",
			Symptom: "File-based discovery: peer not visible to other hosts; barrel_p2p:active_view/0 always empty",
			Cause:   "the discovery directory is local to this host, or points elsewhere than the cluster's",
			Fix:     "point quic.discovery_dir at the directory barrel_p2p's discovery_dir uses (a shared volume across hosts), or use static/DNS discovery"})
		return
	}
	if err != nil {
		d.add(finding{Check: "endpoints", Status: statusFail, Detail: err.Error(),
			Symptom: "discovery: ... (peers cannot be resolved)", Cause: "the discovery directory is unreadable",
			Fix: "give the node's user read access to " + dir})
		return
	}
	var peers, bad []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".endpoint")
		if !ok || e.IsDir() {
			continue
		}
		b, err := readSmallFile(filepath.Join(dir, e.Name()), 4096)
		if err != nil {
			bad = append(bad, e.Name()+": "+err.Error())
			continue
		}
		_, port, err := discovery.ParseEndpoint(b)
		if err != nil {
			bad = append(bad, e.Name()+": "+err.Error())
			continue
		}
		if name == d.s.Name {
			d.ownEndpointPort = port
			continue
		}
		peers = append(peers, name)
	}
	sort.Strings(peers)
	if len(bad) > 0 {
		d.add(finding{Check: "endpoints", Status: statusWarn, Detail: "malformed endpoint file(s): " + strings.Join(bad, "; "),
			Symptom: "{error, malformed_endpoint} on lookup; those nodes cannot be dialed through the file backend",
			Cause:   "an endpoint file is not one Erlang term {\"host\", Port}.",
			Fix:     "delete the file; its node rewrites it at its next start"})
	}
	if len(peers) == 0 {
		d.add(finding{Check: "endpoints", Status: statusWarn, Detail: dir + " holds no endpoint file of another node",
			Symptom: "File-based discovery: peer not visible to other hosts; active view stays empty",
			Cause:   "the discovery directory is not the one the cluster shares (each host has its own), or no other node is running",
			Fix:     "mount a shared volume at barrel_p2p's discovery_dir and point quic.discovery_dir at it; or use the DNS backend / a static topology"})
		return
	}
	d.ok("endpoints", "%d other node(s) published here: %s", len(peers), abbreviate(peers, 5))
}

func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

func abbreviate(l []string, n int) string {
	if len(l) <= n {
		return strings.Join(l, ", ")
	}
	return strings.Join(l[:n], ", ") + fmt.Sprintf(" and %d more", len(l)-n)
}

// --- listen port ----------------------------------------------------------

func (d *doctor) checkListenQUIC() {
	q := d.s.QUIC
	if !q.Address.IsValid() {
		d.add(finding{Check: "listen", Status: statusFail, Detail: "quic.address is not set",
			Symptom: "protodist: listen on udp ...", Cause: "no IP address to bind", Fix: "set quic.address to an IP of this host"})
		return
	}
	addr := netip.AddrPortFrom(q.Address, uint16(q.ListenPort))
	c, err := net.ListenPacket("udp", addr.String())
	if err == nil {
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if q.ListenPort == 0 {
			d.ok("listen", "udp %s:0 bindable (the OS picks the port; the endpoint file publishes it; DNS discovery needs a fixed quic.listen_port)", q.Address)
		} else {
			d.ok("listen", "udp %s is free (bound to %d)", addr, port)
		}
		return
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		if d.ownEndpointPort == q.ListenPort {
			d.ok("listen", "udp %s is bound, and this node's endpoint file names it: the node is running", addr)
			return
		}
		d.add(finding{Check: "listen", Status: statusWarn, Detail: fmt.Sprintf("udp %s is already bound", addr),
			Symptom: "protodist: listen on udp " + addr.String() + ": address already in use (if this node is not the one running)",
			Cause:   "another program, or another node, listens on quic.listen_port",
			Fix:     "find it (ss -unlp | grep " + strconv.Itoa(q.ListenPort) + "); if it is not this node, pick another quic.listen_port"})
		return
	}
	d.add(finding{Check: "listen", Status: statusFail, Detail: fmt.Sprintf("cannot bind udp %s: %v", addr, err),
		Symptom: "protodist: listen on udp " + addr.String() + ": ...; [barrel_p2p_app] no listen port found; skipping discovery publish",
		Cause:   "quic.address is not an address of this host, or the port needs privileges",
		Fix:     "set quic.address to an IP of this host (0.0.0.0 to listen everywhere) and quic.listen_port to a free port above 1023"})
}

func (d *doctor) checkListenTCP() {
	addr := d.s.TCPListen
	if addr == "" {
		d.ok("listen", "tcp: the OS picks the distribution port; EPMD publishes it")
		return
	}
	l, err := net.Listen("tcp", addr)
	if err == nil {
		l.Close()
		d.ok("listen", "tcp %s is free", addr)
		return
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		d.add(finding{Check: "listen", Status: statusWarn, Detail: "tcp " + addr + " is already bound",
			Symptom: "node: listen on " + addr + ": address already in use (if this node is not the one running)",
			Cause:   "another program or node listens on tcp.listen",
			Fix:     "find it (ss -tlnp); if it is not this node, change tcp.listen"})
		return
	}
	d.add(finding{Check: "listen", Status: statusFail, Detail: fmt.Sprintf("cannot listen on tcp %s: %v", addr, err),
		Symptom: "node: listen on " + addr + ": ...", Cause: "the host part is not an address of this host, or the port needs privileges",
		Fix: "change tcp.listen"})
}

// checkEPMD checks the local EPMD a tcp node registers with.
func (d *doctor) checkEPMD(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	alive, _, _ := strings.Cut(d.s.Name, "@")
	names, err := (&epmd.Client{Addr: d.s.EPMD}).Names(ctx)
	if err != nil {
		if d.s.NoEmbeddedEPMD {
			d.add(finding{Check: "epmd", Status: statusFail, Detail: fmt.Sprintf("no EPMD answers at %s: %v", d.s.EPMD, err),
				Symptom: "node: register ... with epmd at " + d.s.EPMD + ": connection refused",
				Cause:   "EPMD is not running and tcp.no_embedded_epmd forbids starting one",
				Fix:     "start epmd (epmd -daemon, or any erl starts it), or unset tcp.no_embedded_epmd"})
			return
		}
		d.ok("epmd", "no EPMD at %s: the node will embed one (Erlang nodes started later use it)", d.s.EPMD)
		return
	}
	for _, e := range names {
		if e.Name == alive {
			d.ok("epmd", "EPMD at %s has %s registered on port %d: the node is running", d.s.EPMD, alive, e.Port)
			return
		}
	}
	d.ok("epmd", "EPMD at %s answers (%d node(s) registered)", d.s.EPMD, len(names))
}

// --- contact nodes --------------------------------------------------------

func (d *doctor) resolver() discovery.Resolver {
	port := d.s.QUIC.ListenPort
	if port == 0 {
		port = discovery.DefaultPort
	}
	return discovery.Chain{discovery.File{Dir: d.s.QUIC.DiscoveryDir}, discovery.DNS{Port: port}}
}

func (d *doctor) checkContacts(ctx context.Context) {
	if len(d.s.Contacts) == 0 {
		if d.s.Membership {
			d.ok("contacts", "no contact nodes: this node joins nobody and waits to be joined (fine for a seed)")
		}
		return
	}
	for _, c := range d.s.Contacts {
		cctx, cancel := context.WithTimeout(ctx, d.timeout)
		if d.s.Proto == "quic" {
			d.checkContactQUIC(cctx, c)
		} else {
			d.checkContactTCP(cctx, c)
		}
		cancel()
	}
}

func (d *doctor) checkContactQUIC(ctx context.Context, c string) {
	row := finding{Check: "contacts",
		Symptom: "barrel_p2p:active_view/0 always empty (barrelgo: view shows no active peers)",
		Cause:   "the discovery chain returns nothing for the contact node",
		Fix:     "check each backend: the file backend needs the directory the cluster shares (quic.discovery_dir), the DNS backend needs records for the host part and every node on one fixed port"}
	if _, err := (discovery.File{Dir: d.s.QUIC.DiscoveryDir}).Resolve(ctx, c); err == nil {
		addr, _ := d.resolver().Resolve(ctx, c)
		d.ok("contacts", "%s -> %s (endpoint file)", c, addr)
		return
	} else if !errors.Is(err, discovery.ErrNotFound) {
		row.Status, row.Detail = statusFail, fmt.Sprintf("%s: %v", c, err)
		row.Symptom = "{error, malformed_endpoint}"
		row.Cause = "the contact's endpoint file is malformed"
		row.Fix = "delete it; the contact rewrites it when it restarts"
		d.add(row)
		return
	}
	addr, err := d.resolver().Resolve(ctx, c)
	if err != nil {
		row.Status, row.Detail = statusFail, fmt.Sprintf("%s does not resolve: %v", c, err)
		if strings.Contains(err.Error(), "dns") {
			row.Symptom = "barrel_p2p_discovery_dns: no records for <host>; active view always empty"
		}
		d.add(row)
		return
	}
	host, _ := discovery.HostPart(c)
	if _, err := netip.ParseAddr(host); err == nil {
		row.Status = statusWarn
		row.Detail = fmt.Sprintf("%s: no endpoint file in %s; DNS fallback gives %s, right only if it listens on that port", c, d.s.QUIC.DiscoveryDir, addr)
		row.Cause = "the contact has not published an endpoint file in this discovery directory"
		d.add(row)
		return
	}
	d.ok("contacts", "%s -> %s (DNS)", c, addr)
}

func (d *doctor) checkContactTCP(ctx context.Context, c string) {
	alive, host, _ := strings.Cut(c, "@")
	_, port, _ := net.SplitHostPort(d.s.EPMD)
	addr := net.JoinHostPort(host, port)
	info, err := (&epmd.Client{Addr: addr}).PortPlease(ctx, alive)
	if err != nil {
		f := finding{Check: "contacts", Status: statusFail, Detail: fmt.Sprintf("%s: %v", c, err),
			Symptom: "the node never joins: connect to " + c + " fails",
			Cause:   "the contact is not running, or not registered with the EPMD at " + addr,
			Fix:     "start the contact node, check its name (long names: alive@ip-or-fqdn) and that EPMD port " + port + " is reachable"}
		if !errors.Is(err, epmd.ErrNotRegistered) {
			f.Cause = "EPMD at " + addr + " cannot be reached (host down, firewall, or another ERL_EPMD_PORT)"
		}
		d.add(f)
		return
	}
	d.ok("contacts", "%s registered with EPMD at %s on port %d", c, addr, info.Port)
}

// --- peer: test dial and clocks -------------------------------------------

// running reports whether this node seems to run now: then dialing as its
// name would replace its live connection to the peer.
func (d *doctor) running(ctx context.Context) bool {
	if d.s.Proto == "quic" {
		if d.ownEndpointPort == 0 {
			return false
		}
		addr := netip.AddrPortFrom(d.s.QUIC.Address, uint16(d.ownEndpointPort))
		c, err := net.ListenPacket("udp", addr.String())
		if err != nil {
			return errors.Is(err, syscall.EADDRINUSE)
		}
		c.Close()
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	alive, _, _ := strings.Cut(d.s.Name, "@")
	_, err := (&epmd.Client{Addr: d.s.EPMD}).PortPlease(ctx, alive)
	return err == nil
}

func (d *doctor) dialName(ctx context.Context) (name string, derived bool) {
	if d.as != "" {
		return d.as, d.as != d.s.Name
	}
	if d.running(ctx) {
		alive, host, _ := strings.Cut(d.s.Name, "@")
		return alive + "_doctor@" + host, true
	}
	return d.s.Name, false
}

func (d *doctor) checkPeer(ctx context.Context) {
	if d.s.Cookie == "" {
		d.skip("dial", "no cookie: test dial of %s not run", d.peer)
		return
	}
	name, derived := d.dialName(ctx)
	quiet := slog.New(slog.DiscardHandler)
	opts := node.Options{Name: name, Cookie: d.s.Cookie, Hidden: true, HandshakeTimeout: d.timeout, Logger: quiet, TickTime: d.s.TickTime}
	var pub []byte
	if d.s.Proto == "quic" {
		tr, p, why := d.doctorTransport(name)
		if tr == nil {
			d.skip("dial", "test dial of %s not run: %s", d.peer, why)
			return
		}
		opts.Transport, pub = tr, p
	} else {
		opts.EPMDAddr, opts.NoEmbeddedEPMD = d.s.EPMD, d.s.NoEmbeddedEPMD
	}
	sctx, cancel := context.WithTimeout(ctx, d.timeout)
	n, err := node.Start(sctx, opts)
	cancel()
	if err != nil {
		d.skip("dial", "test dial of %s not run: cannot start a node as %s: %v", d.peer, name, err)
		return
	}
	defer n.Stop()
	note := ""
	if derived {
		note = " (as " + name + ", since " + d.s.Name + " is running)"
	}
	cctx, cancel := context.WithTimeout(ctx, d.timeout+time.Second)
	err = n.Connect(cctx, etf.Atom(d.peer))
	cancel()
	if err != nil {
		f := d.classifyDial(err, name, derived, pub)
		f.Detail = fmt.Sprintf("%s%s: %v", d.peer, note, err)
		d.add(f)
		d.skip("clock", "not compared: no connection to %s", d.peer)
		return
	}
	d.ok("dial", "connected to %s over %s%s: %s", d.peer, d.s.Proto, note,
		pick(d.s.Proto == "quic" && d.s.QUIC.AuthEnabled, "Ed25519 auth and cookie accepted", "cookie accepted"))
	d.checkClock(ctx, n)
}

// doctorTransport builds a QUIC carrier that behaves as the node's but
// changes nothing on disk: an in-memory certificate when the node has none
// yet (the server never checks a client's), the node's own identity, and
// its pins copied into memory so a TOFU success pins nothing.
func (d *doctor) doctorTransport(name string) (*protodist.Transport, []byte, string) {
	q := d.s.QUIC
	quiet := slog.New(slog.DiscardHandler)
	var cert tls.Certificate
	if c, err := certs.Load(q.QUICCertDir); err == nil {
		cert = c.Certificate
	} else {
		cp, kp, err := certs.Create(certs.DefaultCommonName, certs.Options{})
		if err == nil {
			cert, err = tls.X509KeyPair(cp, kp)
		}
		if err != nil {
			return nil, nil, "cannot make a TLS certificate: " + err.Error()
		}
	}
	var a auth.Authenticator
	var pub []byte
	if q.AuthEnabled && !isDisabledAuth(q.Authenticator) {
		k, err := auth.LoadKeyPair(q.AuthKeyDir)
		if err != nil {
			return nil, nil, "this node has no usable Ed25519 identity yet (start it once, or see the keypair check): " + err.Error()
		}
		pub = k.Public
		disk, _, err := loadPins(q.AuthKeyDir)
		if err != nil {
			return nil, nil, err.Error()
		}
		mem := auth.NewMemoryPins(quiet)
		for _, p := range disk.List() {
			_ = mem.Store(p.Node, p.PublicKey)
		}
		a, err = auth.New(auth.Config{LocalName: name, Identity: k, Pins: mem, TrustMode: q.AuthTrustMode,
			Timeout: q.AuthHandshakeTimeout, TimestampWindow: q.AuthTimestampWindow, CookieOnlyNodes: q.CookieOnlyNodes, Logger: quiet})
		if err != nil {
			return nil, nil, err.Error()
		}
	} else if q.Authenticator != nil && !isDisabledAuth(q.Authenticator) {
		a = q.Authenticator
	}
	host := "0.0.0.0"
	if q.Address.IsValid() {
		host = q.Address.String()
	}
	tr, err := protodist.NewTransport(protodist.TransportOptions{
		ListenAddr:    net.JoinHostPort(host, "0"),
		Certificate:   cert,
		Authenticator: a,
		AuthTimeout:   q.AuthHandshakeTimeout,
		Resolver:      d.resolver(),
		TickTime:      d.s.TickTime,
		Logger:        quiet,
	})
	if err != nil {
		return nil, nil, err.Error()
	}
	return tr, pub, ""
}

// classifyDial maps a failed connection to its troubleshooting row.
func (d *doctor) classifyDial(err error, name string, derived bool, pub []byte) finding {
	f := finding{Check: "dial", Status: statusFail}
	peer := d.peer
	var ae *auth.Error
	switch {
	case errors.As(err, &ae) && errors.Is(err, auth.ErrAuthRejected):
		switch ae.FailReason {
		case "untrusted_key":
			f.Symptom = "{auth_rejected, untrusted_key}"
			f.Cause = peer + " is in strict mode and has no pin for " + name
			f.Fix = "provision this node's public key on " + peer + ": barrel_p2p_dist_keys:store_key('" + name + "', binary:decode_hex(<<\"" + hex.EncodeToString(pub) + "\">>)) on Erlang, barrelgo keys pins store " + name + " " + hex.EncodeToString(pub) + " on barrelgo; or switch it to tofu"
			if derived {
				f.Status = statusWarn
				f.Cause = peer + " is in strict mode and has no pin for the doctor's name " + name + " (expected; the running node's own name may well be pinned)"
				f.Fix = "stop the node and rerun, or pass --as with a name " + peer + " has pinned"
			}
		case "key_mismatch":
			f.Symptom = "{auth_rejected, key_mismatch} (on " + peer + ": key_mismatch)"
			f.Cause = peer + " holds another key for " + name + ": this node's identity was rotated or regenerated, or another node used this name"
			f.Fix = "if the rotation was yours, delete the stale pin on " + peer + " (barrel_p2p_dist_keys:delete_key('" + name + "'), or remove its trusted/" + name + ".pub) and let TOFU re-pin; otherwise treat it as a security event"
		case "signature_invalid":
			f.Symptom = "{auth_rejected, signature_invalid}"
			f.Cause = peer + " could not verify this node's signature: node.pub does not derive from node.key, the response was older than auth_timestamp_window, or something on the path relays the connection"
			f.Fix = "see the keypair check (restore the pair or rotate), compare clocks (NTP), and check auth_timestamp_window on both sides"
		default:
			f.Symptom = "{auth_rejected, " + ae.FailReason + "}"
			f.Cause = peer + " refused the authentication"
			f.Fix = "read " + peer + "'s log around this time"
		}
	case errors.Is(err, auth.ErrUntrustedKey):
		f.Symptom = "auth client " + peer + " failed: untrusted_key"
		f.Cause = "this node is in strict mode and has no pin for " + peer
		f.Fix = "pin " + peer + "'s node.pub as " + filepath.Join(d.s.QUIC.AuthKeyDir, auth.TrustedDirName, peer+".pub") + " (barrelgo keys pins store " + peer + " PUBHEX) or switch to tofu"
	case errors.Is(err, auth.ErrKeyMismatch):
		f.Symptom = "auth client " + peer + " failed: key_mismatch (barrel_p2p: Key mismatch for node " + peer + " - existing key differs from presented key)"
		f.Cause = peer + "'s identity rotated, or someone is impersonating it"
		f.Fix = "if " + peer + " just rotated its keys, delete the stale pin " + filepath.Join(d.s.QUIC.AuthKeyDir, auth.TrustedDirName, peer+".pub") + " and let TOFU re-pin (or pin the new key); otherwise treat it as a security event"
	case errors.Is(err, auth.ErrAuthStreamTimeout):
		f.Symptom = "auth_stream_timeout"
		f.Cause = "the exchange did not finish within auth_handshake_timeout: auth_enabled differs between the nodes, the peer does not run barrel_p2p's auth, or the link is slow or lossy"
		f.Fix = "make quic.auth_enabled equal on every node; inspect the network between the peers; raise quic.auth_handshake_timeout if the link is genuinely slow"
	case errors.Is(err, auth.ErrPeerTSSkew):
		f.Symptom = "peer_ts_skew"
		f.Cause = fmt.Sprintf("the clocks of this host and %s differ by more than 2 × auth_timestamp_window (%v)", peer, 2*d.s.QUIC.AuthTimestampWindow)
		f.Fix = "synchronise both hosts with NTP"
	case errors.Is(err, auth.ErrSignatureVerificationFailed):
		f.Symptom = "signature_verification_failed"
		f.Cause = peer + "'s signature did not verify: its node.pub does not derive from its node.key (keypair_mismatch there), or something relays the connection"
		f.Fix = "run barrelgo doctor (or check barrel_p2p_dist_auth:load_keypair/1) on " + peer
	case errors.Is(err, auth.ErrUnexpectedAuthOK):
		f.Symptom = "{error, unexpected_auth_ok}"
		f.Cause = peer + " lists this node in its cookie_only_nodes but this node does not list " + peer
		f.Fix = "cookie-only is symmetric: list the peer on both sides, or remove it from cookie_only_nodes"
	case errors.Is(err, auth.ErrUnexpectedMessage):
		f.Symptom = "{unexpected_message, _}"
		f.Cause = peer + " does not speak barrel_p2p auth v2: auth is off there, or it runs an old barrel_p2p"
		f.Fix = "make quic.auth_enabled equal on every node and run barrel_p2p with auth protocol v2"
	case errors.Is(err, handshake.ErrCookieMismatch):
		f.Symptom = "{exit, normal} right after the dist handshake starts; on the peer: ** Connection attempt from node " + name + " rejected. Invalid challenge reply. **"
		f.Cause = "cookie mismatch"
		f.Fix = "set the same cookie on every node (barrel_p2p's dist_cookie, which overrides -setcookie once barrel_p2p has started)"
	case errors.Is(err, handshake.ErrDeadlineExceeded) && strings.Contains(err.Error(), "recv challenge ack"):
		f.Symptom = "the connection hangs after the challenge reply, then times out (barrel_p2p's acceptor stays silent on a bad cookie)"
		f.Cause = "cookie mismatch (most likely)"
		f.Fix = "set the same cookie on every node (barrel_p2p's dist_cookie, which overrides -setcookie once barrel_p2p has started)"
	case errors.Is(err, epmd.ErrNotRegistered):
		f.Symptom = "pang; epmd: node not registered in EPMD"
		f.Cause = peer + " is not running, or runs another carrier (barrel_p2p nodes use QUIC and do not register with EPMD)"
		f.Fix = "start " + peer + ", check the name, and use proto = \"quic\" for barrel_p2p clusters"
	case errors.Is(err, discovery.ErrNotFound):
		f.Symptom = "discovery: no backend knows " + peer
		f.Cause = "no endpoint file for it in quic.discovery_dir and its host part does not resolve"
		f.Fix = "share barrel_p2p's discovery_dir with this node, or publish DNS records for the host part"
	case errors.Is(err, syscall.ECONNREFUSED):
		f.Symptom = "Connection refused on the dist port"
		f.Cause = "a firewall, or the peer does not listen where EPMD or discovery says"
		f.Fix = "check the actual port (ss -tlnp / ss -unlp on the peer) and the firewall rules"
	case isTimeout(err):
		f.Symptom = "no answer from " + peer + " within " + d.timeout.String()
		f.Cause = "the peer is down, a firewall drops the packets, the endpoint names the wrong port, or the peer runs the other carrier (tcp vs quic)"
		f.Fix = "check that " + peer + " runs and listens where discovery says (ss -unlp | grep beam), and that both sides use the same proto"
	default:
		f.Symptom = err.Error()
		f.Cause = "the connection failed"
		f.Fix = "rerun with -log-level debug on the node, and read " + peer + "'s log"
	}
	return f
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return strings.Contains(err.Error(), "timeout")
}

// checkClock compares the peer's wall clock with ours through
// rpc:call(Peer, erlang, system_time, [millisecond]).
func (d *doctor) checkClock(ctx context.Context, n *node.Node) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	t0 := time.Now()
	v, err := n.RPC(ctx, etf.Atom(d.peer), "erlang", "system_time", etf.Atom("millisecond"))
	t1 := time.Now()
	if err != nil {
		// A barrelgo peer has no erlang module; its status may carry the
		// time.
		t0 = time.Now()
		st, serr := n.RPC(ctx, etf.Atom(d.peer), "barrelgo", "status")
		t1 = time.Now()
		v = nil
		if m, ok := st.(etf.Map); serr == nil && ok {
			for _, p := range m {
				if p.Key == etf.Atom("system_time_ms") {
					v = p.Value
				}
			}
		}
		if v == nil {
			d.skip("clock", "%s does not answer erlang:system_time/1 (%v); compare its clock by hand", d.peer, err)
			return
		}
	}
	ms, ok := v.(int64)
	if !ok {
		d.skip("clock", "%s answered erlang:system_time/1 with %s", d.peer, etf.Format(v))
		return
	}
	rtt := t1.Sub(t0)
	mid := t0.Add(rtt / 2)
	skew := time.UnixMilli(ms).Sub(mid).Round(time.Millisecond)
	abs := skew.Abs()
	window := d.s.QUIC.AuthTimestampWindow
	if window <= 0 {
		window = auth.DefaultTimestampWindow
	}
	detail := fmt.Sprintf("%s's clock is %v %s ours (±%v)", d.peer, abs, pick(skew >= 0, "ahead of", "behind"), (rtt / 2).Round(time.Millisecond))
	switch {
	case abs > 2*window:
		d.add(finding{Check: "clock", Status: statusFail, Detail: detail,
			Symptom: "peer_ts_skew (the connection closes without a FAIL)",
			Cause:   fmt.Sprintf("wall clocks differ by more than 2 × auth_timestamp_window (%v)", 2*window),
			Fix:     "synchronise both hosts with NTP"})
	case abs > window:
		d.add(finding{Check: "clock", Status: statusWarn, Detail: detail,
			Symptom: "none yet; peer_ts_skew once the skew passes " + (2 * window).String(),
			Cause:   "the clocks drift apart", Fix: "synchronise both hosts with NTP"})
	default:
		d.ok("clock", "%s", detail)
	}
}
