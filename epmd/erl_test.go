package epmd

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/internal/syncbuf"
)

func needErl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("erl")
	if err != nil {
		t.Skip("erl not on PATH: install erlang-nox")
	}
	return p
}

// startErl runs erl with ERL_EPMD_PORT pointing at epmdPort, in its own
// process group so that cleanup reaches beam and its helpers.
func startErl(t *testing.T, epmdPort int, args ...string) *erlProc {
	t.Helper()
	cmd := exec.Command(needErl(t), args...)
	// Never an epmd daemon of erl's own, which would outlive the test.
	cmd.Env = append(cmd.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(epmdPort), "ERL_FLAGS=-start_epmd false "+os.Getenv("ERL_FLAGS"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start erl: %v", err)
	}
	p := &erlProc{out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	})
	return p
}

type erlProc struct {
	out  *syncbuf.Buffer
	done chan struct{}
	err  error // valid once done is closed
}

// TestErlRegistersWithEmbeddedServer starts a real Erlang node against the
// embedded server and finds it with the Go client.
func TestErlRegistersWithEmbeddedServer(t *testing.T) {
	needErl(t)
	srv, c := startServer(t)
	ctx := testCtx(t)
	name := uniqueName("erl")
	erl := startErl(t, srv.Port(), "-name", name+"@127.0.0.1", "-setcookie", "c", "-noshell")

	var info *NodeInfo
	waitFor(t, "erl to register "+name, func() bool {
		select {
		case <-erl.done:
			t.Fatalf("erl exited early (%v):\n%s", erl.err, erl.out.String())
		default:
		}
		var err error
		info, err = c.PortPlease(ctx, name)
		return err == nil
	})
	if info.Name != name || info.Type != NodeTypeNormal || info.Protocol != ProtocolTCPIPv4 ||
		info.HighVersion != DefaultHighVersion || info.LowVersion != DefaultLowVersion || info.Port == 0 || len(info.Extra) != 0 {
		t.Errorf("erl's registration = %+v; want a normal tcp node with barrelgo's default versions", info)
	}
	// The registered port is erl's live distribution listener.
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(int(info.Port)), 5*time.Second)
	if err != nil {
		t.Errorf("erl's distribution port %d: %v", info.Port, err)
	} else {
		conn.Close()
	}
	names, err := c.Names(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !hasName(names, name, int(info.Port)) {
		t.Errorf("Names = %v, missing %s", names, name)
	}
}

// TestErlQueriesEmbeddedServer has OTP's own client (erl_epmd and net_adm)
// parse the embedded server's PORT2_RESP and NAMES_RESP.
func TestErlQueriesEmbeddedServer(t *testing.T) {
	needErl(t)
	srv, c := startServer(t)
	name := uniqueName("gonode")
	reg, err := c.Register(testCtx(t), NodeInfo{Name: name, Port: 5555})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	eval := `io:format("~p~n", [{erl_epmd:port_please("` + name + `", "127.0.0.1"), ` +
		`net_adm:names("127.0.0.1"), erl_epmd:port_please("nosuchnode", "127.0.0.1")}]), halt().`
	erl := startErl(t, srv.Port(), "-noshell", "-eval", eval)
	select {
	case <-erl.done:
		if erl.err != nil {
			t.Fatalf("erl: %v\n%s", erl.err, erl.out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("erl did not finish:\n%s", erl.out.String())
	}
	got := strings.Join(strings.Fields(erl.out.String()), "")
	want := `{{port,5555,6},{ok,[{"` + name + `",5555}]},noport}`
	if got != want {
		t.Errorf("erl printed %s, want %s", got, want)
	}
}

// TestErlRefusedDuplicateName shows OTP reads the embedded server's refusal
// as a name clash: erl -name with a name Go holds fails to start.
func TestErlRefusedDuplicateName(t *testing.T) {
	needErl(t)
	srv, c := startServer(t)
	name := uniqueName("taken")
	reg, err := c.Register(testCtx(t), NodeInfo{Name: name, Port: 5556})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	erl := startErl(t, srv.Port(), "-name", name+"@127.0.0.1", "-setcookie", "c", "-noshell",
		"-eval", `io:format("started~n"), halt().`)
	select {
	case <-erl.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("erl neither failed nor finished:\n%s", erl.out.String())
	}
	text := erl.out.String()
	if strings.Contains(text, "started") || !strings.Contains(text, "in use") {
		t.Errorf("erl output does not show a refused name:\n%s", text)
	}
}
