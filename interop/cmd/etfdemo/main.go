// Command etfdemo shows barrelgo's term codec at work: it encodes a few
// Erlang terms in Go, has a local erl decode and re-encode them, and prints
// both sides. Without erl it round-trips the terms in Go alone.
package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"os/signal"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/interop/erlharness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		slog.Error("etfdemo failed", "err", err)
		os.Exit(1)
	}
}

func demoTerms() []etf.Term {
	big2p100, _ := new(big.Int).SetString("1267650600228229401496703205376", 10)
	return []etf.Term{
		etf.Atom("hello"),
		int64(42),
		int64(-2147483649),
		big2p100,
		3.141592653589793,
		[]byte("binary"),
		etf.ByteList("charlist"),
		etf.Tuple{etf.Atom("ok"), etf.List{int64(1), 2.5, etf.Atom("日本")}},
		etf.Map{{Key: etf.Atom("name"), Value: []byte("barrelgo")}, {Key: int64(1), Value: etf.Tuple{}}},
		etf.Pid{Node: "demo@127.0.0.1", ID: 73, Serial: 0, Creation: 1},
		etf.ExportFun{Module: "lists", Function: "reverse", Arity: 1},
	}
}

func run(ctx context.Context) error {
	terms := demoTerms()
	if !erlharness.Available() {
		fmt.Println("erl/erlc not found on PATH (Debian: apt-get install erlang-nox); round-tripping in Go only")
		return goOnly(terms)
	}
	ebin, err := os.MkdirTemp("", "etfdemo-ebin-")
	if err != nil {
		return fmt.Errorf("etfdemo: %w", err)
	}
	defer os.RemoveAll(ebin)
	src, err := erlharness.TestAppSrc()
	if err != nil {
		return err
	}
	if err := erlharness.Compile(ctx, src, ebin); err != nil {
		return err
	}
	rel, err := erlharness.OTPRelease(ctx)
	if err != nil {
		return err
	}
	// minor2 makes OTP releases before 26 write UTF-8 atoms, as barrelgo does.
	p, err := erlharness.StartPort(ctx, ebin, "etf_echo", "main", "minor2")
	if err != nil {
		return err
	}
	defer func() {
		if err := p.Close(); err != nil {
			slog.Warn("closing erl", "err", err, "stderr", p.Stderr())
		}
	}()
	fmt.Printf("round-tripping %d terms through Erlang/OTP %s (etf_echo over a {packet,4} port)\n\n", len(terms), rel)
	for _, t := range terms {
		if err := throughErl(ctx, p, t); err != nil {
			return err
		}
	}
	return nil
}

func throughErl(ctx context.Context, p *erlharness.Port, t etf.Term) error {
	req, err := etf.Encode(t)
	if err != nil {
		return fmt.Errorf("etfdemo: encode %v: %w", t, err)
	}
	callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := p.Call(callCtx, req)
	if err != nil {
		return err
	}
	reply, err := etf.Decode(resp)
	if err != nil {
		return fmt.Errorf("etfdemo: decode reply: %w", err)
	}
	tup, ok := reply.(etf.Tuple)
	if !ok || len(tup) != 3 || tup[0] != etf.Atom("ok") {
		return fmt.Errorf("etfdemo: erl answered %s", etf.Format(reply))
	}
	otpBytes, _ := tup[2].([]byte)
	verdict := "same bytes as OTP"
	if !bytes.Equal(otpBytes, req) {
		verdict = fmt.Sprintf("bytes differ\n    go  %x\n    otp %x", req, otpBytes)
		if _, isMap := t.(etf.Map); isMap {
			verdict += "\n    (a map's wire order is the encoder's choice: OTP writes its internal order)"
		}
	}
	fmt.Printf("go  %s\nerl %s\n    equal=%v, %d bytes, %s\n\n", etf.Format(t), etf.Format(tup[1]), etf.Equal(t, tup[1]), len(req), verdict)
	return nil
}

func goOnly(terms []etf.Term) error {
	for _, t := range terms {
		b, err := etf.Encode(t)
		if err != nil {
			return fmt.Errorf("etfdemo: encode: %w", err)
		}
		back, err := etf.Decode(b)
		if err != nil {
			return fmt.Errorf("etfdemo: decode: %w", err)
		}
		fmt.Printf("%s\n    %d bytes %x\n    decodes back equal: %v\n", etf.Format(t), len(b), b, etf.Equal(t, back))
	}
	return nil
}
