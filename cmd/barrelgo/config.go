package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/handshake"
	"github.com/barrelgo/barrelgo/membership/hyparview"
	"github.com/barrelgo/barrelgo/protodist"
)

// fileConfig is everything a barrelgo node is configured with. It is built
// in layers, each overriding the one before: defaults, the TOML file,
// BARRELGO_* environment variables, command-line flags.
type fileConfig struct {
	Name        string
	Cookie      string // resolved: see resolveCookie
	CookieFile  string
	Hidden      bool
	Proto       string // tcp or quic
	DataDir     string
	NetTickTime time.Duration
	MetricsAddr string
	LogLevel    slog.Level
	LogFormat   string // text or json

	TCP struct {
		Listen         string
		EPMD           string
		NoEmbeddedEPMD bool
		BusyPoll       time.Duration
	}
	// QUIC holds barrel_p2p's keys; its paths default under DataDir.
	QUIC protodist.Config
	// Membership is HyParView's parameters (ContactNodes included);
	// MembershipEnabled nil means "when proto is quic or contact nodes are
	// set".
	Membership        hyparview.Config
	MembershipEnabled *bool
	// HeartbeatPeriod and HeartbeatTimeout drive member liveness
	// (membership.Config's; zero means its defaults).
	HeartbeatPeriod  time.Duration
	HeartbeatTimeout time.Duration

	// Path is the file loaded, "" when none.
	Path string
	// source maps each key set by something other than the defaults to
	// where it came from, for error messages.
	source map[string]string
	// cookieErr is why no cookie could be found (commands that need one
	// report it).
	cookieErr error
}

// membershipOn reports whether the node runs HyParView, Plumtree and the
// registry.
func (c *fileConfig) membershipOn() bool {
	if c.MembershipEnabled != nil {
		return *c.MembershipEnabled
	}
	return c.Proto == "quic" || len(c.Membership.ContactNodes) > 0
}

// distCookie is the cookie to use, or why there is none.
func (c *fileConfig) distCookie() (string, error) {
	if c.Cookie == "" {
		return "", c.cookieErr
	}
	return c.Cookie, nil
}

// configError is one invalid setting: the key, its value, who set it and
// why it is refused.
type configError struct {
	Key, Value, Source, Reason string
}

func (e *configError) Error() string {
	src := ""
	if e.Source != "" {
		src = " (from " + e.Source + ")"
	}
	return fmt.Sprintf("config: %s = %s%s: %s", e.Key, e.Value, src, e.Reason)
}

// keyKind is the type of a key's value; strings from the environment and
// flags are parsed into it, TOML values checked against it.
type keyKind int

const (
	kString keyKind = iota
	kInt
	kBool
	kMillis  // integer milliseconds (barrel_p2p's unit) or a Go duration string
	kSeconds // integer seconds or a Go duration string
	kStrings // TOML array, or comma-separated in the environment and flags
)

func (k keyKind) want() string {
	switch k {
	case kInt:
		return "an integer"
	case kBool:
		return "true or false"
	case kMillis:
		return `integer milliseconds or a duration such as "10s"`
	case kSeconds:
		return `integer seconds or a duration such as "1m"`
	case kStrings:
		return "a list of strings"
	}
	return "a string"
}

// configKey is one setting.
type configKey struct {
	name  string // dotted path in the file: "quic.listen_port"
	kind  keyKind
	flag  string // command-line flag overriding it, "" for none
	usage string
	apply func(c *fileConfig, v any) error // v is string, int64, bool, time.Duration or []string
}

// keyTable lists every key, in the order the example file documents them.
var keyTable = buildKeyTable()

