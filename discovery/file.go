package discovery

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/barrelgo/barrelgo/etf"
)

// maxEndpointFile bounds what an endpoint file may hold; the real ones are
// a few dozen bytes.
const maxEndpointFile = 4096

// File reads barrel_p2p's endpoint files: <Dir>/<node>.endpoint holding
// one Erlang term {"host", Port}. (file:consult format; barrel_p2p's docs
// say JSON, its code writes Erlang terms).
type File struct {
	Dir string
}

// Resolve implements Resolver.
func (f File) Resolve(_ context.Context, node string) (string, error) {
	p, err := f.path(node)
	if err != nil {
		return "", err
	}
	b, err := readBounded(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("discovery: no %s: %w", p, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	host, port, err := ParseEndpoint(b)
	if err != nil {
		return "", fmt.Errorf("discovery: %s: %w", p, err)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

func (f File) path(node string) (string, error) {
	if node == "" || strings.ContainsAny(node, `/\`) || node == "." || node == ".." {
		return "", fmt.Errorf("discovery: node name %q cannot name a file", node)
	}
	return filepath.Join(f.Dir, node+".endpoint"), nil
}

func readBounded(p string) ([]byte, error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b := make([]byte, maxEndpointFile+1)
	n, err := fh.Read(b)
	if err != nil && n == 0 {
		return nil, err
	}
	if n > maxEndpointFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", p, maxEndpointFile)
	}
	return b[:n], nil
}

// ParseEndpoint parses the content of an endpoint file.
func ParseEndpoint(b []byte) (string, int, error) {
	t, err := etf.Parse(string(b))
	if err != nil {
		return "", 0, fmt.Errorf("endpoint file is not an Erlang term: %w", err)
	}
	tup, ok := t.(etf.Tuple)
	if !ok || len(tup) != 2 {
		return "", 0, fmt.Errorf("endpoint file holds %s, want {\"host\", Port}", etf.Format(t))
	}
	var host string
	switch h := tup[0].(type) {
	case etf.ByteList:
		host = string(h)
	case []byte:
		host = string(h)
	case etf.Atom:
		host = string(h)
	case etf.List:
		if len(h) != 0 {
			return "", 0, fmt.Errorf("endpoint host %s is not a string", etf.Format(h))
		}
	default:
		return "", 0, fmt.Errorf("endpoint host %s is not a string", etf.Format(h))
	}
	port, ok := tup[1].(int64)
	if !ok || port <= 0 || port > 65535 || host == "" {
		return "", 0, fmt.Errorf("endpoint %s needs a host and a port 1..65535", etf.Format(t))
	}
	return host, int(port), nil
}

// Publish writes <Dir>/<node>.endpoint for the local node, atomically, so
// barrel_p2p nodes sharing the directory can dial it.
func (f File) Publish(node, host string, port int) error {
	p, err := f.path(node)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return fmt.Errorf("discovery: publish %s: %w", node, err)
	}
	body := etf.Format(etf.Tuple{etf.CharList(host), int64(port)}) + ".\n"
	tmp, err := os.CreateTemp(f.Dir, "."+node+".endpoint.*")
	if err != nil {
		return fmt.Errorf("discovery: publish %s: %w", node, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(body); err != nil {
		tmp.Close()
		return fmt.Errorf("discovery: publish %s: %w", node, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("discovery: publish %s: %w", node, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("discovery: publish %s: %w", node, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("discovery: publish %s: %w", node, err)
	}
	return nil
}

// Unpublish removes the node's endpoint file.
func (f File) Unpublish(node string) error {
	p, err := f.path(node)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("discovery: unpublish %s: %w", node, err)
	}
	return nil
}
