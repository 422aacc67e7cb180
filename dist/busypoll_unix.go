//go:build unix

package dist

import "syscall"

const canPoll = true

// readFD is one non-blocking read; again reports that nothing was there.
func readFD(fd uintptr, p []byte) (n int, again bool, err error) {
	for {
		n, err = syscall.Read(int(fd), p)
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.EAGAIN {
		return 0, true, nil
	}
	return n, false, err
}