func buildKeyTable() []configKey {
	str := func(f func(c *fileConfig) *string) func(*fileConfig, any) error {
		return func(c *fileConfig, v any) error { *f(c) = v.(string); return nil }
	}
	boolean := func(f func(c *fileConfig) *bool) func(*fileConfig, any) error {
		return func(c *fileConfig, v any) error { *f(c) = v.(bool); return nil }
	}
	// quic passes a key to protodist.Config.Set, which speaks barrel_p2p's
	// units (integer milliseconds for durations).
	quic := func(key string) func(*fileConfig, any) error {
		return func(c *fileConfig, v any) error {
			if d, ok := v.(time.Duration); ok {
				if d%time.Millisecond != 0 {
					return errors.New("must be a whole number of milliseconds")
				}
				v = int64(d / time.Millisecond)
			}
			err := c.QUIC.Set(key, v)
			var ce *protodist.ConfigError
			if errors.As(err, &ce) {
				return errors.New(ce.Reason)
			}
			return err
		}
	}
	intIn := func(lo, hi int, f func(h *hyparview.Config) *int) func(*fileConfig, any) error {
		return func(c *fileConfig, v any) error {
			n := v.(int64)
			if n < int64(lo) || n > int64(hi) {
				return fmt.Errorf("must be %d..%d", lo, hi)
			}
			*f(&c.Membership) = int(n)
			return nil
		}
	}
	positive := func(zeroOK bool, f func(h *hyparview.Config) *time.Duration) func(*fileConfig, any) error {
		return func(c *fileConfig, v any) error {
			d := v.(time.Duration)
			if d < 0 || (d == 0 && !zeroOK) {
				return errors.New("must be positive")
			}
			*f(&c.Membership) = d
			return nil
		}
	}
	const big = 1 << 20
	return []configKey{
		{name: "name", flag: "name", usage: "node name, alive@host", apply: func(c *fileConfig, v any) error {
			s := v.(string)
			if _, _, err := handshake.SplitNodeName(s); err != nil {
				return errors.New(`must be a node name "alive@host"`)
			}
			c.Name = s
			return nil
		}},
		{name: "cookie", flag: "cookie", usage: "distribution cookie (default: $ERLANG_COOKIE, ~/.erlang.cookie; barrel_p2p's for quic)", apply: str(func(c *fileConfig) *string { return &c.Cookie })},
		{name: "cookie_file", flag: "cookie-file", usage: "file holding the distribution cookie", apply: str(func(c *fileConfig) *string { return &c.CookieFile })},
		{name: "hidden", kind: kBool, flag: "hidden", usage: "run as a hidden node", apply: boolean(func(c *fileConfig) *bool { return &c.Hidden })},
		{name: "proto", flag: "proto", usage: "distribution carrier: tcp (EPMD) or quic (barrel_p2p)", apply: func(c *fileConfig, v any) error {
			s := v.(string)
			if s != "tcp" && s != "quic" {
				return errors.New("must be tcp or quic")
			}
			c.Proto = s
			return nil
		}},
		{name: "data_dir", flag: "data-dir", usage: "directory of the quic keys, certificate and discovery files", apply: str(func(c *fileConfig) *string { return &c.DataDir })},
		{name: "net_ticktime", kind: kSeconds, flag: "net-ticktime", usage: "net_ticktime: a peer silent for this long is down", apply: func(c *fileConfig, v any) error {
			d := v.(time.Duration)
			if d < time.Second {
				return errors.New("must be at least 1 second")
			}
			c.NetTickTime = d
			return nil
		}},
		{name: "metrics_addr", flag: "metrics-addr", usage: "serve /metrics and /healthz on host:port (default: off)", apply: func(c *fileConfig, v any) error {
			s := v.(string)
			if s != "" {
				if _, _, err := net.SplitHostPort(s); err != nil {
					return errors.New(`must be host:port, e.g. "127.0.0.1:9464"`)
				}
			}
			c.MetricsAddr = s
			return nil
		}},
		{name: "log.level", flag: "log-level", usage: "log level: debug, info, warn or error", apply: func(c *fileConfig, v any) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(v.(string))); err != nil {
				return errors.New("must be debug, info, warn or error")
			}
			c.LogLevel = lvl
			return nil
		}},
		{name: "log.format", flag: "log-format", usage: "log format: text or json", apply: func(c *fileConfig, v any) error {
			s := v.(string)
			if s != "text" && s != "json" {
				return errors.New("must be text or json")
			}
			c.LogFormat = s
			return nil
		}},
		{name: "tcp.listen", flag: "listen", usage: "tcp: distribution listen address host:port", apply: func(c *fileConfig, v any) error {
			s := v.(string)
			if s != "" {
				if _, _, err := net.SplitHostPort(s); err != nil {
					return errors.New(`must be host:port, e.g. "0.0.0.0:0"`)
				}
			}
			c.TCP.Listen = s
			return nil
		}},
		{name: "tcp.epmd", flag: "epmd", usage: "tcp: EPMD address host:port (default 127.0.0.1:$ERL_EPMD_PORT or 4369)", apply: func(c *fileConfig, v any) error {
			s := v.(string)
			if s != "" {
				if _, _, err := net.SplitHostPort(s); err != nil {
					return errors.New(`must be host:port, e.g. "127.0.0.1:4369"`)
				}
			}
			c.TCP.EPMD = s
			return nil
		}},
		{name: "tcp.no_embedded_epmd", kind: kBool, usage: "tcp: never start an embedded EPMD", apply: boolean(func(c *fileConfig) *bool { return &c.TCP.NoEmbeddedEPMD })},
		{name: "tcp.busy_poll", kind: kMillis, flag: "busy-poll", usage: `tcp: how long a quiet connection's reader polls before it sleeps, e.g. "100us" (0: off)`, apply: func(c *fileConfig, v any) error {
			d := v.(time.Duration)
			if d < 0 || d > time.Second {
				return errors.New(`must be between 0 and 1s, e.g. "100us"`)
			}
			c.TCP.BusyPoll = d
			return nil
		}},
		{name: "quic.listen_port", kind: kInt, flag: "port", usage: "quic: UDP listen port (0: the OS picks)", apply: quic("listen_port")},
		{name: "quic.address", flag: "address", usage: "quic: IP to listen on and advertise to HyParView", apply: quic("address")},
		{name: "quic.dist_cookie", usage: "quic: barrel_p2p's name for cookie", apply: quic("dist_cookie")},
		{name: "quic.auth_enabled", kind: kBool, flag: "auth", usage: "quic: Ed25519 peer authentication", apply: quic("auth_enabled")},
		{name: "quic.auth_trust_mode", flag: "trust-mode", usage: "quic: tofu or strict", apply: quic("auth_trust_mode")},
		{name: "quic.auth_key_dir", flag: "key-dir", usage: "quic: identity keys and pins (default DATA_DIR/keys)", apply: quic("auth_key_dir")},
		{name: "quic.quic_cert_dir", flag: "cert-dir", usage: "quic: TLS certificate (default DATA_DIR/quic)", apply: quic("quic_cert_dir")},
		{name: "quic.auth_handshake_timeout", kind: kMillis, usage: "quic: deadline of the auth exchange", apply: quic("auth_handshake_timeout")},
		{name: "quic.auth_timestamp_window", kind: kMillis, usage: "quic: auth response freshness", apply: quic("auth_timestamp_window")},
		{name: "quic.cookie_only_nodes", kind: kStrings, usage: `quic: "Name@Host" patterns let in without Ed25519`, apply: quic("cookie_only_nodes")},
		{name: "quic.discovery_dir", flag: "discovery-dir", usage: "quic: .endpoint files (default DATA_DIR/discovery)", apply: quic("discovery_dir")},
		{name: "quic.dist_gc_sweep_period_ms", kind: kMillis, usage: "idle dist-channel GC period", apply: quic("dist_gc_sweep_period_ms")},
		{name: "quic.dist_gc_min_age_ms", kind: kMillis, usage: "idle dist-channel GC minimum connection age", apply: quic("dist_gc_min_age_ms")},
		{name: "membership.enabled", kind: kBool, flag: "membership", usage: "run HyParView, Plumtree and the registry (default: with quic or contact nodes)", apply: func(c *fileConfig, v any) error {
			b := v.(bool)
			c.MembershipEnabled = &b
			return nil
		}},
		{name: "membership.contact_nodes", kind: kStrings, flag: "contact", usage: "membership: seed nodes to join through, comma-separated", apply: func(c *fileConfig, v any) error {
			var nodes []etf.Atom
			for _, s := range v.([]string) {
				if _, _, err := handshake.SplitNodeName(s); err != nil {
					return fmt.Errorf("%q is not a node name alive@host", s)
				}
				nodes = append(nodes, etf.Atom(s))
			}
			c.Membership.ContactNodes = nodes
			return nil
		}},
		{name: "membership.contact_retry_ms", kind: kMillis, apply: positive(false, func(h *hyparview.Config) *time.Duration { return &h.ContactRetry })},
		{name: "membership.active_size", kind: kInt, apply: intIn(1, big, func(h *hyparview.Config) *int { return &h.ActiveSize })},
		{name: "membership.passive_size", kind: kInt, apply: intIn(0, big, func(h *hyparview.Config) *int { return &h.PassiveSize })},
		{name: "membership.arwl", kind: kInt, apply: intIn(0, hyparview.MaxTTL, func(h *hyparview.Config) *int { return &h.ARWL })},
		{name: "membership.prwl", kind: kInt, apply: intIn(0, hyparview.MaxTTL, func(h *hyparview.Config) *int { return &h.PRWL })},
		{name: "membership.shuffle_length", kind: kInt, apply: intIn(0, hyparview.MaxMessagePeers, func(h *hyparview.Config) *int { return &h.ShuffleLength })},
		{name: "membership.shuffle_period", kind: kMillis, apply: positive(false, func(h *hyparview.Config) *time.Duration { return &h.ShufflePeriod })},
		{name: "membership.max_fail_count", kind: kInt, apply: intIn(1, big, func(h *hyparview.Config) *int { return &h.MaxFailCount })},
		{name: "membership.base_backoff_ms", kind: kMillis, apply: positive(true, func(h *hyparview.Config) *time.Duration { return &h.BaseBackoff })},
		{name: "membership.passive_max_age_ms", kind: kMillis, apply: positive(false, func(h *hyparview.Config) *time.Duration { return &h.PassiveMaxAge })},
		{name: "membership.passive_cleanup_period", kind: kMillis, apply: positive(false, func(h *hyparview.Config) *time.Duration { return &h.PassiveCleanupPeriod })},
		{name: "membership.churn_window_ms", kind: kMillis, apply: positive(false, func(h *hyparview.Config) *time.Duration { return &h.ChurnWindow })},
		{name: "membership.pending_timeout_ms", kind: kMillis, apply: positive(false, func(h *hyparview.Config) *time.Duration { return &h.PendingTimeout })},
		{name: "membership.heartbeat_period_ms", kind: kMillis, apply: func(c *fileConfig, v any) error {
			if v.(time.Duration) <= 0 {
				return errors.New("must be positive")
			}
			c.HeartbeatPeriod = v.(time.Duration)
			return nil
		}},
		{name: "membership.heartbeat_timeout_ms", kind: kMillis, apply: func(c *fileConfig, v any) error {
			if v.(time.Duration) <= 0 {
				return errors.New("must be positive")
			}
			c.HeartbeatTimeout = v.(time.Duration)
			return nil
		}},
	}
}

