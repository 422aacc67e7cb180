# barrelgo developer entry points. `make test` is what CI runs (.ci/run).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

GO ?= go
MODULE := $(shell $(GO) list -m)

# Newest staticcheck that resolves through the module proxy and runs on Go
# 1.26 (checked: v0.6.1 = 2025.1.1, v0.7.0 and v0.8.2 = 2026.2.2 all work;
# the year-style tag `@2025.1.1` is refused by proxy.golang.org, use vX.Y.Z).
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# Packages whose tests also run under the race detector. Computed from
# `go list` so that core directories which do not exist yet are skipped.
CORE := etf|epmd|discovery|handshake|dist|protodist|node|membership
ALL_PKGS = $(shell $(GO) list -e ./...)
RACE_PKGS = $(shell $(GO) list -e ./... | grep -E '^$(MODULE)/($(CORE))(/|$$)' || true)
UNIT_PKGS = $(shell $(GO) list -e ./... | grep -v '^$(MODULE)/interop\(/\|$$\)' || true)

# interop-otp: the Debian release whose erlang-nox the erl suites run
# against again (trixie: OTP 27; sid had OTP 29 on 2026-11-26), where
# scripts/otp_root.sh keeps its root, and the packages whose tests start
# erl, erlc or epmd.
OTP_SUITE ?= trixie
OTP_DIR ?= /var/tmp/barrelgo-otp-$(OTP_SUITE)
ERL_PKGS = ./etf/ ./epmd/ ./handshake/ ./protodist/auth/ ./protodist/certs/ ./interop/... ./examples/... ./cmd/barrelgo/

# Fuzzing: every Fuzz* target of every package, one `go test -fuzz` each
# (Go fuzzes a single target per invocation), FUZZTIME apiece.
FUZZTIME ?= 10s

# Command run by `make bench` after the Go benchmarks to measure the same
# workloads on OTP for comparison (e.g. interop/bench_otp.sh). Empty: skipped.
BENCH_OTP ?= ./scripts/bench_otp_etf.sh

.PHONY: run test unit race interop interop-otp bench bench-dist sim fuzz lint fmt-check vet staticcheck clean

## run: a local demo cluster on loopback (Ctrl-C to stop)
run:
	$(GO) run ./cmd/barrelgo demo

## test: formatting and vet, unit tests, race tests of the core, interop suite
test: fmt-check vet unit race interop

unit:
	$(GO) test $(UNIT_PKGS)

race:
	@if [ -n "$(strip $(RACE_PKGS))" ]; then \
		echo "$(GO) test -race $(RACE_PKGS)"; \
		$(GO) test -race $(RACE_PKGS); \
	else echo "race: no core packages yet"; fi

## interop: tests against a real Erlang/OTP VM (skip with one line without erl)
interop:
	$(GO) test -race -count=1 -v ./interop/...

## interop-otp: the tests that start erl again, against the OTP of Debian
## $(OTP_SUITE) in a root of its own (scripts/otp_root.sh: root and the mirror)
interop-otp:
	rel=$$(scripts/otp_root.sh $(OTP_DIR) $(OTP_SUITE)); \
	PATH="$(abspath $(OTP_DIR))/bin:$$PATH" INTEROP_EXPECT_OTP=$$rel $(GO) test -race -count=1 $(ERL_PKGS)

## bench: Go benchmarks of every package, then $(BENCH_OTP) if set
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(ALL_PKGS)
ifneq ($(strip $(BENCH_OTP)),)
	$(BENCH_OTP)
else
	@echo "bench: BENCH_OTP not set, OTP comparison skipped"
endif

## sim: the 1000-node membership simulation report
sim:
	BARRELGO_SIM_REPORT=1 $(GO) test -run '^TestSimulationReport$$' -count=1 -v ./membership/sim/

## bench-dist: distribution benchmarks as ratios against same-run baselines
bench-dist:
	scripts/bench_dist.sh

## fuzz: run every fuzz target for FUZZTIME (default 10s) each
fuzz:
	@found=0; \
	for pkg in $(ALL_PKGS); do \
		for target in $$($(GO) test -list '^Fuzz' "$$pkg" | grep -E '^Fuzz' || true); do \
			found=$$((found + 1)); \
			echo "== $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) "$$pkg"; \
		done; \
	done; \
	echo "fuzz: $$found target(s) run"

## lint: gofmt, go vet and staticcheck
lint: fmt-check vet staticcheck

fmt-check:
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# vet also builds the product (not the tests, which start erl with Unix
# process groups) for Windows and macOS, so that code for one system only
# stays behind its build tags.
vet:
	$(GO) vet ./...
	GOOS=windows $(GO) build ./...
	GOOS=darwin $(GO) build ./...

staticcheck:
	$(STATICCHECK) ./...

clean:
	$(GO) clean -testcache
