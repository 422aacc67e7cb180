//go:build unix

package dist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection, closed when
// the test ends.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	client, server = streamPair(t, "tcp")
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func pollReaderOf(t *testing.T, c net.Conn, budget time.Duration) *pollReader {
	t.Helper()
	r, ok := newPollReader(c, budget).(*pollReader)
	if !ok {
		t.Fatalf("newPollReader(%T, %v) did not poll", c, budget)
	}
	return r
}

// Data that arrives within the budget is read by polling: the reader never
// waits in the netpoller. The budget is far above the writer's delay.
func TestPollReaderReadsWithinBudget(t *testing.T) {
	a, b := tcpPair(t)
	r := pollReaderOf(t, b, 10*time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(20 * time.Millisecond)
		a.Write([]byte("hello"))
	}()
	buf := make([]byte, 16)
	n, err := r.Read(buf)
	<-done
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if r.parks != 0 {
		t.Errorf("parked %d times within the budget", r.parks)
	}
}

// Past the budget the reader waits for data like a plain read, and still
// gets it. The writer's delay is far above the budget.
func TestPollReaderParksAfterBudget(t *testing.T) {
	a, b := tcpPair(t)
	r := pollReaderOf(t, b, time.Millisecond)
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(200 * time.Millisecond)
		a.Write([]byte("late"))
	}()
	buf := make([]byte, 16)
	n, err := r.Read(buf)
	<-done
	if err != nil || string(buf[:n]) != "late" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if r.parks == 0 {
		t.Error("the reader never waited in the netpoller")
	}
}

func TestPollReaderEndings(t *testing.T) {
	t.Run("EOF", func(t *testing.T) {
		a, b := tcpPair(t)
		r := pollReaderOf(t, b, time.Millisecond)
		a.Write([]byte("x"))
		a.Close()
		got, err := io.ReadAll(r)
		if err != nil || string(got) != "x" {
			t.Fatalf("ReadAll = %q, %v", got, err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		_, b := tcpPair(t)
		r := pollReaderOf(t, b, time.Millisecond)
		b.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := r.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read past the deadline: %v", err)
		}
	})
	t.Run("closed while waiting", func(t *testing.T) {
		_, b := tcpPair(t)
		r := pollReaderOf(t, b, time.Millisecond)
		errc := make(chan error, 1)
		go func() {
			_, err := r.Read(make([]byte, 4))
			errc <- err
		}()
		time.Sleep(50 * time.Millisecond)
		b.Close()
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on a closed connection: %v", err)
		}
	})
	t.Run("empty buffer", func(t *testing.T) {
		_, b := tcpPair(t)
		if n, err := pollReaderOf(t, b, time.Millisecond).Read(nil); n != 0 || err != nil {
			t.Fatalf("Read(nil) = %d, %v", n, err)
		}
	})
}

// Connections without a descriptor, and a zero budget, read as they are.
func TestPollReaderFallback(t *testing.T) {
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if r := newPollReader(p1, time.Millisecond); r != io.Reader(p1) {
		t.Errorf("net.Pipe: got %T", r)
	}
	_, b := tcpPair(t)
	if r := newPollReader(b, 0); r != io.Reader(b) {
		t.Errorf("zero budget: got %T", r)
	}
}

// A polling carrier reads the same frames as a sleeping one, whole frames
// and bodies read straight into their destination alike, with the writer
// pausing between frames so that some reads poll and some wait.
func TestTCPCarrierBusyPollFraming(t *testing.T) {
	a, b := tcpPair(t)
	frames := [][]byte{{}, []byte("abc"), bytes.Repeat([]byte{1}, 70<<10), {}, bytes.Repeat([]byte{2}, 3<<20+5), {9}}
	go func() {
		for i, f := range frames {
			if i%2 == 1 {
				time.Sleep(5 * time.Millisecond)
			}
			var h [4]byte
			binary.BigEndian.PutUint32(h[:], uint32(len(f)))
			a.Write(h[:])
			a.Write(f)
		}
		a.Close()
	}()
	tc := NewTCPCarrierOptions(b, Limits{}, TCPOptions{BusyPoll: time.Millisecond})
	defer tc.Close()
	if _, ok := tc.r.rd.(*pollReader); !ok {
		t.Fatalf("carrier reads through %T", tc.r.rd)
	}
	for i, want := range frames {
		f, err := tc.ReadFrame()
		if err != nil || !bytes.Equal(f, want) || (len(want) == 0) != (f == nil) {
			t.Fatalf("frame %d: %d bytes, %v; want %d", i, len(f), err, len(want))
		}
	}
	if _, err := tc.ReadFrame(); err != io.EOF {
		t.Errorf("at the end: %v", err)
	}
}