func lookupKey(name string) *configKey {
	for i := range keyTable {
		if keyTable[i].name == name {
			return &keyTable[i]
		}
	}
	return nil
}

// envName is the environment variable of a key: BARRELGO_QUIC_LISTEN_PORT.
func envName(key string) string {
	return "BARRELGO_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Environment variables that are not keys.
const (
	envConfig = "BARRELGO_CONFIG" // the file, when -config is not given
	envDebug  = "BARRELGO_DEBUG"  // debug logs of the demo
	// envTestAPI = 1 registers the test seams of api.go's registerTestAPI (interop's
	// process-level cluster tests).
	envTestAPI = "BARRELGO_TEST_API"
)

// configFlags are the command-line flags of a command that starts a node
// (or a client node); each overrides one key.
type configFlags struct {
	// Client marks a short-lived client node: its name, hidden flag, port,
	// metrics, membership and log level come from flags only, never from
	// the file or environment, which describe the long-running node.
	Client bool
	path   string
	vals   []*keyFlag
}

type keyFlag struct {
	key    string
	isBool bool
	val    string
	set    bool
}

func (f *keyFlag) String() string   { return f.val }
func (f *keyFlag) IsBoolFlag() bool { return f.isBool }
func (f *keyFlag) Set(s string) error {
	f.val, f.set = s, true
	return nil
}

// addConfigFlags registers -config and one flag per key that has one.
func addConfigFlags(fs *flag.FlagSet, client bool) *configFlags {
	cf := &configFlags{Client: client}
	fs.StringVar(&cf.path, "config", "", "TOML configuration file (default $"+envConfig+")")
	for _, k := range keyTable {
		if k.flag == "" {
			continue
		}
		v := &keyFlag{key: k.name, isBool: k.kind == kBool}
		cf.vals = append(cf.vals, v)
		// The backquoted key is the placeholder -h shows: "-port quic.listen_port".
		key := "`" + k.name + "`"
		if v.isBool {
			key = k.name
		}
		fs.Var(v, k.flag, k.usage+" (config: "+key+")")
	}
	// -log-json predates log.format.
	jf := &keyFlag{key: "log.format", isBool: true}
	fs.Var(jsonFlag{jf}, "log-json", "log as JSON lines (same as -log-format json)")
	cf.vals = append(cf.vals, jf)
	return cf
}

// jsonFlag maps the boolean -log-json onto log.format.
type jsonFlag struct{ *keyFlag }

func (j jsonFlag) String() string {
	if j.keyFlag == nil { // the zero value flag.PrintDefaults makes
		return ""
	}
	return strconv.FormatBool(j.val == "json")
}

func (j jsonFlag) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	if b {
		return j.keyFlag.Set("json")
	}
	return j.keyFlag.Set("text")
}

