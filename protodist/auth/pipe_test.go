package auth

import (
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// pipe is an in-memory unidirectional stream with QUIC-like buffering:
// writes never block, Close on the write side is FIN, and the read side
// can be closed (connection close) or given a read deadline.
type pipe struct {
	mu       sync.Mutex
	cond     *sync.Cond
	buf      []byte
	fin      bool
	rclosed  bool
	drainErr error // connection closed: reported once the buffer is empty
	deadline time.Time
	timer    *time.Timer
	writes   [][]byte // every Write, for transcript checks
	tamper   func(b []byte) []byte
}

func newPipe() *pipe {
	p := &pipe{}
	p.cond = sync.NewCond(&p.mu)
	return p
}

var errReadClosed = errors.New("pipe: read side closed")

func (p *pipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		switch {
		case p.rclosed:
			return 0, errReadClosed
		case len(p.buf) > 0:
			n := copy(b, p.buf)
			p.buf = p.buf[n:]
			return n, nil
		case p.fin:
			return 0, io.EOF
		case p.drainErr != nil:
			return 0, p.drainErr
		case !p.deadline.IsZero() && !time.Now().Before(p.deadline):
			return 0, os.ErrDeadlineExceeded
		}
		p.cond.Wait()
	}
}

func (p *pipe) write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fin {
		return 0, errors.New("pipe: write after FIN")
	}
	if p.tamper != nil {
		b = p.tamper(append([]byte(nil), b...))
	}
	p.writes = append(p.writes, append([]byte(nil), b...))
	p.buf = append(p.buf, b...)
	p.cond.Broadcast()
	return len(b), nil
}

func (p *pipe) finish() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fin = true
	p.cond.Broadcast()
	return nil
}

func (p *pipe) closeRead() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rclosed = true
	p.cond.Broadcast()
	return nil
}

// closeAfterData ends the stream with err once buffered bytes are read:
// the interop bridge delivers data and the close in order.
func (p *pipe) closeAfterData(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drainErr == nil {
		p.drainErr = err
	}
	p.cond.Broadcast()
}

func (p *pipe) setReadDeadline(t time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deadline = t
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	if !t.IsZero() {
		p.timer = time.AfterFunc(time.Until(t), func() {
			p.mu.Lock()
			p.cond.Broadcast()
			p.mu.Unlock()
		})
	}
	p.cond.Broadcast()
	return nil
}

func (p *pipe) stopTimer() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
}

func (p *pipe) written() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.writes...)
}

func (p *pipe) finished() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fin
}

// closerReader is the read side as a plain io.ReadCloser (no deadline):
// the authenticator must fall back to closing it.
type closerReader struct{ p *pipe }

func (r closerReader) Read(b []byte) (int, error) { return r.p.Read(b) }
func (r closerReader) Close() error               { return r.p.closeRead() }

// deadlineReader is the read side with SetReadDeadline, like a quic-go
// ReceiveStream.
type deadlineReader struct{ p *pipe }

func (r deadlineReader) Read(b []byte) (int, error)        { return r.p.Read(b) }
func (r deadlineReader) SetReadDeadline(t time.Time) error { return r.p.setReadDeadline(t) }

// sendSide is the write side: Close is FIN.
type sendSide struct{ p *pipe }

func (w sendSide) Write(b []byte) (int, error) { return w.p.write(b) }
func (w sendSide) Close() error                { return w.p.finish() }
