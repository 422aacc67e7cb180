package auth

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/internal/barrelenv"
	"github.com/barrelgo/barrelgo/protodist/certs"
)

// The real barrel_p2p 0.1.0 beams and an OTP 27 erl that runs them, named
// by BARREL_P2P_ERL and BARREL_P2P_ERL_LIBS (interop/README.md). The
// harness runs barrel_p2p_dist_auth_stream itself; only erlang_quic's
// `quic' module is replaced by a bridge that carries the two auth uni
// streams over loopback TCP (testdata/erl).
func needBarrel(t *testing.T) barrelenv.Env {
	t.Helper()
	return barrelenv.Require(t)
}

// copyErlSources copies testdata/erl into a temp dir: the VM may run in a
// root that sees only the OS temp dir, not this package's directory.
func copyErlSources(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	for _, f := range []string{"quic.erl", "auth_harness.erl"} {
		b, err := os.ReadFile(filepath.Join("testdata", "erl", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// erlPeer configures the Erlang side of one exchange.
type erlPeer struct {
	role       Role   // the Erlang node's role
	keyDir     string // its auth_key_dir
	mode       string // tofu | strict
	cookieOnly []string
	target     string // client: dial target ("undefined" for none)
	certFile   string // server: its cert file (binding source)
	peerCert   []byte // client: the DER quic:peercert returns
}

const erlNode = "erl@127.0.0.1"

type erlResult struct {
	result string            // printed return of authenticate_*
	pins   map[string]string // its pins after the exchange: node -> hex
	log    string
}

var errPeerClosed = errors.New("peer closed the connection")

// tcpStreams carries the Go side's auth streams over the bridge socket.
type tcpStreams struct {
	conn net.Conn
	in   *pipe
	mu   sync.Mutex
	done chan struct{}
}

func newTCPStreams(c net.Conn) *tcpStreams {
	s := &tcpStreams{conn: c, in: newPipe(), done: make(chan struct{})}
	go s.readLoop()
	return s
}

func (s *tcpStreams) readLoop() {
	defer close(s.done)
	r := bufio.NewReader(s.conn)
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			s.in.closeAfterData(errPeerClosed)
			return
		}
		p := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
		if _, err := io.ReadFull(r, p); err != nil {
			s.in.closeAfterData(errPeerClosed)
			return
		}
		switch hdr[0] {
		case 1:
			_, _ = s.in.write(p)
		case 2:
			_ = s.in.finish()
		case 3:
			s.in.closeAfterData(errPeerClosed)
		}
	}
}

func (s *tcpStreams) send(typ byte, p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := append([]byte{typ, 0, 0, 0, 0}, p...)
	binary.BigEndian.PutUint32(b[1:], uint32(len(p)))
	_, err := s.conn.Write(b)
	return err
}

type tcpSend struct{ s *tcpStreams }

func (w tcpSend) Write(p []byte) (int, error) {
	if err := w.s.send(1, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
func (w tcpSend) Close() error { return w.s.send(2, nil) }

func (s *tcpStreams) streams(binding [32]byte) *Streams {
	return &Streams{Recv: closerReader{s.in}, Open: func() (io.WriteCloser, error) { return tcpSend{s}, nil }, Binding: binding}
}

// interop runs the Go node against barrel_p2p's auth code and returns both
// results. On a Go failure the connection is closed at once, as the
// carrier does; on success it stays up until the Erlang side finished.
func interop(t *testing.T, gn *testNode, goBinding [32]byte, dialed string, ep erlPeer) (string, erlResult, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	env := needBarrel(t)
	out := t.TempDir()
	src := copyErlSources(t)
	role := "server"
	if ep.role == Client {
		role = "client"
	}
	peerCert := "none"
	if ep.peerCert != nil {
		peerCert = hex.EncodeToString(ep.peerCert)
	}
	target := ep.target
	if target == "" {
		target = "undefined"
	}
	certFile := ep.certFile
	if certFile == "" {
		certFile = "none"
	}
	q := func(s string) string { return `"` + s + `"` }
	eval := `{ok,_}=compile:file(` + q(filepath.Join(src, "quic.erl")) + `,[{outdir,` + q(out) + `},report]),` +
		`{ok,_}=compile:file(` + q(filepath.Join(src, "auth_harness.erl")) + `,[{outdir,` + q(out) + `},report]),` +
		`code:purge(quic),{module,quic}=code:load_abs(` + q(filepath.Join(out, "quic")) + `),` +
		`auth_harness:main([` + strings.Join([]string{q(role), q(strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)),
		q(ep.keyDir), q(ep.mode), q(strings.Join(ep.cookieOnly, ",")), q(target), q(certFile), q(peerCert), q("10000")}, ",") + `]).`
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := env.Command(ctx, out, "-noshell", "-name", erlNode, "-dist_listen", "false", "-start_epmd", "false",
		"-pa", out, "-eval", eval)
	var stdout strings.Builder
	cmd.Stdout = &stdout
	cmd.Stderr = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})

	// The VM either dials the bridge or dies; a dead VM fails the test at
	// once rather than after the accept deadline.
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(60 * time.Second))
	type accepted struct {
		c   net.Conn
		err error
	}
	acc := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		acc <- accepted{c, err}
	}()
	var conn net.Conn
	select {
	case a := <-acc:
		if a.err != nil {
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("erlang harness did not connect: %v\n%s", a.err, stdout.String())
		}
		conn = a.c
	case werr := <-exited:
		_ = ln.Close()
		if a := <-acc; a.c != nil {
			_ = a.c.Close()
		}
		t.Fatalf("erl exited before connecting: %v\n%s", werr, stdout.String())
	}
	ts := newTCPStreams(conn)
	goRole := Server
	if ep.role == Server {
		goRole = Client
	}
	peer, goErr := gn.a.Authenticate(context.Background(), goRole, dialed, ts.streams(goBinding))
	if goErr != nil {
		_ = conn.Close()
	}
	werr := <-exited
	_ = conn.Close()
	<-ts.done
	ts.in.stopTimer()
	if werr != nil {
		t.Fatalf("erl: %v\n%s", werr, stdout.String())
	}
	res := erlResult{pins: map[string]string{}, log: stdout.String()}
	for _, line := range strings.Split(stdout.String(), "\n") {
		switch {
		case strings.HasPrefix(line, "RESULT "):
			res.result = strings.TrimPrefix(line, "RESULT ")
		case strings.HasPrefix(line, "PIN "):
			f := strings.Fields(line)
			res.pins[f[1]] = strings.ToLower(f[2])
		}
	}
	if res.result == "" {
		t.Fatalf("no result from erl:\n%s", stdout.String())
	}
	return peer, res, goErr
}

