package sim

import (
	"os"
	"strconv"
	"testing"
)

// seedFor reads BARRELGO_SIM_SEED (1 by default).
func seedFor(t testing.TB) uint64 {
	v := os.Getenv("BARRELGO_SIM_SEED")
	if v == "" {
		return 1
	}
	seed, err := strconv.ParseUint(v, 10, 64)
	if err != nil || seed == 0 {
		t.Fatalf("BARRELGO_SIM_SEED=%q: want a positive integer", v)
	}
	return seed
}

// TestSimulationReport prints the figures of the standard scenario for
// BARRELGO_SIM_NODES nodes (1000 by default) and BARRELGO_SIM_SEED. It runs only when
// BARRELGO_SIM_REPORT is set, e.g.
//
//	BARRELGO_SIM_REPORT=1 go test -run '^TestSimulationReport$' -v -count=1 ./membership/sim/
func TestSimulationReport(t *testing.T) {
	if os.Getenv("BARRELGO_SIM_REPORT") == "" {
		t.Skip("set BARRELGO_SIM_REPORT=1 to run the 1000-node simulation report")
	}
	n := 1000
	if os.Getenv("BARRELGO_SIM_NODES") != "" {
		n = nodesFor(t, n)
	}
	if _, err := Report(os.Stdout, ScenarioOptions{Options: Options{Nodes: n, Seed: seedFor(t), CheckEveryInput: true}}); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkSimulation runs the standard scenario (1000 nodes, or
// BARRELGO_SIM_NODES and BARRELGO_SIM_SEED) once per iteration, logs the report and exports the
// headline figures as metrics. Virtual time is fixed by the scenario, so
// ns/op is the wall time of one whole run.
func BenchmarkSimulation(b *testing.B) {
	n := 1000
	if os.Getenv("BARRELGO_SIM_NODES") != "" {
		n = nodesFor(b, n)
	}
	var r *Results
	for b.Loop() {
		var err error
		if r, err = Run(ScenarioOptions{Options: Options{Nodes: n, Seed: seedFor(b), CheckEveryInput: true}}); err != nil {
			b.Fatal(err)
		}
	}
	// b.Log would trim the report to ten lines.
	r.Write(os.Stdout)
	b.ReportMetric(r.ConnectedAfterLast.Seconds(), "join-s")
	b.ReportMetric(100*r.CrashDelivery[0], "crash-deliv0-%")
	b.ReportMetric(100*r.CrashDelivery[len(r.CrashDelivery)-1], "crash-deliv3-%")
	b.ReportMetric(r.RMR, "rmr")
	conv := -1.0 // never
	if r.ServiceConverged >= 0 {
		conv = float64(r.ServiceConverged.Milliseconds())
	}
	b.ReportMetric(conv, "reg-conv-ms")
	b.ReportMetric(100*r.EarlyReach.Mean, "early-reach-%")
	b.ReportMetric(100*r.EarlyServiceSettled, "early-svc-%")
	b.ReportMetric(float64(r.ViolationCount), "violations")
}
