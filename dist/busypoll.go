package dist

import (
	"io"
	"net"
	"runtime"
	"syscall"
	"time"
)

// pollReader reads a socket the way an ERTS scheduler waits for work: when
// the socket runs dry it keeps trying for up to budget before it parks in
// the netpoller. A round trip whose answer comes back within the budget
// then costs no epoll wake-up of a sleeping thread, which on a small or
// virtualised machine is most of a round trip's latency.
type pollReader struct {
	rc     syscall.RawConn
	budget time.Duration
	// parks counts reads that gave up polling and waited (tests).
	parks int
}

// newPollReader wraps conn in a pollReader when budget is positive, the
// system is a Unix and conn exposes its descriptor; otherwise conn reads
// as it is.
func newPollReader(conn net.Conn, budget time.Duration) io.Reader {
	if budget <= 0 || !canPoll {
		return conn
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return conn
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return conn
	}
	return &pollReader{rc: rc, budget: budget}
}

func (r *pollReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var rerr error
	err := r.rc.Read(func(fd uintptr) bool {
		var start time.Time
		for {
			var again bool
			n, again, rerr = readFD(fd, p)
			switch {
			case !again:
				return true
			case start.IsZero():
				start = time.Now()
			case time.Since(start) >= r.budget:
				// Wait for readiness; the next call polls afresh.
				r.parks++
				return false
			}
			// Let the goroutines this read made runnable (the process a
			// message went to, the writer of its reply) run meanwhile:
			// on one P they would otherwise wait for the budget.
			runtime.Gosched()
		}
	})
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, rerr
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}
