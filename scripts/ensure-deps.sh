#!/usr/bin/env bash
# Installs what the build and the tests need, when missing: redis-server and
# redis-cli, musl-tools, and the Rust musl target. Idempotent; quiet when all is there.
set -euo pipefail

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
command -v musl-gcc >/dev/null 2>&1 || need_apt+=(musl-tools)
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
fi
if ! rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
  echo "ensure-deps: adding the x86_64-unknown-linux-musl target" >&2
  rustup target add x86_64-unknown-linux-musl >/dev/null
fi
