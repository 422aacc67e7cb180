#!/usr/bin/env bash
# Benchmarks the etf codec against ergo's etf package and against OTP's
# term_to_binary/binary_to_term on the same five terms, and prints a table.
#
#   scripts/bench_otp_etf.sh                 # 1 s per measurement, 1 run
#   BENCHTIME=2s COUNT=5 scripts/bench_otp_etf.sh   # best of 5
#
# Ratios are speedups of ours: ergo ns/op / ours ns/op (and the same for
# OTP), so 2.0 means ours takes half the time. Rows in parentheses are
# variants of ours (ours_append: reusing the output buffer; ours_alias:
# binaries sharing the input). Needs go, erl and erlc.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
benchtime=${BENCHTIME:-1s}
count=${COUNT:-1}
erl_secs=${benchtime%s}
if ! [[ $erl_secs =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
	echo "BENCHTIME must be a duration in seconds like 1s, got $benchtime" >&2
	exit 2
fi

for tool in go erl erlc; do
	command -v "$tool" >/dev/null || { echo "$tool not on PATH (erlang-nox provides erl and erlc)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

erlc -o "$tmp" "$root/rebar_test_app/src/etf_bench.erl"
echo "== OTP $(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().') term_to_binary/binary_to_term (${erl_secs}s per measurement, $count run(s))" >&2
for _ in $(seq "$count"); do
	# One scheduler without busy waiting, so that the VM's CPU time is the
	# benchmark's (see measure/3 in etf_bench.erl).
	erl -noshell +S 1 +sbwt none +sbwtdcpu none +sbwtdio none -pa "$tmp" -run etf_bench main "$erl_secs" -s init stop
done | tee "$tmp/otp.txt" >&2

echo "== go test -bench (ours, ergo, and variants of ours)" >&2
(cd "$root" && go test -run '^$' -bench '^Benchmark(Encode|Decode)$' -benchmem \
	-benchtime "$benchtime" -count "$count" ./etf) | tee "$tmp/go.txt" >&2

# Per Benchmark<Dir>/<item>/<impl>: the best ns/op and MB/s of the runs
# (the least disturbed by other load on the machine, for all three alike),
# and the mean B/op and allocs/op (which do not vary).
awk '
/^Benchmark(Encode|Decode)\// {
	name = $1; sub(/-[0-9]+$/, "", name)
	split(name, p, "/"); dir = substr(p[1], 10); item = p[2]; impl = p[3]
	key = dir SUBSEP item SUBSEP impl
	for (i = 3; i < NF; i++) {
		if ($(i+1) == "ns/op" && (!(key in ns) || $i < ns[key])) ns[key] = $i
		if ($(i+1) == "MB/s" && (!(key in mbs) || $i > mbs[key])) mbs[key] = $i
		if ($(i+1) == "cpu-ns/op" && (!(key in cpu) || $i < cpu[key])) cpu[key] = $i
		if ($(i+1) == "B/op") bop[key] += $i
		if ($(i+1) == "allocs/op") aop[key] += $i
	}
	n[key]++
	if (!(dir SUBSEP item in seen)) { seen[dir SUBSEP item] = 1; order[++rows] = dir SUBSEP item }
	if (impl != "ours" && impl != "ergo" && impl != "otp" && !((dir SUBSEP item SUBSEP impl) in extra)) {
		extra[dir SUBSEP item SUBSEP impl] = 1; extras[dir SUBSEP item] = extras[dir SUBSEP item] " " impl
	}
}
function avg(a, k) { return (k in n && n[k] > 0) ? a[k] / n[k] : 0 }
function best(a, k) { return (k in a) ? a[k] : 0 }
function ratio(a, b) { return (a > 0 && b > 0) ? sprintf("%.2fx", b / a) : "-" }
END {
	printf "\n%-7s %-15s %11s %11s %11s %8s %8s %8s %8s %10s %14s %14s\n", "", "", "ours", "ergo", "otp", "vs", "vs", "wall vs", "wall vs", "ours", "ours", "ergo"
	printf "%-7s %-15s %11s %11s %11s %8s %8s %8s %8s %10s %14s %14s\n", "op", "item", "cpu-ns/op", "cpu-ns/op", "cpu-ns/op", "ergo", "otp", "ergo", "otp", "MB/s", "B/allocs", "B/allocs"
	for (r = 1; r <= rows; r++) {
		split(order[r], k, SUBSEP); dir = k[1]; item = k[2]
		o = dir SUBSEP item SUBSEP "ours"; e = dir SUBSEP item SUBSEP "ergo"; t = dir SUBSEP item SUBSEP "otp"
		printf "%-7s %-15s %11.0f %11.0f %11.0f %8s %8s %8s %8s %10.1f %14s %14s\n", dir, item, best(cpu, o), best(cpu, e), best(cpu, t), ratio(best(cpu, o), best(cpu, e)), ratio(best(cpu, o), best(cpu, t)), ratio(best(ns, o), best(ns, e)), ratio(best(ns, o), best(ns, t)), best(mbs, o), sprintf("%.0f/%.0f", avg(bop, o), avg(aop, o)), sprintf("%.0f/%.0f", avg(bop, e), avg(aop, e))
		m = split(extras[dir SUBSEP item], xs, " ")
		for (j = 1; j <= m; j++) {
			a = dir SUBSEP item SUBSEP xs[j]
			printf "%-7s %-15s %11.0f %11s %11s %8s %8s %8s %8s %10.1f %14s\n", "", "  (" xs[j] ")", best(cpu, a), "", "", ratio(best(cpu, a), best(cpu, e)), ratio(best(cpu, a), best(cpu, t)), ratio(best(ns, a), best(ns, e)), ratio(best(ns, a), best(ns, t)), best(mbs, a), sprintf("%.0f/%.0f", avg(bop, a), avg(aop, a))
		}
	}
	print "\ncpu-ns/op: CPU time of the whole process per op (Go: getrusage, GC included; OTP: one"
	print "scheduler, statistics(runtime)), best of the runs; it does not count waiting for a core,"
	print "so it holds up on a busy machine. vs: how many times faster ours is (theirs / ours);"
	print "wall vs: the same from wall-clock ns/op (best of the runs). MB/s: wall clock."
	print "B/allocs: per op (ergo encodes into a pooled buffer; ours returns a slice the caller"
	print "owns, ours_append reuses one; ours_alias decodes binaries without copying)."
}' "$tmp/otp.txt" "$tmp/go.txt"
