//go:build !unix

package dist

import "errors"

// canPoll is false: BusyPoll is implemented on Unix systems only.
const canPoll = false

func readFD(uintptr, []byte) (int, bool, error) {
	return 0, false, errors.New("dist: busy polling is not supported on this system")
}
