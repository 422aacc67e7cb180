package sim

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestDbg(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("DBG"))
	if n == 0 {
		t.Skip()
	}
	s, _ := New(Options{Nodes: n})
	tr := newTracker(s)
	s.RunUntil(80 * time.Second)
	for i := 0; i < 10; i++ {
		s.randomAlive().Broadcast(probeTag, int64(i))
		s.RunFor(2 * time.Second)
	}
	id := s.randomAlive().Broadcast(probeTag, int64(99))
	s.RunFor(3 * time.Second)
	p := tr.get(id)
	for _, x := range s.nodes {
		if p.delivered[x.id] {
			continue
		}
		fmt.Printf("MISS %s active=%v eager=%v lazy=%v\n", x.name, x.hv.ActiveNodes(), x.pt.Eager(), x.pt.Lazy())
		for _, y := range x.ActiveIDs() {
			yn := s.nodes[y]
			fmt.Printf("   %s holds-back=%v eager=%v lazy=%v\n", yn.name, slices.Contains(yn.activeIDs, int32(x.id)), slices.Contains(yn.pt.Eager(), x.name), slices.Contains(yn.pt.Lazy(), x.name))
		}
		for _, y := range s.nodes {
			if slices.Contains(y.activeIDs, int32(x.id)) {
				fmt.Printf("   held by %s\n", y.name)
			}
			if slices.Contains(y.pt.Eager(), x.name) || slices.Contains(y.pt.Lazy(), x.name) {
				fmt.Printf("   in pt sets of %s\n", y.name)
			}
		}
	}
}
