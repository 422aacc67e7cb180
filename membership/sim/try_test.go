package sim

import (
	"os"
	"strconv"
	"testing"
)

func TestTry(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("N"))
	if n == 0 {
		t.Skip()
	}
	_, err := Report(os.Stdout, ScenarioOptions{Options: Options{Nodes: n}})
	if err != nil {
		t.Fatal(err)
	}
}
