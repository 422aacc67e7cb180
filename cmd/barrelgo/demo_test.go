package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"testing"
)

// The demo narrates each step of issue 6 and leaves nothing behind: no
// data directory, no goroutine (goleak checks at exit).
func TestDemoNarratesAndCleansUp(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"demo", "-duration", "10s", "-no-erl"}, &out, &errb); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errb.String())
	}
	got := out.String()
	mustContain(t, "demo", got,
		"three Go nodes over QUIC with Ed25519 auth",
		"started demo_q1@127.0.0.1 on udp 127.0.0.1:",
		"started demo_q3@127.0.0.1 on udp 127.0.0.1:",
		"demo_q1: metrics at http://127.0.0.1:",
		"demo_q2: peer_up demo_q1@127.0.0.1",
		"HyParView joined: every node has the other two in its active view",
		"demo_q3: barrel_p2p:register_service(demo_greeter",
		"demo_q1: barrel_p2p:whereis_service(demo_greeter) -> {ok, demo_q3@127.0.0.1, <",
		"demo_q1: gen_server:call(<demo_q3@127.0.0.1.",
		"{hello,world,from,'demo_q3@127.0.0.1'}",
		"broadcast: demo_q1 delivered <<\"hello, cluster\">>",
		"broadcast: demo_q2 delivered",
		"broadcast: demo_q3 delivered",
		"auth attempts incoming ok",
		"part 2: Go nodes on classic TCP distribution",
		"demo_a: gen_server:call({greeter, demo_b@127.0.0.1}, go) -> {hello,go,'demo_b@127.0.0.1'}",
		"cluster up; Ctrl-C to stop",
		"stopping the demo",
		"stopped every node; removed ")
	m := regexp.MustCompile(`data in (\S+)`).FindStringSubmatch(got)
	if m == nil {
		t.Fatal("the demo does not say where its data is")
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Fatalf("%s survived the demo: %v", m[1], err)
	}
}
