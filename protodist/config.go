package protodist

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/barrelgo/barrelgo/protodist/auth"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultDistCookie is barrel_p2p's default dist_cookie. Once barrel_p2p
// has started it overrides -setcookie, so this is the cookie of a cluster
// that never set one (auth.md §9.4).
const DefaultDistCookie = "barrel_p2p"

// Config holds the barrel_p2p application keys the QUIC carrier and its
// authentication use. Each field's barrel_p2p tag is the key's name in
// barrel_p2p's application environment (auth.md §16); durations are
// milliseconds there.
type Config struct {
	// ListenPort is the UDP port of the dist listener; 0 lets the OS pick.
	ListenPort int `barrel_p2p:"listen_port"`
	// Address is the IP HyParView advertises for this node.
	Address netip.Addr `barrel_p2p:"address"`
	// DistCookie is the Erlang distribution cookie of the cluster.
	DistCookie string `barrel_p2p:"dist_cookie"`

	// AuthEnabled switches the Ed25519 exchange; every node of a cluster
	// must agree.
	AuthEnabled bool `barrel_p2p:"auth_enabled"`
	// AuthTrustMode is tofu or strict.
	AuthTrustMode auth.TrustMode `barrel_p2p:"auth_trust_mode"`
	// AuthKeyDir holds node.key, node.pub, trusted/ and backups/.
	AuthKeyDir string `barrel_p2p:"auth_key_dir"`
	// QUICCertDir holds the TLS node.crt and node.key.
	QUICCertDir string `barrel_p2p:"quic_cert_dir"`
	// AuthHandshakeTimeout bounds the whole auth exchange.
	AuthHandshakeTimeout time.Duration `barrel_p2p:"auth_handshake_timeout"`
	// AuthTimestampWindow is the response freshness bound; peer clocks may
	// differ by twice this.
	AuthTimestampWindow time.Duration `barrel_p2p:"auth_timestamp_window"`
	// CookieOnlyNodes are "Name@Host" patterns ("*" per half) let in
	// without Ed25519.
	CookieOnlyNodes []string `barrel_p2p:"cookie_only_nodes"`
	// DiscoveryDir is the file discovery backend's directory.
	DiscoveryDir string `barrel_p2p:"discovery_dir"`

	// DistGCSweepPeriod and DistGCMinAge drive the idle dist-channel GC.
	DistGCSweepPeriod time.Duration `barrel_p2p:"dist_gc_sweep_period_ms"`
	DistGCMinAge      time.Duration `barrel_p2p:"dist_gc_min_age_ms"`

	// Authenticator is barrel_p2p's {quic, dist} auth_callback. Nil means
	// the default, built by NewAuthenticator from the keys above (what
	// barrel_p2p projects when the key is absent); auth.Disabled{} is the
	// explicit "no callback" (barrel_p2p's undefined).
	Authenticator auth.Authenticator `barrel_p2p:"auth_callback"`
}

// DefaultConfig returns barrel_p2p's defaults with its relative data paths
// ("data/keys", "data/quic", "data/discovery") placed under dataDir.
func DefaultConfig(dataDir string) Config {
	return Config{
		ListenPort:           0,
		Address:              netip.AddrFrom4([4]byte{127, 0, 0, 1}),
		DistCookie:           DefaultDistCookie,
		AuthEnabled:          true,
		AuthTrustMode:        auth.TrustTOFU,
		AuthKeyDir:           filepath.Join(dataDir, "keys"),
		QUICCertDir:          filepath.Join(dataDir, "quic"),
		AuthHandshakeTimeout: auth.DefaultHandshakeTimeout,
		AuthTimestampWindow:  auth.DefaultTimestampWindow,
		DiscoveryDir:         filepath.Join(dataDir, "discovery"),
		DistGCSweepPeriod:    60 * time.Second,
		DistGCMinAge:         300 * time.Second,
	}
}

// ConfigError is one invalid setting.
type ConfigError struct {
	Key    string // barrel_p2p key
	Value  any
	Reason string
	// Err is a sentinel for the barrel_p2p boot errors
	// (ErrAuthEnabledWithoutCallback, ErrCookieOnlyWithDefaultCookie).
	Err error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("protodist: config %s=%v: %s", e.Key, e.Value, e.Reason)
}