// interopFixture: a Go node, an Erlang key dir made by Go (barrel_p2p
// loads it), a server certificate.
type interopFixture struct {
	gn        *testNode
	erlDir    string
	erlKey    KeyPair
	cert      *certs.Credentials
	certFile  string
	goBinding [32]byte
}

func newInteropFixture(t *testing.T, mut func(*Config)) *interopFixture {
	t.Helper()
	needBarrel(t)
	f := &interopFixture{gn: newTestNode(t, "go@127.0.0.1", mut), erlDir: t.TempDir()}
	var err error
	if f.erlKey, err = EnsureKeyPair(f.erlDir, nil); err != nil {
		t.Fatal(err)
	}
	cdir := t.TempDir()
	if f.cert, err = certs.EnsureWith(cdir, erlNode, certs.Options{Logger: discardLogger()}); err != nil {
		t.Fatal(err)
	}
	f.certFile = f.cert.CertFile
	f.goBinding = f.cert.Binding
	return f
}

func (f *interopFixture) erlServer() erlPeer {
	return erlPeer{role: Server, keyDir: f.erlDir, mode: "tofu", certFile: f.certFile}
}

func (f *interopFixture) erlClient() erlPeer {
	return erlPeer{role: Client, keyDir: f.erlDir, mode: "tofu", target: "go@127.0.0.1", peerCert: f.cert.Leaf().Raw}
}

func wantErl(t *testing.T, r erlResult, want ...string) {
	t.Helper()
	for _, w := range want {
		if r.result == w {
			return
		}
	}
	t.Errorf("barrel_p2p returned %s, want %s\n%s", r.result, strings.Join(want, " or "), r.log)
}

func TestErlangInteropGoClientTOFU(t *testing.T) {
	t.Parallel()
	f := newInteropFixture(t, nil)
	peer, r, err := interop(t, f.gn, f.goBinding, erlNode, f.erlServer())
	if err != nil || peer != erlNode {
		t.Fatalf("go client: %q %v\n%s", peer, err, r.log)
	}
	wantErl(t, r, "{ok,'go@127.0.0.1'}")
	// barrel_p2p signed with the identity Go wrote for it, and pinned
	// ours into its trusted/ in the shared layout.
	if !f.gn.pins.IsTrusted(erlNode, f.erlKey.Public) {
		t.Error("go did not pin the Go-made Erlang identity")
	}
	if r.pins["go@127.0.0.1"] != hex.EncodeToString(f.gn.kp.Public) {
		t.Errorf("barrel_p2p pins %v", r.pins)
	}
	p, err := OpenPins(f.erlDir, discardLogger())
	if err != nil || !p.IsTrusted("go@127.0.0.1", f.gn.kp.Public) {
		t.Errorf("pin file written by barrel_p2p not loaded: %v", err)
	}
	if got := f.gn.attempts("outgoing", "ok"); got != 1 {
		t.Errorf("attempts %v", got)
	}
}

