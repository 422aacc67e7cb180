package hyparview

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
)

// FuzzDecodeEnvelope feeds arbitrary external-term bytes to the codec: it
// must never panic, must wrap ErrMalformed when it refuses, and what it
// accepts must survive an encode/decode round trip unchanged.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, r := range recordedHyParView(f) {
		if b, err := hex.DecodeString(r.MsgHex); err == nil {
			f.Add(b)
		}
	}
	for _, b := range termsFileVectors(f) {
		f.Add(b)
	}
	for _, s := range []string{
		"{'$barrel_p2p_hyparview','a@h',{shuffle,3,[{peer,'b@h',{1,2,3,4,5,6,7,8},1,2,false,low,-1,3,4}],{peer,'a@h',x,y,z,true,high,undefined,0,undefined}}}",
		"{'$barrel_p2p_hyparview','a@h',{forward_join,{peer,'b@h',undefined,undefined,undefined,true,high,undefined,0,undefined},255,{peer,'a@h',undefined,undefined,undefined,true,high,undefined,0,undefined}}}",
	} {
		term, err := etf.Parse(s)
		if err != nil {
			f.Fatal(err)
		}
		b, err := etf.Encode(term)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		term, err := etf.Decode(b)
		if err != nil {
			return
		}
		env, err := DecodeEnvelope(term)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		raw, err := etf.Encode(EncodeEnvelope(env.FromNode, env.Msg))
		if err != nil {
			t.Fatalf("accepted message does not encode: %v", err)
		}
		term2, err := etf.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		env2, err := DecodeEnvelope(term2)
		if err != nil {
			t.Fatalf("re-encoded message refused: %v", err)
		}
		if !reflect.DeepEqual(env, env2) {
			t.Fatalf("round trip changed the message:\n%#v\n%#v", env, env2)
		}
	})
}

// FuzzStateMachine runs the random driver of the property test from
// fuzzer-chosen seeds and configuration, checking the same invariants.
func FuzzStateMachine(f *testing.F) {
	f.Add(uint64(1), uint64(2), uint8(5), uint8(30))
	f.Add(uint64(7), uint64(0), uint8(1), uint8(0))
	f.Fuzz(func(t *testing.T, s1, s2 uint64, active, passive uint8) {
		cfg := DefaultConfig()
		cfg.ActiveSize = 1 + int(active%8)
		cfg.PassiveSize = int(passive % 40)
		s, err := New(selfOf(me), cfg, rand.New(rand.NewPCG(s1, s2)))
		if err != nil {
			t.Fatal(err)
		}
		d := &randomDriver{r: rand.New(rand.NewPCG(s2, s1)), s: s, now: t0, view: eventView{}}
		for i := range 10 {
			d.names = append(d.names, etf.Atom(fmt.Sprintf("n%d@h", i)))
		}
		acts, last := s.Start(t0), "start"
		for i := range 300 {
			for _, a := range acts {
				if st, ok := a.(SetTimer); ok {
					d.timers = append(d.timers, st.Timer)
				}
			}
			for _, check := range []func() error{
				func() error { return checkInvariants(s) },
				func() error { return checkEmitted(s, acts) },
				func() error { return d.view.apply(acts) },
				func() error { return d.view.matches(s) },
			} {
				if err := check(); err != nil {
					t.Fatalf("step %d (%s): %v", i, last, err)
				}
			}
			last, acts = d.step()
		}
	})
}