func (e *ConfigError) Unwrap() error { return e.Err }

var (
	// ErrAuthEnabledWithoutCallback is barrel_p2p's
	// {barrel_p2p_dist, auth_enabled_without_callback}: auth_enabled with
	// no authenticator.
	ErrAuthEnabledWithoutCallback = errors.New("auth_enabled_without_callback")
	// ErrCookieOnlyWithDefaultCookie is barrel_p2p's
	// {barrel_p2p, cookie_only_nodes_with_default_cookie}: cookie-only
	// peers would be gated by a publicly known cookie.
	ErrCookieOnlyWithDefaultCookie = errors.New("cookie_only_nodes_with_default_cookie")
)

// Validate checks every setting and returns all problems joined, each a
// *ConfigError naming the key, the value and why.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key string, v any, why string) {
		errs = append(errs, &ConfigError{Key: key, Value: v, Reason: why})
	}
	if c.ListenPort < 0 || c.ListenPort > 65535 {
		bad("listen_port", c.ListenPort, "must be 0..65535 (0: the OS picks)")
	}
	if !c.Address.IsValid() {
		bad("address", c.Address, "must be an IP address")
	}
	if c.DistCookie == "" {
		bad("dist_cookie", `""`, "must not be empty")
	}
	if c.AuthTrustMode != auth.TrustTOFU && c.AuthTrustMode != auth.TrustStrict {
		bad("auth_trust_mode", c.AuthTrustMode, "must be tofu or strict")
	}
	if c.AuthKeyDir == "" {
		bad("auth_key_dir", `""`, "must name a directory")
	}
	if c.QUICCertDir == "" {
		bad("quic_cert_dir", `""`, "must name a directory")
	}
	if c.AuthHandshakeTimeout <= 0 {
		bad("auth_handshake_timeout", c.AuthHandshakeTimeout, "must be positive (one deadline for the whole exchange)")
	}
	if c.AuthTimestampWindow <= 0 {
		bad("auth_timestamp_window", c.AuthTimestampWindow, "must be positive")
	}
	for _, p := range c.CookieOnlyNodes {
		if n, h, ok := strings.Cut(p, "@"); !ok || n == "" || h == "" {
			bad("cookie_only_nodes", p, `pattern must be "Name@Host" (either half may be "*"); this one never matches`)
		}
	}
	if len(c.CookieOnlyNodes) > 0 && c.DistCookie == DefaultDistCookie {
		errs = append(errs, &ConfigError{Key: "cookie_only_nodes", Value: c.CookieOnlyNodes,
			Reason: "requires a dist_cookie other than the default 'barrel_p2p'", Err: ErrCookieOnlyWithDefaultCookie})
	}
	if c.DiscoveryDir == "" {
		bad("discovery_dir", `""`, "must name a directory")
	}
	if c.DistGCSweepPeriod <= 0 {
		bad("dist_gc_sweep_period_ms", c.DistGCSweepPeriod, "must be positive")
	}
	if c.DistGCMinAge <= 0 {
		bad("dist_gc_min_age_ms", c.DistGCMinAge, "must be positive")
	}
	if c.AuthEnabled {
		if isDisabled(c.Authenticator) {
			errs = append(errs, &ConfigError{Key: "auth_enabled", Value: true,
				Reason: "auth_callback is auth.Disabled: no authenticator would run", Err: ErrAuthEnabledWithoutCallback})
		}
	}
	return errors.Join(errs...)
}

// Warnings are barrel_p2p's boot warnings for a valid but risky
// configuration.
func (c *Config) Warnings() []string {
	var w []string
	if c.DistCookie == DefaultDistCookie {
		w = append(w, "barrel_p2p: using the default distribution cookie 'barrel_p2p'. Set {barrel_p2p, [{dist_cookie, <secret>}]} for production.")
	}
	if !c.AuthEnabled {
		w = append(w, auth.AuthDisabledWarning)
	}
	if c.AuthHandshakeTimeout > c.AuthTimestampWindow {
		// Accepted by barrel_p2p, but a slow live peer then fails response
		// freshness before the deadline (auth.md §7).
		w = append(w, fmt.Sprintf("protodist: auth_handshake_timeout %v exceeds auth_timestamp_window %v: slow responses expire before the deadline",
			c.AuthHandshakeTimeout, c.AuthTimestampWindow))
	}
	return w
}

