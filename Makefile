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

## Everything CI runs: lint, unit and integration tests, container tests.
test: test-deps lint test-unit test-integration

# What only the tests need: promtool (the /metrics check) and qemu-user (the aarch64 smoke).
test-deps:
	@scripts/ensure-deps.sh promtool qemu

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

test-unit:
	cargo test --workspace --exclude sett-container-tests

## Container tests: the FROM-scratch image next to a Redis container.
## (It builds the image itself, so that without Docker it can say it skipped.)
test-integration: build-orchestrator
	@scripts/container-tests.sh $(IMAGE) $(VERSION)

docker-orchestrator: build-orchestrator
	@scripts/docker-build.sh $(IMAGE) $(VERSION)

bench:
	@scripts/bench.sh

demo:
	@scripts/demo.sh

fuzz:
	@scripts/fuzz.sh

clean:
	cargo clean
	rm -rf bin
