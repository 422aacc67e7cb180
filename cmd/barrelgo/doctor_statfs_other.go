//go:build !(linux || darwin || freebsd)

package main

import "errors"

// freeSpace is unknown here; the doctor then skips the free-space check.
func freeSpace(string) (uint64, error) {
	return 0, errors.New("free space unknown on this platform")
}
