package main

import (
	"bufio"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/protodist/auth"
)

// writeConfig writes a TOML file and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "barrelgo.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// parseFlags registers the config flags of a node (or client) and parses
// args.
func parseFlags(t *testing.T, client bool, args ...string) *configFlags {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cf := addConfigFlags(fs, client)
	if _, err := parseArgs(fs, args); err != nil {
		t.Fatal(err)
	}
	return cf
}

func TestConfigDefaults(t *testing.T) {
	c, err := loadConfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Proto != "tcp" || c.NetTickTime != 60*time.Second || c.LogLevel != slog.LevelInfo || c.LogFormat != "text" ||
		c.MetricsAddr != "" || c.membershipOn() || c.TCP.BusyPoll != 0 {
		t.Fatalf("defaults: %+v", c)
	}
	// barrel_p2p's defaults, its data paths under data_dir.
	if c.QUIC.ListenPort != 0 || !c.QUIC.AuthEnabled || c.QUIC.AuthTrustMode != auth.TrustTOFU ||
		c.QUIC.AuthKeyDir != filepath.Join("data", "keys") || c.QUIC.QUICCertDir != filepath.Join("data", "quic") ||
		c.QUIC.DiscoveryDir != filepath.Join("data", "discovery") || c.QUIC.DistGCMinAge != 300*time.Second {
		t.Fatalf("quic defaults: %+v", c.QUIC)
	}
	if c.Membership.ActiveSize != 5 || c.Membership.PassiveSize != 30 || c.Membership.ARWL != 6 || c.Membership.PRWL != 3 ||
		c.Membership.ShufflePeriod != 10*time.Second || c.Membership.ContactRetry != 5*time.Second {
		t.Fatalf("membership defaults: %+v", c.Membership)
	}
}

func TestConfigPrecedence(t *testing.T) {
	path := writeConfig(t, `
name = "file@127.0.0.1"
proto = "quic"
cookie = "from-file"
data_dir = "/var/lib/barrelgo"
net_ticktime = 20
[log]
level = "debug"
format = "text"
[quic]
listen_port = 9100
auth_trust_mode = "strict"
auth_handshake_timeout = 5000
auth_timestamp_window = "45s"
cookie_only_nodes = ["ops@*"]
[membership]
contact_nodes = ["seed@127.0.0.1"]
active_size = 7
shuffle_period = 15000
`)
	t.Setenv("BARRELGO_QUIC_LISTEN_PORT", "9200")
	t.Setenv("BARRELGO_LOG_FORMAT", "json")
	t.Setenv("BARRELGO_MEMBERSHIP_CONTACT_NODES", "s1@127.0.0.1, s2@127.0.0.1")
	t.Setenv("BARRELGO_TCP_BUSY_POLL", "150us")
	c, err := loadConfig(path, parseFlags(t, false, "-port", "9300", "-trust-mode", "tofu"))
	if err != nil {
		t.Fatal(err)
	}
	// Flags beat the environment, which beats the file, which beats the
	// defaults.
	if c.QUIC.ListenPort != 9300 || c.QUIC.AuthTrustMode != auth.TrustTOFU {
		t.Errorf("flags lost: port %d, trust %v", c.QUIC.ListenPort, c.QUIC.AuthTrustMode)
	}
	if c.TCP.BusyPoll != 150*time.Microsecond {
		t.Errorf("BARRELGO_TCP_BUSY_POLL lost: %v", c.TCP.BusyPoll)
	}
	if c.LogFormat != "json" || !slices.Equal(c.Membership.ContactNodes, []etf.Atom{"s1@127.0.0.1", "s2@127.0.0.1"}) {
		t.Errorf("environment lost: format %s, contacts %v", c.LogFormat, c.Membership.ContactNodes)
	}
	if c.Name != "file@127.0.0.1" || c.LogLevel != slog.LevelDebug || c.NetTickTime != 20*time.Second ||
		c.QUIC.AuthHandshakeTimeout != 5*time.Second || c.QUIC.AuthTimestampWindow != 45*time.Second ||
		c.Membership.ActiveSize != 7 || c.Membership.ShufflePeriod != 15*time.Second || c.Cookie != "from-file" ||
		c.QUIC.DistCookie != "from-file" || !slices.Equal(c.QUIC.CookieOnlyNodes, []string{"ops@*"}) {
		t.Errorf("file lost: %+v", c)
	}
	if c.QUIC.AuthKeyDir != "/var/lib/barrelgo/keys" || c.QUIC.DiscoveryDir != "/var/lib/barrelgo/discovery" {
		t.Errorf("data_dir not applied: %s %s", c.QUIC.AuthKeyDir, c.QUIC.DiscoveryDir)
	}
	if c.Membership.PassiveSize != 30 || !c.membershipOn() {
		t.Errorf("defaults lost: %+v", c.Membership)
	}
}

