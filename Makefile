# sett-orchestrator. `make run` runs it; `make test` is the whole test suite.
SHELL := /bin/bash
ARCH ?= x86_64
TARGET := $(ARCH)-unknown-linux-musl
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
IMAGE ?= sett-orchestrator

.PHONY: all deps test-deps build-orchestrator run test test-unit test-integration lint bench demo fuzz docker-orchestrator clean

all: build-orchestrator

deps:
	@scripts/ensure-deps.sh

## Static musl release binary in bin/sett-orchestrator (ARCH=x86_64|aarch64).
build-orchestrator: deps
	@scripts/build.sh $(ARCH)

## The orchestrator in the foreground; a private redis-server when REDIS_URL is unset.
run: build-orchestrator
	@scripts/run.sh bin/sett-orchestrator

## Everything CI runs: lint, unit and integration tests, container tests; then
## the tests that could not run here, one `SKIPPED: …` line each (CI=true: none may).
test: test-deps lint test-unit test-integration
	@scripts/test-skips.sh report
# From the start of the test binaries' build and while they run (mostly
# waiting), test-integration's builds run beside them, niced, on the core they
# leave idle (scripts/prebuild-integration.sh: the aarch64 release first).
test: export RUN_TESTS_ALONGSIDE := scripts/prebuild-integration.sh

# What only the tests need: promtool (the /metrics check) and qemu-user (the aarch64 smoke),
# and the aarch64 build's packages, installed here in the foreground: the build beside the
# tests (scripts/prebuild-integration.sh) is stopped with them should their build fail.
test-deps:
	@scripts/ensure-deps.sh promtool qemu
	@[ "$${SETT_SKIP_AARCH64:-}" = 1 ] || ARCH=aarch64 scripts/ensure-deps.sh qemu

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS='-D warnings' cargo doc --workspace --no-deps --locked -q

# The integration tests run the shipped binary (static musl release, panic=abort),
# built first; so do the bench crate's. scripts/run-tests.sh runs the test
# binaries cargo test would run, three at a time. The aarch64 smoke test runs in
# test-integration, after its cross-build.
SHIPPED := $(CURDIR)/bin/sett-orchestrator
# The worker tests' static test worker (sim/src/bin/sett-test-worker.rs), put in a FROM-scratch image.
TEST_WORKER := $(CURDIR)/target/x86_64-unknown-linux-musl/release/sett-test-worker
test-unit: deps
	@scripts/build.sh x86_64
	cargo build --release --locked -p sett-sim --bin sett-test-worker --target x86_64-unknown-linux-musl
	@scripts/test-skips.sh reset
	SETT_TEST_BIN=$(SHIPPED) SETT_TEST_WORKER_BIN=$(TEST_WORKER) \
	  scripts/run-tests.sh --skip the_aarch64_binary_runs_under_qemu

## Container tests: the FROM-scratch image next to a Redis container.
## (It builds the image itself, so that without Docker it can say it skipped.)
test-integration: build-orchestrator
	@scripts/container-tests.sh $(IMAGE) $(VERSION)

docker-orchestrator: build-orchestrator
	@scripts/docker-build.sh $(IMAGE) $(VERSION)

bench:
	@scripts/bench.sh

## The lifecycle tour: sett-demo's simulated agents against the orchestrator on a
## private redis-server, printed as a timeline; then, when Docker answers, the
## controller story (workers in containers) (see scripts/demo.sh).
demo:
	@scripts/demo.sh

fuzz:
	@scripts/fuzz.sh

clean:
	cargo clean
	rm -rf bin
