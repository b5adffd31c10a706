#!/usr/bin/env bash
# Installs what the build and the tests need, when missing: redis-server and
# redis-cli, musl-tools, openssl (the TLS tests make a CA), and the Rust musl
# target; with ARCH=aarch64 (as `make build-orchestrator ARCH=aarch64` exports
# it) also the aarch64 musl target and Debian's aarch64 C cross compiler, which
# ring's C and assembly need (.cargo/config.toml points cc at it).
# Extra arguments: promtool, qemu, openssl. Idempotent; quiet when all is there.
set -euo pipefail
arch=${ARCH:-x86_64}

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
command -v musl-gcc >/dev/null 2>&1 || need_apt+=(musl-tools)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [ "$arch" = aarch64 ]; then
  command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need_apt+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
fi
for extra in "$@"; do
  case "$extra" in
    promtool) command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus) ;;
    qemu) command -v qemu-aarch64 >/dev/null 2>&1 || need_apt+=(qemu-user) ;;
    openssl) command -v openssl >/dev/null 2>&1 || need_apt+=(openssl) ;;
  esac
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "ensure-deps: installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # The Debian package starts a system redis-server on 6379; tests use their own.
  if [[ " ${need_apt[*]} " == *" redis-server "* ]]; then
    (service redis-server stop || systemctl stop redis-server || true) >/dev/null 2>&1
  fi
  # Likewise the prometheus package starts a server; only promtool is wanted.
  if [[ " ${need_apt[*]} " == *" prometheus "* ]]; then
    (service prometheus stop || systemctl stop prometheus || true) >/dev/null 2>&1
  fi
fi
for target in x86_64-unknown-linux-musl "$arch-unknown-linux-musl"; do
  if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    echo "ensure-deps: adding the $target target" >&2
    rustup target add "$target" >/dev/null
  fi
done