// field reads a setting for a failure message, which may follow a load
// that failed and returned no config.
func field(c *fileConfig, get func(*fileConfig) string) string {
	if c == nil {
		return "(no config)"
	}
	return get(c)
}

func TestConfigCookieSources(t *testing.T) {
	t.Setenv("ERLANG_COOKIE", "")
	t.Setenv("HOME", t.TempDir())
	cf := filepath.Join(t.TempDir(), "cookie")
	if err := os.WriteFile(cf, []byte("from-cookie-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(writeConfig(t, `cookie_file = "`+cf+`"`), nil)
	if err != nil || c.Cookie != "from-cookie-file" {
		t.Fatalf("cookie_file: %v %q", err, field(c, func(c *fileConfig) string { return c.Cookie }))
	}
	// barrel_p2p's dist_cookie is the same setting.
	c, err = loadConfig(writeConfig(t, "proto = \"quic\"\n[quic]\ndist_cookie = \"dc\""), nil)
	if err != nil || c.Cookie != "dc" {
		t.Fatalf("dist_cookie: %v %q", err, field(c, func(c *fileConfig) string { return c.Cookie }))
	}
	// A quic node without one gets barrel_p2p's default, as barrel_p2p does.
	c, err = loadConfig(writeConfig(t, `proto = "quic"`), nil)
	if err != nil || c.Cookie != "barrel_p2p" {
		t.Fatalf("quic default: %v %q", err, field(c, func(c *fileConfig) string { return c.Cookie }))
	}
	// A tcp node without one loads, but cannot start.
	c, err = loadConfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.distCookie(); err == nil || !strings.Contains(err.Error(), "no cookie") {
		t.Fatalf("tcp without cookie: %v", err)
	}
	t.Setenv("ERLANG_COOKIE", "erl")
	if c, err = loadConfig("", nil); err != nil || c.Cookie != "erl" {
		t.Fatalf("ERLANG_COOKIE: %v %q", err, field(c, func(c *fileConfig) string { return c.Cookie }))
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		file string
		env  map[string]string
		args []string
		want []string
	}{
		{file: "quic.listen_prot = 1", want: []string{"quic.listen_prot = 1", "unknown key; did you mean quic.listen_port?"}},
		{file: "listen_port = 9100", want: []string{"did you mean quic.listen_port?"}},
		{file: "[quic]\ncontact_nodes = [\"a@h\"]", want: []string{"quic.contact_nodes", "did you mean membership.contact_nodes?"}},
		{file: "[membership]\nactive_sise = 3", want: []string{"did you mean membership.active_size?"}},
		{file: "frobnicate = true", want: []string{"frobnicate = true", "unknown key (see barrelgo.example.toml"}},
		{file: "[quic]\nlisten_port = 70000", want: []string{"quic.listen_port = 70000 (from ", "must be 0..65535"}},
		{file: "[quic]\nlisten_port = \"high\"", want: []string{`quic.listen_port = "high"`, "want an integer"}},
		{file: `proto = "udp"`, want: []string{`proto = "udp"`, "must be tcp or quic"}},
		{file: `name = "nohost"`, want: []string{`name = "nohost"`, `must be a node name "alive@host"`}},
		{file: "[quic]\nauth_trust_mode = \"trusting\"", want: []string{"quic.auth_trust_mode", "want tofu or strict"}},
		{file: "[quic]\naddress = \"localhost\"", want: []string{"quic.address", "want an IP address"}},
		{file: "[quic]\nauth_handshake_timeout = \"soon\"", want: []string{"quic.auth_handshake_timeout", "milliseconds"}},
		{file: "[membership]\nactive_size = 0", want: []string{"membership.active_size = 0", "must be 1.."}},
		{file: "[membership]\narwl = 300", want: []string{"membership.arwl = 300", "must be 0..255"}},
		{file: "[membership]\ncontact_nodes = [\"seed\"]", want: []string{"membership.contact_nodes", `"seed" is not a node name`}},
		{file: "[log]\nlevel = \"loud\"", want: []string{"log.level", "must be debug, info, warn or error"}},
		{file: "metrics_addr = \"9464\"", want: []string{"metrics_addr", "must be host:port"}},
		{file: "[tcp]\nbusy_poll = \"-1us\"", want: []string{"tcp.busy_poll", "must be between 0 and 1s"}},
		{args: []string{"-busy-poll", "2s"}, want: []string{"(from -busy-poll)", "must be between 0 and 1s"}},
		{args: []string{"-busy-poll", "fast"}, want: []string{"(from -busy-poll)", "milliseconds"}},
		{file: "proto = \"quic\"\n[quic]\ncookie_only_nodes = [\"ops@*\"]", want: []string{"quic.cookie_only_nodes", "requires a dist_cookie other than the default"}},
		{file: "cookie = \"a\"\n[quic]\ndist_cookie = \"b\"", want: []string{"quic.dist_cookie", "differs from cookie"}},
		{file: "cookie = \"a\"\ncookie_file = \"/nonexistent/cookie\"", want: []string{"cookie_file", "not both", "cannot read it"}},
		{file: "name = [", want: []string{"barrelgo.toml", "line 1"}},
		{env: map[string]string{"BARRELGO_LISTEN_PORT": "1"}, want: []string{"BARRELGO_LISTEN_PORT", "did you mean BARRELGO_QUIC_LISTEN_PORT?"}},
		{env: map[string]string{"BARRELGO_QUIC_LISTEN_PORT": "x"}, want: []string{"(from $BARRELGO_QUIC_LISTEN_PORT)", "want an integer"}},
		{args: []string{"-proto", "sctp"}, want: []string{"(from -proto)", "must be tcp or quic"}},
		// Every problem is reported at once.
		{file: "proto = \"udp\"\n[quic]\nlisten_port = -1", want: []string{"must be tcp or quic", "must be 0..65535"}},
	} {
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		path := ""
		if tc.file != "" {
			path = writeConfig(t, tc.file)
		}
		_, err := loadConfig(path, parseFlags(t, false, tc.args...))
		for k := range tc.env {
			os.Unsetenv(k)
		}
		if err == nil {
			t.Errorf("%q %v %v: no error", tc.file, tc.env, tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q %v %v: error %q lacks %q", tc.file, tc.env, tc.args, err, w)
			}
		}
		if tc.file != "name = [" && !isUsage(err) {
			t.Errorf("%q: %v is not a usage error (exit 2)", tc.file, err)
		}
	}
}

// A client takes its identity from its flags, never from the node's file.
func TestConfigClientIgnoresNodeKeys(t *testing.T) {
	path := writeConfig(t, `
name = "node1@127.0.0.1"
metrics_addr = "127.0.0.1:9464"
cookie = "c"
proto = "quic"
[quic]
listen_port = 9100
[membership]
contact_nodes = ["seed@127.0.0.1"]
`)
	c, err := loadConfig(path, parseFlags(t, true))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Name, "barrelgo_cli_") || !c.Hidden || c.MetricsAddr != "" || c.QUIC.ListenPort != 0 ||
		c.membershipOn() || c.Cookie != "c" || c.Proto != "quic" || c.LogLevel != slog.LevelWarn {
		t.Fatalf("client config: %+v", c)
	}
	c, err = loadConfig(path, parseFlags(t, true, "-name", "me@127.0.0.1"))
	if err != nil || c.Name != "me@127.0.0.1" {
		t.Fatalf("client -name: %v %s", err, field(c, func(c *fileConfig) string { return c.Name }))
	}
}

// The example file loads as is and documents every key in its section.
func TestExampleConfigDocumentsEveryKey(t *testing.T) {
	path := filepath.Join("..", "..", "barrelgo.example.toml")
	if _, err := loadConfig(path, nil); err != nil {
		t.Fatalf("the example does not load: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	section := ""
	documented := map[string]bool{}
	header := regexp.MustCompile(`^#?\s*\[(\w+)\]\s*$`)
	assign := regexp.MustCompile(`^#?\s*(\w+)\s*=`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := header.FindStringSubmatch(sc.Text()); m != nil {
			section = m[1] + "."
			continue
		}
		if m := assign.FindStringSubmatch(sc.Text()); m != nil {
			documented[section+m[1]] = true
		}
	}
	for _, k := range keyTable {
		if !documented[k.name] {
			t.Errorf("barrelgo.example.toml does not document %s", k.name)
		}
	}
}
