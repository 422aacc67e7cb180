package protodist

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/barrelgo/barrelgo/protodist/certs"
)

// BenchmarkCeiling measures the bare carriers under the distribution
// benchmarks (interop's BenchmarkDistGoGo): a quic-go stream with this
// transport's QUIC and TLS settings against a loopback TCP socket, no
// barrelgo code on either. What quic-go costs here is a floor no carrier
// built on it can go below, so these figures say how close to TCP the QUIC
// distribution can come on this machine. Each workload mirrors the
// distribution one: connect (QUIC and TLS handshakes against TCP's
// three-way one), ping-pong of a 4-byte length and a 64-byte body, and
// one-way 1 MiB frames. Rates are reported in the units of the
// distribution benchmarks, which scripts/bench_dist.sh compares them with.
func BenchmarkCeiling(b *testing.B) {
	for _, c := range []struct {
		name string
		pair pairFunc
	}{
		{"TCP", tcpPair},
		{"QUIC", quicPair},
	} {
		b.Run(c.name+"/connect", func(b *testing.B) {
			dial, accept, stop := c.pair(b)
			defer stop()
			ctx := context.Background()
			for b.Loop() {
				s, closeConn, err := dial(ctx)
				if err != nil {
					b.Fatal(err)
				}
				// The acceptor has the connection too: a TCP accept, a
				// QUIC handshake confirmed on both ends.
				as, err := accept()
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				as.Close()
				s.Close()
				closeConn()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "connects/s")
		})
		b.Run(c.name+"/pingpong", func(b *testing.B) {
			s, as, frame := connected(b, c.pair, 64)
			done := make(chan error, 1)
			go func() { done <- echo(as) }()
			if _, err := io.ReadFull(s, frame); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := s.Write(frame); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(s, frame); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
			s.Close()
			as.Close()
			<-done
		})
		b.Run(c.name+"/oneway_1MiB", func(b *testing.B) {
			s, as, frame := connected(b, c.pair, 1<<20)
			got := make(chan int, 1)
			go func() { got <- drain(as) }()
			b.SetBytes(1 << 20)
			for b.Loop() {
				if _, err := s.Write(frame); err != nil {
					b.Fatal(err)
				}
			}
			// Every frame must have arrived before the clock stops.
			s.Close()
			if n := <-got; n != b.N+1 {
				b.Fatalf("receiver read %d frames, sent %d", n, b.N+1)
			}
			as.Close()
		})
	}
}

// pairFunc starts a listener: dial connects to it and opens a stream,
// accept takes the peer's end, stop closes the listener.
type pairFunc func(b *testing.B) (dial func(context.Context) (io.ReadWriteCloser, func(), error), accept func() (io.ReadWriteCloser, error), stop func())

// connected returns both ends of a stream over a new pair, and a frame of
// size bytes behind its length that has already crossed: a QUIC stream
// only reaches the acceptor with its first bytes.
func connected(b *testing.B, pair pairFunc, size int) (s, as io.ReadWriteCloser, frame []byte) {
	dial, accept, stop := pair(b)
	b.Cleanup(stop)
	s, closeConn, err := dial(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(closeConn)
	frame = make([]byte, 4+size)
	binary.BigEndian.PutUint32(frame, uint32(size))
	if _, err := s.Write(frame); err != nil {
		b.Fatal(err)
	}
	if as, err = accept(); err != nil {
		b.Fatal(err)
	}
	return s, as, frame
}

// echo answers each length-prefixed frame with itself until the stream ends.
func echo(s io.ReadWriter) error {
	var hdr [4]byte
	buf := make([]byte, 64<<10)
	for {
		if _, err := io.ReadFull(s, hdr[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		body := buf[:4+n]
		copy(body, hdr[:])
		if _, err := io.ReadFull(s, body[4:]); err != nil {
			return err
		}
		if _, err := s.Write(body); err != nil {
			return err
		}
	}
}

// drain reads length-prefixed frames, each into a buffer of its own as
// the distribution does, and returns how many arrived whole.
func drain(s io.Reader) int {
	var hdr [4]byte
	n := 0
	for {
		if _, err := io.ReadFull(s, hdr[:]); err != nil {
			return n
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(s, body); err != nil {
			return n
		}
		n++
	}
}

func tcpPair(b *testing.B) (func(context.Context) (io.ReadWriteCloser, func(), error), func() (io.ReadWriteCloser, error), func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var d net.Dialer
	dial := func(ctx context.Context) (io.ReadWriteCloser, func(), error) {
		c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			return nil, nil, err
		}
		return c, func() { c.Close() }, nil
	}
	accept := func() (io.ReadWriteCloser, error) { return ln.Accept() }
	return dial, accept, func() { ln.Close() }
}

func quicPair(b *testing.B) (func(context.Context) (io.ReadWriteCloser, func(), error), func() (io.ReadWriteCloser, error), func()) {
	cert := func() tls.Certificate {
		certPEM, keyPEM, err := certs.Create("barrel_p2p-node", certs.Options{})
		if err != nil {
			b.Fatal(err)
		}
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	server := &Transport{opts: TransportOptions{Certificate: cert(), TickTime: time.Minute, IdleTimeout: time.Minute, AuthTimeout: 10 * time.Second}}
	client := &Transport{opts: TransportOptions{Certificate: cert(), TickTime: time.Minute, IdleTimeout: time.Minute, AuthTimeout: 10 * time.Second}}
	ln, err := quic.ListenAddr("127.0.0.1:0", server.tlsConfig(), server.quicConfig())
	if err != nil {
		b.Fatal(err)
	}
	conns := make(chan *quic.Conn, 1)
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	b.Cleanup(func() { tr.Close() })
	dial := func(ctx context.Context) (io.ReadWriteCloser, func(), error) {
		c, err := tr.Dial(ctx, ln.Addr(), client.tlsConfig(), client.quicConfig())
		if err != nil {
			return nil, nil, err
		}
		s, err := c.OpenStreamSync(ctx)
		if err != nil {
			c.CloseWithError(0, "")
			return nil, nil, err
		}
		return s, func() { c.CloseWithError(0, "") }, nil
	}
	accept := func() (io.ReadWriteCloser, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := ln.Accept(ctx)
		if err != nil {
			return nil, err
		}
		select {
		case conns <- c:
		default:
		}
		// A stream only reaches the acceptor with its first bytes; the
		// connect workload sends none, so it takes the handshake's end.
		select {
		case <-c.HandshakeComplete():
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return &lazyStream{c: c}, nil
	}
	return dial, accept, func() {
		select {
		case c := <-conns:
			c.CloseWithError(0, "")
		default:
		}
		ln.Close()
	}
}

// lazyStream accepts the peer's stream on first use.
type lazyStream struct {
	c *quic.Conn
	s *quic.Stream
}

func (l *lazyStream) stream() (*quic.Stream, error) {
	if l.s == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := l.c.AcceptStream(ctx)
		if err != nil {
			return nil, err
		}
		l.s = s
	}
	return l.s, nil
}

func (l *lazyStream) Read(p []byte) (int, error) {
	s, err := l.stream()
	if err != nil {
		return 0, err
	}
	return s.Read(p)
}

func (l *lazyStream) Write(p []byte) (int, error) {
	s, err := l.stream()
	if err != nil {
		return 0, err
	}
	return s.Write(p)
}

func (l *lazyStream) Close() error {
	return l.c.CloseWithError(0, "")
}
