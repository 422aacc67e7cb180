package interop

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	rand2 "math/rand/v2"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/node"
	"github.com/barrelgo/barrelgo/protodist"
	"github.com/barrelgo/barrelgo/protodist/auth"
)

// configCluster starts QUIC nodes from protodist.Config the way a user
// does: certificates, identities and pins on disk, discovery through a
// shared endpoint directory.
type configCluster struct {
	t    *testing.T
	root string
	disc string
}

func newConfigCluster(t *testing.T) *configCluster {
	root := t.TempDir()
	return &configCluster{t: t, root: root, disc: filepath.Join(root, "discovery")}
}

func (c *configCluster) config(alive string, mutate func(*protodist.Config)) protodist.Config {
	cfg := protodist.DefaultConfig(filepath.Join(c.root, alive))
	cfg.DiscoveryDir = c.disc
	cfg.DistCookie = testCookie
	if mutate != nil {
		mutate(&cfg)
	}
	return cfg
}

func (c *configCluster) start(alive string, mutate func(*protodist.Config)) (*node.Node, error) {
	name := alive + "@127.0.0.1"
	cfg := c.config(alive, mutate)
	tr, err := protodist.NewFromConfig(cfg, name, 0, nil, nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := node.Start(ctx, node.Options{Name: name, Cookie: cfg.DistCookie, Transport: tr})
	if err != nil {
		return nil, err
	}
	c.t.Cleanup(func() { n.Stop() })
	return n, nil
}

func (c *configCluster) mustStart(alive string, mutate func(*protodist.Config)) *node.Node {
	c.t.Helper()
	n, err := c.start(alive, mutate)
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

func uniq(prefix string) string { return prefix + strconv.Itoa(rand2.IntN(1e6)) }

// TestQUICGoGoAuth runs the scenario list over QUIC with Ed25519 auth on,
// each node with its own keys (TOFU), exactly as configured on disk.
func TestQUICGoGoAuth(t *testing.T) {
	c := newQUICCluster(t)
	c.auth = func(t *testing.T, name string) auth.Authenticator {
		kp, err := auth.GenerateKeyPair(nil)
		if err != nil {
			t.Fatal(err)
		}
		a, err := auth.New(auth.Config{LocalName: name, Identity: kp, Pins: auth.NewMemoryPins(nil)})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	runGoGoScenarios(t, c)
}

func ping(ctx context.Context, from *node.Node, to etf.Atom) error {
	_, err := from.Call(ctx, etf.Tuple{etf.Atom("net_kernel"), to}, etf.Tuple{etf.Atom("is_auth"), from.Name()})
	return err
}

func TestQUICConfigAttacks(t *testing.T) {
	c := newConfigCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := c.mustStart(uniq("qa"), nil)
	b := c.mustStart(uniq("qb"), nil)

	t.Run("tofu_pins_on_first_contact", func(t *testing.T) {
		if err := ping(ctx, a, b.Name()); err != nil {
			t.Fatal(err)
		}
		for _, n := range []*node.Node{a, b} {
			other := b.Name()
			if n == b {
				other = a.Name()
			}
			pin := filepath.Join(c.root, strings.Split(string(n.Name()), "@")[0], "keys", "trusted", string(other)+".pub")
			st, err := os.Stat(pin)
			if err != nil || st.Size() != 32 || st.Mode().Perm() != 0o600 {
				t.Fatalf("pin %s: %v %v", pin, st, err)
			}
		}
	})

	t.Run("strict_refuses_unknown_key", func(t *testing.T) {
		s := c.mustStart(uniq("qs"), func(cfg *protodist.Config) { cfg.AuthTrustMode = auth.TrustStrict })
		err := a.Connect(ctx, s.Name())
		if err == nil || !errors.Is(err, auth.ErrAuthRejected) && !errors.Is(err, auth.ErrUntrustedKey) && !strings.Contains(err.Error(), "untrusted_key") {
			t.Fatalf("strict node accepted an unknown key: %v", err)
		}
		err = s.Connect(ctx, b.Name())
		if err == nil || !strings.Contains(err.Error(), "untrusted_key") {
			t.Fatalf("strict client accepted an unknown server key: %v", err)
		}
	})

	t.Run("key_change_is_key_mismatch", func(t *testing.T) {
		// b restarts under the same name with a new identity.
		alive := strings.Split(string(b.Name()), "@")[0]
		b.Stop()
		if err := os.RemoveAll(filepath.Join(c.root, alive, "keys", "node.key")); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(c.root, alive, "keys", "node.pub"))
		b2 := c.mustStart(alive, nil)
		err := a.Connect(ctx, b2.Name())
		if err == nil || !strings.Contains(err.Error(), "key_mismatch") {
			t.Fatalf("changed key accepted: %v", err)
		}
	})

	t.Run("cookie_mismatch", func(t *testing.T) {
		x := c.mustStart(uniq("qc"), func(cfg *protodist.Config) { cfg.DistCookie = "another_cookie" })
		err := a.Connect(ctx, x.Name())
		if err == nil || !strings.Contains(err.Error(), "cookie") {
			t.Fatalf("cookie mismatch not reported: %v", err)
		}
	})

	t.Run("auth_mismatch_fails_closed", func(t *testing.T) {
		x := c.mustStart(uniq("qn"), func(cfg *protodist.Config) { cfg.AuthEnabled = false })
		if err := a.Connect(ctx, x.Name()); err == nil {
			t.Fatal("an auth node connected to a node without auth")
		}
	})
}