// NewAuthenticator validates c and returns its authenticator: c.
// Authenticator when set; auth.Disabled (with the warning) when
// auth_enabled is false; else barrel_p2p's Ed25519 with the identity in
// auth_key_dir (created if missing, KeyDir so rotations apply at once), the
// pins of auth_key_dir/trusted, and metrics on reg (nil: none).
func (c *Config) NewAuthenticator(localName string, logger *slog.Logger, reg prometheus.Registerer) (auth.Authenticator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	if c.Authenticator != nil {
		if isDisabled(c.Authenticator) {
			logger.Warn(auth.AuthDisabledWarning)
		}
		return c.Authenticator, nil
	}
	if !c.AuthEnabled {
		return auth.NewDisabled(logger), nil
	}
	if _, err := auth.EnsureKeyPair(c.AuthKeyDir, nil); err != nil {
		logger.Warn(fmt.Sprintf("Failed to initialize keypair: %v", err), "dir", c.AuthKeyDir)
		return nil, fmt.Errorf("protodist: auth_key_dir %s: %w", c.AuthKeyDir, err)
	}
	pins, err := auth.OpenPins(c.AuthKeyDir, logger)
	if err != nil {
		return nil, fmt.Errorf("protodist: auth_key_dir %s: %w", c.AuthKeyDir, err)
	}
	m, err := auth.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	a, err := auth.New(auth.Config{
		LocalName:       localName,
		Identity:        auth.KeyDir(c.AuthKeyDir),
		Pins:            pins,
		TrustMode:       c.AuthTrustMode,
		Timeout:         c.AuthHandshakeTimeout,
		TimestampWindow: c.AuthTimestampWindow,
		CookieOnlyNodes: c.CookieOnlyNodes,
		Logger:          logger,
		Metrics:         m,
	})
	if err != nil {
		return nil, fmt.Errorf("protodist: %w", err)
	}
	return a, nil
}

// Set assigns the setting named by its barrel_p2p key from a Go value as a
// config file or command line would carry it: integers (milliseconds for
// durations), booleans, strings (tofu/strict, paths, IPs, cookie) and
// []string. It names the key and value in its error.
func (c *Config) Set(key string, value any) error {
	rv := reflect.ValueOf(c).Elem()
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		if rt.Field(i).Tag.Get("barrel_p2p") != key {
			continue
		}
		f := rv.Field(i)
		bad := func(why string) error { return &ConfigError{Key: key, Value: value, Reason: why} }
		switch f.Interface().(type) {
		case int:
			n, ok := asInt(value)
			if !ok {
				return bad("want an integer")
			}
			f.SetInt(n)
		case time.Duration:
			n, ok := asInt(value)
			if !ok {
				return bad("want an integer number of milliseconds")
			}
			f.Set(reflect.ValueOf(time.Duration(n) * time.Millisecond))
		case bool:
			b, ok := value.(bool)
			if !ok {
				return bad("want true or false")
			}
			f.SetBool(b)
		case string:
			s, ok := value.(string)
			if !ok {
				return bad("want a string")
			}
			f.SetString(s)
		case auth.TrustMode:
			s, _ := value.(string)
			m, err := auth.ParseTrustMode(s)
			if err != nil {
				return bad("want tofu or strict")
			}
			f.Set(reflect.ValueOf(m))
		case netip.Addr:
			s, _ := value.(string)
			a, err := netip.ParseAddr(s)
			if err != nil {
				return bad("want an IP address")
			}
			f.Set(reflect.ValueOf(a))
		case []string:
			l, ok := value.([]string)
			if !ok {
				return bad("want a list of strings")
			}
			f.Set(reflect.ValueOf(append([]string(nil), l...)))
		default:
			return bad("cannot be set from a value")
		}
		return nil
	}
	return &ConfigError{Key: key, Value: value, Reason: "unknown barrel_p2p key"}
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	}
	return 0, false
}

func isDisabled(a auth.Authenticator) bool {
	switch a.(type) {
	case auth.Disabled, *auth.Disabled:
		return true
	}
	return false
}
