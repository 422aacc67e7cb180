package erlharness

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// DefaultMaxFrame bounds a reply frame; bigger length prefixes are treated
// as a broken stream rather than allocated.
const DefaultMaxFrame = 256 << 20

// closeGrace is how long Close lets erl halt by itself after stdin closes
// before killing it.
const closeGrace = 10 * time.Second

// stderrKeep is how much of erl's stderr a Port keeps (the tail).
const stderrKeep = 64 << 10

// ErrClosed is returned by Call on a Port that was closed or killed.
var ErrClosed = errors.New("erlharness: port closed")

// Port is an erl VM whose stdin and stdout carry {packet,4} frames (a 4-byte
// big-endian length, then the payload), as open_port({fd,0,1},
// [binary,{packet,4}]) reads and writes them. One Call runs at a time.
type Port struct {
	cmd      *exec.Cmd
	in       *os.File // our end of erl's stdin
	out      *os.File // our end of erl's stdout
	maxFrame int

	stderr     tailBuffer
	stderrDone chan struct{}
	exited     chan struct{}
	waitErr    error // set before exited is closed

	stopCtx   func() bool
	killed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	mu     sync.Mutex // serialises Call and guards closed
	closed bool
}

// StartPort starts `erl -noinput -pa ebin -run mod fun args...`. ctx bounds
// the life of the VM: when it is done the VM is killed. Close ends it
// earlier and must always be called.
func StartPort(ctx context.Context, ebin, mod, fun string, args ...string) (*Port, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("erlharness: start %s:%s: %w", mod, fun, err)
	}
	erl, err := ErlPath()
	if err != nil {
		return nil, err
	}
	argv := []string{"-boot", "no_dot_erlang", "-noinput", "-pa", ebin, "-run", mod, fun}
	argv = append(argv, args...)

	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("erlharness: start: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW)
		return nil, fmt.Errorf("erlharness: start: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return nil, fmt.Errorf("erlharness: start: %w", err)
	}

	cmd := exec.Command(erl, argv...)
	// Passing *os.File directly means exec starts no copying goroutines and
	// Wait never touches our ends of the pipes.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	cmd.Env = erlEnv()
	cmd.Dir = ebin // a VM that writes files at all writes them there
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		closeAll(inR, inW, outR, outW, errR, errW)
		return nil, fmt.Errorf("erlharness: start erl: %w", err)
	}
	closeAll(inR, outW, errW)

	p := &Port{
		cmd:        cmd,
		in:         inW,
		out:        outR,
		maxFrame:   DefaultMaxFrame,
		stderrDone: make(chan struct{}),
		exited:     make(chan struct{}),
	}
	go func() {
		defer close(p.stderrDone)
		_, _ = io.Copy(&p.stderr, errR)
		_ = errR.Close()
	}()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	p.stopCtx = context.AfterFunc(ctx, p.kill)
	return p, nil
}

// StartPortT is StartPort for tests: the VM is closed in t.Cleanup, and its
// stderr is written to the test log if the test failed.
func StartPortT(t testing.TB, ebin, mod, fun string, args ...string) *Port {
	t.Helper()
	RequireErl(t)
	p, err := StartPort(context.Background(), ebin, mod, fun, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := p.Close()
		if err != nil {
			t.Errorf("erlharness: close %s:%s: %v", mod, fun, err)
		}
		if s := p.Stderr(); t.Failed() && s != "" {
			t.Logf("stderr of erl (%s:%s):\n%s", mod, fun, s)
		}
	})
	return p
}

// SetMaxFrame changes the largest reply Call accepts.
func (p *Port) SetMaxFrame(n int) {
	p.mu.Lock()
	p.maxFrame = n
	p.mu.Unlock()
}

// Call writes req as one frame and returns the next frame erl writes. If ctx
// ends first the VM is killed (a half-read stream cannot be resumed) and
// the Port is unusable afterwards.
func (p *Port) Call(ctx context.Context, req []byte) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.killed.Load() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("erlharness: call: %w", err)
	}
	if uint64(len(req)) > 1<<32-1 {
		return nil, fmt.Errorf("erlharness: call: request of %d bytes does not fit {packet,4}", len(req))
	}
	stop := context.AfterFunc(ctx, p.kill)
	defer stop()

	frame := make([]byte, 4, 4+len(req))
	binary.BigEndian.PutUint32(frame, uint32(len(req)))
	frame = append(frame, req...)
	if _, err := p.in.Write(frame); err != nil {
		return nil, p.callErr(ctx, "write", err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(p.out, hdr[:]); err != nil {
		return nil, p.callErr(ctx, "read length", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(p.maxFrame) {
		p.kill()
		return nil, fmt.Errorf("erlharness: call: reply frame of %d bytes exceeds the %d-byte limit", n, p.maxFrame)
	}
	resp := make([]byte, n)
	if _, err := io.ReadFull(p.out, resp); err != nil {
		return nil, p.callErr(ctx, "read frame", err)
	}
	return resp, nil
}

// callErr explains a broken stream: the context, or how erl exited.
func (p *Port) callErr(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("erlharness: call: %s: %w", op, context.Cause(ctx))
	}
	select {
	case <-p.exited:
		return fmt.Errorf("erlharness: call: %s: %w (erl exited: %v)", op, err, p.waitErr)
	case <-time.After(2 * time.Second):
		return fmt.Errorf("erlharness: call: %s: %w", op, err)
	}
}

// kill ends the VM and every process it started, at once.
func (p *Port) kill() {
	p.killed.Store(true)
	killProcessGroup(p.cmd)
}

// Exited is closed once the VM has exited.
func (p *Port) Exited() <-chan struct{} { return p.exited }

// Stderr returns the tail of what erl wrote to stderr so far.
func (p *Port) Stderr() string { return p.stderr.String() }

// Close closes erl's stdin (a well-behaved program halts on eof), waits a
// little, then kills whatever is left of the process group and reaps it. It
// reports a non-zero exit unless the Port had been killed on purpose.
func (p *Port) Close() error {
	p.closeOnce.Do(func() {
		p.stopCtx()
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		_ = p.in.Close()
		timer := time.NewTimer(closeGrace)
		defer timer.Stop()
		graceful := true
		select {
		case <-p.exited:
		case <-timer.C:
			graceful = false
		}
		// Even after a clean exit, erl_child_setup may linger briefly.
		wasKilled := p.killed.Load()
		killProcessGroup(p.cmd)
		<-p.exited
		<-p.stderrDone
		_ = p.out.Close()
		switch {
		case !graceful:
			p.closeErr = fmt.Errorf("erlharness: erl did not exit within %v of stdin closing; killed", closeGrace)
		case wasKilled:
			p.closeErr = nil
		case p.waitErr != nil:
			p.closeErr = fmt.Errorf("erlharness: erl exited: %w", p.waitErr)
		}
	})
	return p.closeErr
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		_ = f.Close()
	}
}

// tailBuffer keeps the last stderrKeep bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - stderrKeep; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
