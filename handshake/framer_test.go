package handshake

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestTCPFramerRoundTrip(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	w, r := NewTCPFramer(c1), NewTCPFramer(c2)
	msgs := [][]byte{[]byte("sok"), {}, make([]byte, MaxMessageSize)}
	errc := make(chan error, 1)
	go func() {
		for _, m := range msgs {
			if err := w.WriteMessage(context.Background(), m); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i, want := range msgs {
		got, err := r.ReadMessage(context.Background())
		if err != nil || string(got) != string(want) {
			t.Fatalf("message %d: got %d bytes, %v; want %d bytes", i, len(got), err, len(want))
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMessage(context.Background(), make([]byte, MaxMessageSize+1)); err == nil {
		t.Error("oversized write accepted")
	}
}

// TestTCPFramerWireFormat pins the 2-byte big-endian length.
func TestTCPFramerWireFormat(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	go func() { _ = NewTCPFramer(c1).WriteMessage(context.Background(), []byte("sok")) }()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c2, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != "\x00\x03sok" {
		t.Errorf("wire bytes %q", buf)
	}
}

func TestTCPFramerRejects(t *testing.T) {
	cases := []struct {
		name string
		wire string
		want error
		text string
	}{
		{"oversized", "\x04\x01", nil, "exceeds"},
		{"truncated body", "\x00\x0aabc", io.ErrUnexpectedEOF, ""},
		{"truncated header", "\x00", io.ErrUnexpectedEOF, ""},
		{"closed", "", io.EOF, ""},
	}
	for _, c := range cases {
		c1, c2 := net.Pipe()
		go func() {
			_, _ = c1.Write([]byte(c.wire))
			c1.Close()
		}()
		_, err := NewTCPFramer(c2).ReadMessage(context.Background())
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: err = %v, want %v %q", c.name, err, c.want, c.text)
		}
		c2.Close()
	}
}

func TestTCPFramerDeadlineIsCleared(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	r := NewTCPFramer(c2)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.ReadMessage(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline", err)
	}
	// The expired deadline must not stick to the connection.
	go func() { _ = NewTCPFramer(c1).WriteMessage(context.Background(), []byte("x")) }()
	if m, err := r.ReadMessage(context.Background()); err != nil || string(m) != "x" {
		t.Fatalf("read after deadline: %q, %v", m, err)
	}
}

func TestTCPFramerCancelled(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewTCPFramer(c2).ReadMessage(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want canceled", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if err := NewTCPFramer(c2).WriteMessage(ctx, []byte("blocked")); !errors.Is(err, context.Canceled) {
		t.Errorf("write err = %v, want canceled", err)
	}
}