// Path is the -config flag.
func (cf *configFlags) Path() string { return cf.path }

// clientFlagOnlyKeys are the keys a client takes from its flags only.
var clientFlagOnlyKeys = []string{"name", "hidden", "quic.listen_port", "metrics_addr", "log.level",
	"membership.enabled", "membership.contact_nodes"}

// defaultConfig is barrelgo's and barrel_p2p's defaults.
func defaultConfig(client bool) *fileConfig {
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	c := &fileConfig{
		Name:        "barrelgo@" + host,
		Proto:       "tcp",
		DataDir:     "data",
		NetTickTime: 60 * time.Second,
		LogLevel:    slog.LevelInfo,
		LogFormat:   "text",
		QUIC:        protodist.DefaultConfig("data"),
		Membership:  hyparview.DefaultConfig(),
		source:      map[string]string{},
	}
	c.QUIC.DistCookie = "" // resolved with cookie
	if client {
		c.Name = fmt.Sprintf("barrelgo_cli_%d@127.0.0.1", os.Getpid())
		c.Hidden = true
		c.LogLevel = slog.LevelWarn
		f := false
		c.MembershipEnabled = &f
	}
	return c
}

// loadConfig builds the configuration: defaults < file < BARRELGO_*
// environment < flags. path "" means $BARRELGO_CONFIG, or no file; flags
// may be nil. Every invalid or unknown setting is reported, joined, each a
// *configError naming the key, the value, its source and why.
func loadConfig(path string, flags *configFlags) (*fileConfig, error) {
	client := flags != nil && flags.Client
	c := defaultConfig(client)
	var errs []error
	skip := func(key string) bool {
		// A client ignores the file's and environment's node-only keys.
		return client && slices.Contains(clientFlagOnlyKeys, key)
	}
	set := func(key string, raw any, source string) {
		k := lookupKey(key)
		if k == nil {
			errs = append(errs, &configError{Key: key, Value: showValue(raw), Source: source, Reason: unknownKey(key)})
			return
		}
		v, err := convert(k.kind, raw)
		if err == nil {
			err = k.apply(c, v)
		}
		if err != nil {
			errs = append(errs, &configError{Key: key, Value: showValue(raw), Source: source, Reason: err.Error()})
			return
		}
		c.source[key] = source
	}

	if path == "" {
		path = os.Getenv(envConfig)
	}
	if path != "" {
		var tree map[string]any
		if _, err := toml.DecodeFile(path, &tree); err != nil {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
		c.Path = path
		walkTOML("", tree, func(key string, v any) {
			if !skip(key) {
				set(key, v, path)
			}
		})
	}
	for _, kv := range os.Environ() {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "BARRELGO_") || name == envConfig || name == envDebug || name == envTestAPI {
			continue
		}
		key := ""
		for _, k := range keyTable {
			if envName(k.name) == name {
				key = k.name
			}
		}
		if key == "" {
			errs = append(errs, &configError{Key: name, Value: strconv.Quote(val), Source: "environment", Reason: unknownEnv(name)})
			continue
		}
		if !skip(key) {
			set(key, val, "$"+name)
		}
	}
	if flags != nil {
		for _, v := range flags.vals {
			if v.set {
				set(v.key, v.val, "-"+lookupKey(v.key).flag)
			}
		}
	}
	errs = append(errs, c.finish()...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// finish derives what depends on several keys and checks their
// combinations.
func (c *fileConfig) finish() []error {
	var errs []error
	// barrel_p2p's data/... paths follow data_dir unless set themselves.
	for _, d := range []struct {
		key, sub string
		dst      *string
	}{
		{"quic.auth_key_dir", "keys", &c.QUIC.AuthKeyDir},
		{"quic.quic_cert_dir", "quic", &c.QUIC.QUICCertDir},
		{"quic.discovery_dir", "discovery", &c.QUIC.DiscoveryDir},
	} {
		if _, set := c.source[d.key]; !set {
			*d.dst = filepath.Join(c.DataDir, d.sub)
		}
	}
	bad := func(key, value, reason string) {
		errs = append(errs, &configError{Key: key, Value: value, Source: c.source[key], Reason: reason})
	}
	// One cookie, whichever key names it.
	cookie := c.Cookie
	if c.CookieFile != "" {
		if cookie != "" {
			bad("cookie_file", strconv.Quote(c.CookieFile), "set either cookie or cookie_file, not both")
		}
		b, err := os.ReadFile(c.CookieFile)
		switch {
		case err != nil:
			bad("cookie_file", strconv.Quote(c.CookieFile), "cannot read it: "+err.Error())
		case strings.TrimSpace(string(b)) == "":
			bad("cookie_file", strconv.Quote(c.CookieFile), "the file is empty")
		default:
			cookie = strings.TrimSpace(string(b))
		}
	}
	if dc := c.QUIC.DistCookie; dc != "" {
		if cookie != "" && cookie != dc {
			bad("quic.dist_cookie", "(hidden)", "differs from cookie; they are the same setting, set one")
		}
		cookie = dc
	}
	if cookie == "" {
		if c.Proto == "quic" {
			// barrel_p2p's default; NewFromConfig warns about it.
			cookie = protodist.DefaultDistCookie
		} else {
			cookie, c.cookieErr = erlangCookie()
		}
	}
	c.Cookie = cookie
	c.QUIC.DistCookie = cookie
	if c.QUIC.DistCookie == "" {
		// Validate would refuse the empty dist_cookie of a tcp node.
		c.QUIC.DistCookie = protodist.DefaultDistCookie
	}
	// The quic keys are checked whatever the carrier, so a typo waits for
	// no switch to quic.
	if err := c.QUIC.Validate(); err != nil {
		for _, e := range unjoin(err) {
			var ce *protodist.ConfigError
			if !errors.As(e, &ce) {
				errs = append(errs, e)
				continue
			}
			key := "quic." + ce.Key
			if ce.Key == "dist_cookie" && c.source["quic.dist_cookie"] == "" {
				key = "cookie"
			}
			errs = append(errs, &configError{Key: key, Value: fmt.Sprint(ce.Value), Source: c.source[key], Reason: ce.Reason})
		}
	}
	if err := c.Membership.Validate(); err != nil {
		errs = append(errs, &configError{Key: "membership", Value: "-", Reason: err.Error()})
	}
	return errs
}

// erlangCookie is Erlang's own default: $ERLANG_COOKIE, else
// ~/.erlang.cookie.
func erlangCookie() (string, error) {
	if v := os.Getenv("ERLANG_COOKIE"); v != "" {
		return v, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		if b, err := os.ReadFile(filepath.Join(home, ".erlang.cookie")); err == nil && strings.TrimSpace(string(b)) != "" {
			return strings.TrimSpace(string(b)), nil
		}
	}
	return "", usageError{"no cookie: set cookie or cookie_file in the config file, $BARRELGO_COOKIE or -cookie, or ERLANG_COOKIE, or create ~/.erlang.cookie"}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// walkTOML calls fn for every leaf of a decoded TOML document with its
// dotted key.
func walkTOML(prefix string, tree map[string]any, fn func(key string, v any)) {
	keys := make([]string, 0, len(tree))
	for k := range tree {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		full := k
		if prefix != "" {
			full = prefix + "." + k
		}
		if sub, ok := tree[k].(map[string]any); ok {
			walkTOML(full, sub, fn)
			continue
		}
		fn(full, tree[k])
	}
}

// convert turns a TOML value or an environment/flag string into the Go
// type of kind.
func convert(kind keyKind, raw any) (any, error) {
	bad := fmt.Errorf("want %s", kind.want())
	switch kind {
	case kString:
		if s, ok := raw.(string); ok {
			return s, nil
		}
	case kInt:
		switch v := raw.(type) {
		case int64:
			return v, nil
		case string:
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return n, nil
			}
		}
	case kBool:
		switch v := raw.(type) {
		case bool:
			return v, nil
		case string:
			if b, err := strconv.ParseBool(strings.TrimSpace(v)); err == nil {
				return b, nil
			}
		}
	case kMillis, kSeconds:
		unit := time.Millisecond
		if kind == kSeconds {
			unit = time.Second
		}
		switch v := raw.(type) {
		case int64:
			return time.Duration(v) * unit, nil
		case string:
			s := strings.TrimSpace(v)
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return time.Duration(n) * unit, nil
			}
			if d, err := time.ParseDuration(s); err == nil {
				return d, nil
			}
		}
	case kStrings:
		switch v := raw.(type) {
		case []any:
			out := make([]string, 0, len(v))
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return nil, bad
				}
				out = append(out, s)
			}
			return out, nil
		case string:
			var out []string
			for s := range strings.SplitSeq(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
			return out, nil
		}
	}
	return nil, bad
}

