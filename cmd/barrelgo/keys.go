package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/barrelgo/barrelgo/protodist/auth"
	"github.com/barrelgo/barrelgo/protodist/certs"
)

const keysUsage = `Usage:
  barrelgo keys gen    [--dir DIR]     create the node's Ed25519 identity
  barrelgo keys show   [--dir DIR]     print its public key and fingerprint
  barrelgo keys rotate [--dir DIR]     replace it, keeping a backup
  barrelgo keys pins list   [--dir DIR]
  barrelgo keys pins store NODE PUBHEX [--dir DIR]
  barrelgo keys pins delete NODE [--dir DIR]
DIR is auth_key_dir: -dir, else quic.auth_key_dir of -config, else DATA_DIR/keys.
`

const certUsage = `Usage:
  barrelgo cert gen  [--dir DIR] [--name CN] [--force]  create the QUIC TLS certificate
  barrelgo cert show [--dir DIR]                         print it
DIR is quic_cert_dir: -dir, else quic.quic_cert_dir of -config, else DATA_DIR/quic.
`

// dirFlags registers -config, -data-dir and -dir and returns the directory
// they select: -dir, else pick applied to the configuration.
func dirFlags(fs *flag.FlagSet, what string, pick func(*fileConfig) string) func() (string, error) {
	cf := &configFlags{}
	fs.StringVar(&cf.path, "config", "", "TOML configuration file (default $"+envConfig+")")
	dataDir := &keyFlag{key: "data_dir"}
	cf.vals = append(cf.vals, dataDir)
	fs.Var(dataDir, "data-dir", "data directory (config: data_dir)")
	dir := fs.String("dir", "", what)
	return func() (string, error) {
		if *dir != "" {
			return *dir, nil
		}
		cfg, err := loadConfig(cf.path, cf)
		if err != nil {
			return "", err
		}
		return pick(cfg), nil
	}
}

func cmdKeys(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"keys needs a subcommand\n\n" + keysUsage}
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, keysUsage)
		return nil
	}
	sub := args[0]
	if sub == "pins" {
		if len(args) < 2 {
			return usageError{"keys pins needs list, store or delete\n\n" + keysUsage}
		}
		sub = "pins " + args[1]
		args = args[1:]
	}
	flags := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() { fmt.Fprint(stderr, keysUsage); flags.PrintDefaults() }
	dirOf := dirFlags(flags, "key directory (auth_key_dir)", func(c *fileConfig) string { return c.QUIC.AuthKeyDir })
	pos, err := parseArgs(flags, args[1:])
	if err != nil {
		return err
	}
	want := map[string]int{"gen": 0, "show": 0, "rotate": 0, "pins list": 0, "pins store": 2, "pins delete": 1}
	n, ok := want[sub]
	if !ok {
		return usageError{fmt.Sprintf("unknown subcommand keys %s\n\n%s", sub, keysUsage)}
	}
	if len(pos) != n {
		return usageError{fmt.Sprintf("keys %s takes %d arguments, got %d\n\n%s", sub, n, len(pos), keysUsage)}
	}
	dir, err := dirOf()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	switch sub {
	case "gen":
		if k, err := auth.LoadKeyPair(dir); err == nil {
			return fmt.Errorf("an identity already exists in %s (fingerprint %s); 'barrelgo keys rotate' replaces it and keeps a backup",
				dir, auth.FingerprintHex(k.Public))
		}
		// What is left is no identity, or a partial one EnsureKeyPair
		// completes (node.key without node.pub) or refuses.
		k, err := auth.EnsureKeyPair(dir, nil)
		if err != nil {
			return fmt.Errorf("%s holds an identity that does not load: %w", dir, err)
		}
		fmt.Fprintf(stdout, "identity in %s\n", dir)
		printKey(stdout, k)
	case "show":
		k, err := auth.LoadKeyPair(dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("no identity in %s (auth_key_dir): 'barrelgo keys gen' creates one, a quic node creates one at start: %w", dir, err)
			}
			return err
		}
		printKey(stdout, k)
	case "rotate":
		info, err := auth.RotateIdentity(dir, auth.RotateOptions{Logger: log})
		if err != nil {
			return err
		}
		k, err := auth.LoadKeyPair(dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "identity rotated in %s\n", dir)
		printKey(stdout, k)
		if info.BackupDir != "" {
			fmt.Fprintf(stdout, "backup       %s\n", info.BackupDir)
		}
		fmt.Fprintln(stdout, "A running node signs with the new key at once. Peers running in strict-trust mode must re-pin it;")
		fmt.Fprintln(stdout, "peers in tofu mode that pinned the old key refuse it (key_mismatch) until they delete the old pin.")
	case "pins list":
		if !exists(dir) {
			return fmt.Errorf("no key directory %s (auth_key_dir): pass -dir or the node's -data-dir", dir)
		}
		pins, err := auth.OpenPins(dir, log)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tFINGERPRINT\tPUBLIC KEY")
		for _, p := range pins.List() {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Node, p.Fingerprint(), hex.EncodeToString(p.PublicKey))
		}
		if len(pins.List()) == 0 {
			fmt.Fprintln(tw, "-\t\t")
		}
		return tw.Flush()
	case "pins store":
		node, pubHex := pos[0], strings.TrimSpace(pos[1])
		key, err := hex.DecodeString(pubHex)
		if err != nil || len(key) != 32 {
			return usageError{fmt.Sprintf("PUBHEX must be the 64 hex digits of a 32-byte Ed25519 public key ('barrelgo keys show' on %s prints it), got %q", node, pubHex)}
		}
		pins, err := auth.OpenPins(dir, log)
		if err != nil {
			return err
		}
		old, had := pins.Get(node)
		if err := pins.Store(node, key); err != nil {
			if errors.Is(err, auth.ErrInvalidNodeName) {
				return usageError{fmt.Sprintf("%q is not a valid node name for a pin (name@host)", node)}
			}
			return err
		}
		fmt.Fprintf(stdout, "pinned %s to fingerprint %s in %s\n", node, auth.FingerprintHex(key), pins.Dir())
		if had && old.Fingerprint() != auth.FingerprintHex(key) {
			fmt.Fprintf(stdout, "replaced the previous pin (fingerprint %s)\n", old.Fingerprint())
		}
		fmt.Fprintln(stdout, "A running node reads its pins at start: restart it to use this pin.")
	case "pins delete":
		if !exists(dir) {
			return fmt.Errorf("no key directory %s (auth_key_dir): pass -dir or the node's -data-dir", dir)
		}
		pins, err := auth.OpenPins(dir, log)
		if err != nil {
			return err
		}
		if _, ok := pins.Get(pos[0]); !ok {
			return fmt.Errorf("no pin for %s in %s", pos[0], pins.Dir())
		}
		if err := pins.Delete(pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted the pin of %s; in tofu mode its next key is pinned at its next connection\n", pos[0])
		fmt.Fprintln(stdout, "A running node reads its pins at start: restart it to forget the pin.")
	}
	return nil
}

