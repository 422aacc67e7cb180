package epmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// startServer runs an embedded EPMD on a free loopback port for one test.
func startServer(t *testing.T, opts ...ServerOption) (*Server, *Client) {
	t.Helper()
	opts = append([]ServerOption{WithLogger(quietLog)}, opts...)
	srv, err := Start(context.Background(), "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv, NewClient(srv.Addr().String())
}

var nameSeq atomic.Int64

// uniqueName gives each test its own node names, so tests never collide even
// on a shared EPMD.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s%d_%d", prefix, time.Now().UnixNano()%1e6, nameSeq.Add(1))
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or 10 s pass. EPMD unregisters a node
// asynchronously, when it sees the registration connection close.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitUnregistered(t *testing.T, c *Client, name string) {
	t.Helper()
	waitFor(t, name+" to be unregistered", func() bool {
		_, err := c.PortPlease(context.Background(), name)
		return errors.Is(err, ErrNotRegistered)
	})
}

// rawExchange sends b on a fresh connection and returns everything the
// server sends until it closes the connection.
func rawExchange(t *testing.T, addr string, b []byte) []byte {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := io.ReadAll(conn)
	if err != nil && !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("read: %v", err)
	}
	return resp
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func hasName(names []NameEntry, name string, port int) bool {
	for _, n := range names {
		if n.Name == name && n.Port == port {
			return true
		}
	}
	return false
}