func showValue(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case map[string]any:
		return "{...}"
	}
	return fmt.Sprint(v)
}

// unknownKey explains an unknown key, with the closest known one.
func unknownKey(key string) string {
	if s := suggest(key, func(k string) string { return k }); s != "" {
		return "unknown key; did you mean " + s + "?"
	}
	return "unknown key (see barrelgo.example.toml for every key)"
}

func unknownEnv(name string) string {
	if s := suggest(name, envName); s != "" {
		return "unknown variable; did you mean " + s + "?"
	}
	return "unknown variable: BARRELGO_* variables set configuration keys (see barrelgo.example.toml)"
}

// suggest returns the known key (as render writes it) closest to got: one
// with the same last component in another section ("listen_port" ->
// "quic.listen_port"), else one within a small edit distance.
func suggest(got string, render func(string) string) string {
	gotLeaf := got[strings.LastIndex(got, ".")+1:]
	best, bestD := "", 1<<30
	for _, k := range keyTable {
		leaf := k.name[strings.LastIndex(k.name, ".")+1:]
		if strings.EqualFold(render(leaf), gotLeaf) && k.name != got {
			return render(k.name)
		}
		if d := editDistance(strings.ToLower(got), strings.ToLower(render(k.name))); d < bestD {
			best, bestD = render(k.name), d
		}
	}
	if bestD <= max(2, len(got)/4) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
