#!/usr/bin/env bash
# make docker-orchestrator: scratch.Dockerfile -> IMAGE:latest and IMAGE:VERSION,
# from the prebuilt static binary in bin/ (no registry, no builder image).
# Usage: scripts/docker-build.sh [IMAGE] [VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-sett-orchestrator}
version=${2:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)}
bin=bin/sett-orchestrator
if ! command -v docker >/dev/null 2>&1; then
  echo "docker-build: docker is not installed" >&2
  exit 1
fi
[ -x "$bin" ] || { echo "docker-build: $bin is missing (make build-orchestrator)" >&2; exit 1; }
# A dynamically linked binary would not start in an empty image.
if command -v file >/dev/null 2>&1 && ! file -L "$bin" | grep -Eq 'statically linked|static-pie linked'; then
  echo "docker-build: $bin is not statically linked: $(file -L "$bin")" >&2
  exit 1
fi
# The source label only when there is a real repository address (the origin remote).
labels=()
source=$(scripts/oci-source.sh)
[ -z "$source" ] || labels=(--label "org.opencontainers.image.source=$source")
# The context is just the Dockerfile and the binary (not target/, which is gigabytes).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The legacy builder (this Docker has no buildx) prints a deprecation notice:
# show the builder's output only when the build fails.
if ! tar -c scratch.Dockerfile "$bin" |
  docker build -f scratch.Dockerfile --build-arg "VERSION=$version" "${labels[@]}" \
    -t "$image:latest" -t "$image:$version" - >"$log" 2>&1; then
  cat "$log" >&2
  echo "docker-build: docker build failed" >&2
  exit 1
fi
size=$(docker image inspect -f '{{.Size}}' "$image:latest")
echo "built $image:latest and $image:$version ($size bytes; source label: ${source:-none, no origin remote})"
