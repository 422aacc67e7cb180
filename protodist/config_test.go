package protodist

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/protodist/auth"
	"github.com/prometheus/client_golang/prometheus"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig("data")
	want := Config{
		ListenPort:           0,
		DistCookie:           "barrel_p2p",
		AuthEnabled:          true,
		AuthTrustMode:        auth.TrustTOFU,
		AuthKeyDir:           filepath.Join("data", "keys"),
		QUICCertDir:          filepath.Join("data", "quic"),
		AuthHandshakeTimeout: 10000 * time.Millisecond,
		AuthTimestampWindow:  30000 * time.Millisecond,
		DiscoveryDir:         filepath.Join("data", "discovery"),
		DistGCSweepPeriod:    60000 * time.Millisecond,
		DistGCMinAge:         300000 * time.Millisecond,
	}
	want.Address = c.Address
	if c.Address.String() != "127.0.0.1" {
		t.Errorf("address %v", c.Address)
	}
	if c.ListenPort != want.ListenPort || c.DistCookie != want.DistCookie || c.AuthEnabled != want.AuthEnabled ||
		c.AuthTrustMode != want.AuthTrustMode || c.AuthKeyDir != want.AuthKeyDir || c.QUICCertDir != want.QUICCertDir ||
		c.AuthHandshakeTimeout != want.AuthHandshakeTimeout || c.AuthTimestampWindow != want.AuthTimestampWindow ||
		c.DiscoveryDir != want.DiscoveryDir || c.DistGCSweepPeriod != want.DistGCSweepPeriod ||
		c.DistGCMinAge != want.DistGCMinAge || len(c.CookieOnlyNodes) != 0 || c.Authenticator != nil {
		t.Errorf("defaults\n got %+v\nwant %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "using the default distribution cookie 'barrel_p2p'") {
		t.Errorf("warnings %q", w)
	}
}

func TestConfigTagsNameBarrelKeys(t *testing.T) {
	c := DefaultConfig("d")
	for key, v := range map[string]any{
		"listen_port":             4433,
		"address":                 "10.0.0.1",
		"dist_cookie":             "s3cret",
		"auth_enabled":            false,
		"auth_trust_mode":         "strict",
		"auth_key_dir":            "/k",
		"quic_cert_dir":           "/q",
		"auth_handshake_timeout":  5000,
		"auth_timestamp_window":   int64(20000),
		"cookie_only_nodes":       []string{"mon@*"},
		"discovery_dir":           "/disc",
		"dist_gc_sweep_period_ms": 1000,
		"dist_gc_min_age_ms":      2000,
	} {
		if err := c.Set(key, v); err != nil {
			t.Errorf("Set(%s): %v", key, err)
		}
	}
	if c.ListenPort != 4433 || c.Address.String() != "10.0.0.1" || c.DistCookie != "s3cret" || c.AuthEnabled ||
		c.AuthTrustMode != auth.TrustStrict || c.AuthKeyDir != "/k" || c.QUICCertDir != "/q" ||
		c.AuthHandshakeTimeout != 5*time.Second || c.AuthTimestampWindow != 20*time.Second ||
		len(c.CookieOnlyNodes) != 1 || c.DiscoveryDir != "/disc" || c.DistGCSweepPeriod != time.Second || c.DistGCMinAge != 2*time.Second {
		t.Errorf("after Set: %+v", c)
	}
	for _, bad := range []struct {
		key string
		v   any
	}{{"cookie", "x"}, {"auth_trust_mode", "lenient"}, {"listen_port", "80"}, {"address", "::zz"}, {"auth_enabled", 1}} {
		err := c.Set(bad.key, bad.v)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != bad.key {
			t.Errorf("Set(%s, %v): %v", bad.key, bad.v, err)
		}
	}
}

func TestValidateNamesKeyValueWhy(t *testing.T) {
	cases := []struct {
		mut  func(*Config)
		key  string
		want string
	}{
		{func(c *Config) { c.ListenPort = 70000 }, "listen_port", "protodist: config listen_port=70000: must be 0..65535"},
		{func(c *Config) { c.AuthTrustMode = 0 }, "auth_trust_mode", "auth_trust_mode=TrustMode(0): must be tofu or strict"},
		{func(c *Config) { c.AuthHandshakeTimeout = 0 }, "auth_handshake_timeout", "auth_handshake_timeout=0s: must be positive"},
		{func(c *Config) { c.AuthTimestampWindow = -time.Second }, "auth_timestamp_window", "auth_timestamp_window=-1s"},
		{func(c *Config) { c.DistCookie = "" }, "dist_cookie", "dist_cookie"},
		{func(c *Config) { c.AuthKeyDir = "" }, "auth_key_dir", "auth_key_dir"},
		{func(c *Config) { c.QUICCertDir = "" }, "quic_cert_dir", "quic_cert_dir"},
		{func(c *Config) { c.DistGCMinAge = 0 }, "dist_gc_min_age_ms", "dist_gc_min_age_ms"},
		{func(c *Config) { c.DistCookie = "x"; c.CookieOnlyNodes = []string{"monitor"} }, "cookie_only_nodes", "cookie_only_nodes=monitor: pattern must be"},
	}
	for _, tc := range cases {
		c := DefaultConfig(t.TempDir())
		tc.mut(&c)
		err := c.Validate()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.key, err)
		}
	}
}

func TestValidateBarrelBootErrors(t *testing.T) {
	c := DefaultConfig(t.TempDir())
	c.Authenticator = auth.Disabled{}
	if err := c.Validate(); !errors.Is(err, ErrAuthEnabledWithoutCallback) {
		t.Errorf("auth_enabled with Disabled: %v", err)
	}
	c.AuthEnabled = false
	if err := c.Validate(); err != nil {
		t.Errorf("auth off: %v", err)
	}
	c = DefaultConfig(t.TempDir())
	c.CookieOnlyNodes = []string{"mon@*"}
	if err := c.Validate(); !errors.Is(err, ErrCookieOnlyWithDefaultCookie) {
		t.Errorf("cookie-only with default cookie: %v", err)
	}
	c.DistCookie = "secret"
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestNewAuthenticator(t *testing.T) {
	dir := t.TempDir()
	c := DefaultConfig(dir)
	c.DistCookie = "secret"
	a, err := c.NewAuthenticator("go@127.0.0.1", quietLogger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ed, ok := a.(*auth.Ed25519)
	if !ok || ed.TrustMode() != auth.TrustTOFU {
		t.Fatalf("%T", a)
	}
	// The identity was created in barrel_p2p's layout, trusted/ too.
	for _, f := range []string{"keys/node.key", "keys/node.pub", "keys/trusted"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	c.AuthEnabled = false
	a, err = c.NewAuthenticator("go@127.0.0.1", quietLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.(auth.Disabled); !ok {
		t.Fatalf("%T", a)
	}
	if peer, err := a.Authenticate(context.Background(), auth.Server, "", nil); peer != "" || err != nil {
		t.Errorf("disabled: %q %v", peer, err)
	}
	c.AuthEnabled = true
	c.Authenticator = auth.Disabled{}
	if _, err := c.NewAuthenticator("go@127.0.0.1", quietLogger(), nil); !errors.Is(err, ErrAuthEnabledWithoutCallback) {
		t.Errorf("%v", err)
	}
	// An invalid node name cannot authenticate with Erlang peers.
	c.Authenticator = nil
	if _, err := c.NewAuthenticator("go@::1", quietLogger(), nil); !errors.Is(err, auth.ErrInvalidNodeName) {
		t.Errorf("%v", err)
	}
}
