#!/usr/bin/env bash
# Static musl release build of the orchestrator into bin/sett-orchestrator.
set -euo pipefail
arch=${1:-x86_64}
target="$arch-unknown-linux-musl"
if [ "$arch" != x86_64 ]; then
  rustup target list --installed | grep -qx "$target" || rustup target add "$target" >/dev/null
fi
cargo build --release --locked -p sett-orchestrator --target "$target"
mkdir -p bin
out=bin/sett-orchestrator
[ "$arch" = x86_64 ] || out="bin/sett-orchestrator-$arch"
# A temporary file renamed over the old one: no `Text file busy` while it runs.
scripts/install-bin.sh "target/$target/release/sett-orchestrator" "$out"
echo "built $out ($(stat -c %s "$out") bytes, $arch static)"