func TestErlangInteropGoServerTOFU(t *testing.T) {
	t.Parallel()
	f := newInteropFixture(t, nil)
	// barrel_p2p generates its own identity this time; Go reads it back.
	ep := f.erlClient()
	ep.keyDir = t.TempDir()
	peer, r, err := interop(t, f.gn, f.goBinding, "", ep)
	if err != nil || peer != erlNode {
		t.Fatalf("go server: %q %v\n%s", peer, err, r.log)
	}
	wantErl(t, r, "{ok,'go@127.0.0.1'}")
	k, err := KeyDir(ep.keyDir).Identity()
	if err != nil {
		t.Fatalf("barrel_p2p-made identity: %v", err)
	}
	if !f.gn.pins.IsTrusted(erlNode, k.Public) {
		t.Error("pinned key is not barrel_p2p's node.pub")
	}
	for _, name := range []string{KeyFileName, PubFileName} {
		if fi, err := os.Stat(filepath.Join(ep.keyDir, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", name, fi.Mode(), err)
		}
	}
	if got := f.gn.attempts("incoming", "ok"); got != 1 {
		t.Errorf("attempts %v", got)
	}
}

func TestErlangInteropStrictUnknown(t *testing.T) {
	t.Parallel()
	t.Run("erlang server strict", func(t *testing.T) {
		t.Parallel()
		f := newInteropFixture(t, nil)
		ep := f.erlServer()
		ep.mode = "strict"
		_, r, err := interop(t, f.gn, f.goBinding, erlNode, ep)
		wantErr(t, "go client", err, ErrAuthRejected, `{auth_rejected,<<"untrusted_key">>}`)
		wantErl(t, r, "{error,untrusted_key}")
	})
	t.Run("go server strict", func(t *testing.T) {
		t.Parallel()
		f := newInteropFixture(t, strict)
		_, r, err := interop(t, f.gn, f.goBinding, "", f.erlClient())
		wantErr(t, "go server", err, ErrUntrustedKey, "untrusted_key")
		wantErl(t, r, `{error,{auth_rejected,<<"untrusted_key">>}}`)
	})
}

func TestErlangInteropKeyMismatch(t *testing.T) {
	t.Parallel()
	t.Run("erlang holds an old pin of go", func(t *testing.T) {
		t.Parallel()
		f := newInteropFixture(t, nil)
		old, _ := GenerateKeyPair(nil)
		// Written by Go's pin store into barrel_p2p's trusted/.
		p, err := OpenPins(f.erlDir, discardLogger())
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Store("go@127.0.0.1", old.Public); err != nil {
			t.Fatal(err)
		}
		_, r, err := interop(t, f.gn, f.goBinding, erlNode, f.erlServer())
		wantErr(t, "go client", err, ErrAuthRejected, `{auth_rejected,<<"key_mismatch">>}`)
		wantErl(t, r, "{error,key_mismatch}")
	})
	t.Run("go holds an old pin of erlang", func(t *testing.T) {
		t.Parallel()
		f := newInteropFixture(t, nil)
		old, _ := GenerateKeyPair(nil)
		if err := f.gn.pins.Store(erlNode, old.Public); err != nil {
			t.Fatal(err)
		}
		_, r, err := interop(t, f.gn, f.goBinding, erlNode, f.erlServer())
		wantErr(t, "go client", err, ErrKeyMismatch, "key_mismatch")
		// We close at once; barrel_p2p is either still sending its
		// CHALLENGE or already waiting for ours.
		wantErl(t, r, "{error,{recv_challenge_failed,{connection_closed,tcp_closed}}}",
			"{error,{send_challenge_failed,{invalid_state,draining}}}")
	})
	t.Run("go server holds an old pin", func(t *testing.T) {
		t.Parallel()
		f := newInteropFixture(t, nil)
		old, _ := GenerateKeyPair(nil)
		if err := f.gn.pins.Store(erlNode, old.Public); err != nil {
			t.Fatal(err)
		}
		_, r, err := interop(t, f.gn, f.goBinding, "", f.erlClient())
		wantErr(t, "go server", err, ErrKeyMismatch, "key_mismatch")
		wantErl(t, r, `{error,{auth_rejected,<<"key_mismatch">>}}`)
	})
}

func TestErlangInteropBindingMismatch(t *testing.T) {
	t.Parallel()
	relay := sha256.Sum256([]byte("relay certificate"))
	t.Run("go client behind a relay", func(t *testing.T) {
		t.Parallel()
		f := newInteropFixture(t, nil)
		_, r, err := interop(t, f.gn, relay, erlNode, f.erlServer())
		wantErr(t, "go client", err, ErrSignatureVerificationFailed, "signature_verification_failed")
		wantErl(t, r, "{error,signature_verification_failed}")
	})
	t.Run("erlang client behind a relay", func(t *testing.T) {
		t.Parallel()
		f := newInteropFixture(t, nil)
		ep := f.erlClient()
		other, err := certs.EnsureWith(t.TempDir(), "relay", certs.Options{Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		ep.peerCert = other.Leaf().Raw
		_, r, err := interop(t, f.gn, f.goBinding, "", ep)
		wantErr(t, "go server", err, ErrSignatureVerificationFailed, "signature_verification_failed")
		wantErl(t, r, "{error,signature_verification_failed}")
	})
}

func TestErlangInteropTornKeypairSignsBadly(t *testing.T) {
	t.Parallel()
	f := newInteropFixture(t, nil)
	// barrel_p2p logs keypair_mismatch and keeps going with a node.pub
	// that does not match node.key: our server must reject it.
	other, _ := GenerateKeyPair(nil)
	if err := os.WriteFile(filepath.Join(f.erlDir, PubFileName), other.Public, 0o600); err != nil {
		t.Fatal(err)
	}
	_, r, err := interop(t, f.gn, f.goBinding, "", f.erlClient())
	wantErr(t, "go server", err, ErrSignatureVerificationFailed, "signature_verification_failed")
	wantErl(t, r, `{error,{auth_rejected,<<"signature_invalid">>}}`)
	if got := f.gn.attempts("incoming", "fail"); got != 1 {
		t.Errorf("attempts %v", got)
	}
}

func TestErlangInteropCookieOnly(t *testing.T) {
	t.Parallel()
	t.Run("erlang server lets go in", func(t *testing.T) {
		t.Parallel()
		f := newInteropFixture(t, func(c *Config) { c.CookieOnlyNodes = []string{"erl@*"} })
		ep := f.erlServer()
		ep.cookieOnly = []string{"go@127.0.0.1"}
		peer, r, err := interop(t, f.gn, f.goBinding, erlNode, ep)
		if err != nil || peer != "" {
			t.Fatalf("go client: %q %v", peer, err)
		}
		wantErl(t, r, "{ok,undefined}")
	})
	t.Run("go client refuses the short-circuit", func(t *testing.T) {
		t.Parallel()
		f := newInteropFixture(t, nil)
		ep := f.erlServer()
		ep.cookieOnly = []string{"*@*"}
		_, r, err := interop(t, f.gn, f.goBinding, erlNode, ep)
		wantErr(t, "go client", err, ErrUnexpectedAuthOK, "unexpected_auth_ok")
		wantErl(t, r, "{ok,undefined}")
	})
	t.Run("go server lets erlang in", func(t *testing.T) {
		t.Parallel()
		f := newInteropFixture(t, func(c *Config) { c.CookieOnlyNodes = []string{erlNode} })
		ep := f.erlClient()
		ep.cookieOnly = []string{"go@*"}
		peer, r, err := interop(t, f.gn, f.goBinding, "", ep)
		if err != nil || peer != "" {
			t.Fatalf("go server: %q %v", peer, err)
		}
		wantErl(t, r, "{ok,undefined}")
	})
	t.Run("erlang client without dial target", func(t *testing.T) {
		t.Parallel()
		f := newInteropFixture(t, func(c *Config) { c.CookieOnlyNodes = []string{erlNode} })
		ep := f.erlClient()
		ep.cookieOnly = []string{"*@*"}
		ep.target = "undefined"
		_, r, err := interop(t, f.gn, f.goBinding, "", ep)
		if err != nil {
			t.Fatalf("go server: %v", err)
		}
		wantErl(t, r, "{error,unexpected_auth_ok}")
	})
}

func TestErlangInteropClockSkew(t *testing.T) {
	t.Parallel()
	f := newInteropFixture(t, func(c *Config) {
		c.Now = func() time.Time { return time.Now().Add(5 * time.Minute) }
	})
	_, r, err := interop(t, f.gn, f.goBinding, erlNode, f.erlServer())
	wantErr(t, "go client", err, ErrPeerTSSkew, "peer_ts_skew")
	wantErl(t, r, "{error,peer_ts_skew}")
	if errors.Is(err, ErrAuthRejected) {
		t.Error("skew must not be reported as a rejection")
	}
}