// printKey prints the public key and its SHA-256 fingerprint, the hex form
// barrel_p2p logs ("new fingerprint <hex>").
func printKey(w io.Writer, k auth.KeyPair) {
	fmt.Fprintf(w, "public key   %s\n", hex.EncodeToString(k.Public))
	fmt.Fprintf(w, "fingerprint  %s\n", auth.FingerprintHex(k.Public))
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func cmdCert(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"cert needs a subcommand\n\n" + certUsage}
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, certUsage)
		return nil
	}
	sub := args[0]
	fs := flag.NewFlagSet("cert "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, certUsage); fs.PrintDefaults() }
	dirOf := dirFlags(fs, "certificate directory (quic_cert_dir)", func(c *fileConfig) string { return c.QUIC.QUICCertDir })
	name := fs.String("name", certs.DefaultCommonName, "certificate common name")
	force := fs.Bool("force", false, "replace an existing certificate (the old one is backed up)")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if sub != "gen" && sub != "show" {
		return usageError{fmt.Sprintf("unknown subcommand cert %s\n\n%s", sub, certUsage)}
	}
	if len(pos) != 0 {
		return usageError{fmt.Sprintf("cert %s takes no arguments, got %q", sub, pos)}
	}
	dir, err := dirOf()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	certPath := filepath.Join(dir, certs.CertFileName)
	if sub == "gen" {
		if exists(certPath) && !*force {
			return fmt.Errorf("a certificate already exists in %s; pass -force to replace it (it is backed up)", dir)
		}
		if exists(certPath) {
			info, err := certs.Rotate(dir, *name, certs.Options{Logger: log})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "certificate replaced; backup in %s; restart the node to serve it\n", info.BackupDir)
		} else if err := certs.Generate(dir, *name, certs.Options{Logger: log}); err != nil {
			return fmt.Errorf("cert ensure failed: %w", err)
		}
	}
	c, err := certs.Load(dir)
	if err != nil {
		if errors.Is(err, certs.ErrNoCredentials) {
			return fmt.Errorf("no certificate in %s (quic_cert_dir): 'barrelgo cert gen' creates one, a quic node creates one at start: %w", dir, err)
		}
		return err
	}
	leaf := c.Leaf()
	fp := sha256.Sum256(leaf.Raw)
	fmt.Fprintf(stdout, "certificate  %s\n", c.CertFile)
	fmt.Fprintf(stdout, "key          %s\n", c.KeyFile)
	fmt.Fprintf(stdout, "subject      %s\n", leaf.Subject)
	fmt.Fprintf(stdout, "valid        %s to %s\n", leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(stdout, "sha256       %s (the auth channel binding)\n", hex.EncodeToString(fp[:]))
	return nil
}
