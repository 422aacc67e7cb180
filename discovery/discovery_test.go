package discovery

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseEndpointErlangTerm(t *testing.T) {
	cases := map[string]struct {
		host string
		port int
		ok   bool
	}{
		`{"127.0.0.1", 19451}.`:         {"127.0.0.1", 19451, true},
		"{\"node.example\",4433}.\n":    {"node.example", 4433, true},
		`{<<"10.0.0.1">>, 4433}.`:       {"10.0.0.1", 4433, true},
		`{"h", 0}.`:                     {ok: false},
		`{"h", 70000}.`:                 {ok: false},
		`{"h"}.`:                        {ok: false},
		`{"127.0.0.1",19451,extra}.`:    {ok: false},
		`["127.0.0.1", 19451]`:          {ok: false},
		`{"127.0.0.1", 19451`:           {ok: false},
		`{"host": "1.2.3.4", "port":1}`: {ok: false},
	}
	for in, want := range cases {
		h, p, err := ParseEndpoint([]byte(in))
		if (err == nil) != want.ok {
			t.Errorf("%q: err = %v, want ok=%v", in, err, want.ok)
			continue
		}
		if want.ok && (h != want.host || p != want.port) {
			t.Errorf("%q = %s:%d, want %s:%d", in, h, p, want.host, want.port)
		}
	}
}

func TestFilePublishResolve(t *testing.T) {
	dir := t.TempDir()
	f := File{Dir: dir}
	if _, err := f.Resolve(context.Background(), "a@127.0.0.1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing file: err = %v, want ErrNotFound", err)
	}
	if err := f.Publish("a@127.0.0.1", "127.0.0.1", 19451); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "a@127.0.0.1.endpoint"))
	if got := strings.TrimSpace(string(raw)); got != `{"127.0.0.1",19451}.` {
		t.Fatalf("endpoint file = %q, want barrel_p2p's {\"host\",Port}. form", got)
	}
	addr, err := f.Resolve(context.Background(), "a@127.0.0.1")
	if err != nil || addr != "127.0.0.1:19451" {
		t.Fatalf("Resolve = %q, %v", addr, err)
	}
	if _, err := f.Resolve(context.Background(), "../etc/passwd"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("path traversal: err = %v, want a refusal", err)
	}
	if err := f.Unpublish("a@127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Resolve(context.Background(), "a@127.0.0.1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after unpublish: %v", err)
	}
}

func TestChainOrderAndDNSLiteral(t *testing.T) {
	dir := t.TempDir()
	_ = File{Dir: dir}.Publish("b@127.0.0.1", "127.0.0.2", 5000)
	c := Chain{Static{"a@127.0.0.1": "127.0.0.9:1"}, File{Dir: dir}, DNS{Port: 4444}}
	for node, want := range map[string]string{
		"a@127.0.0.1": "127.0.0.9:1",    // static wins
		"b@127.0.0.1": "127.0.0.2:5000", // file
		"c@127.0.0.1": "127.0.0.1:4444", // DNS on an IP literal, local port
	} {
		got, err := c.Resolve(context.Background(), node)
		if err != nil || got != want {
			t.Errorf("Resolve(%s) = %q, %v; want %q", node, got, err, want)
		}
	}
	if _, err := (Chain{Static{}}).Resolve(context.Background(), "x@h"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty chain: %v", err)
	}
	if _, err := (DNS{}).Resolve(context.Background(), "nohost"); err == nil {
		t.Fatal("a name without @ resolved")
	}
}
