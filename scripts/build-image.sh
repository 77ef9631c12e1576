#!/usr/bin/env bash
# `make images`: the local base-image stand-ins (no pull), then the project's one image for every
# service, dfly-netstack:dev (override with DFLY_IMAGE). Plain `docker build` (the legacy builder: this
# machine has no buildx). --network host: the build's `npm ci` reaches the npm registry the way the host
# does (dockerd runs with --bridge=none); NODE_EXTRA_CA_CERTS is passed through when the host sets it.
# Usage: scripts/build-image.sh [--context DIR]   (default: the repository root)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ctx=$root
[ "${1:-}" = --context ] && ctx=$2
tag=${DFLY_IMAGE:-dfly-netstack:dev}
docker info >/dev/null 2>&1 || bash "$root/scripts/setup-machine.sh"
bash "$root/scripts/build-base-images.sh"
t0=$(date +%s%N)
log=$(mktemp); trap 'rm -f "$log"' EXIT
if ! DOCKER_BUILDKIT=0 docker build --force-rm --network host --build-arg NODE_EXTRA_CA_CERTS \
    -f "$ctx/deploy/Dockerfile" -t "$tag" "$ctx" >"$log" 2>&1; then
  cat "$log" >&2; echo "build-image: docker build failed" >&2; exit 1
fi
grep -E '^Step |^Successfully' "$log" | tail -3
awk -v t0="$t0" -v t1="$(date +%s%N)" -v tag="$tag" -v size="$(docker image inspect -f '{{.Size}}' "$tag")" \
  'BEGIN { printf "build-image: %s in %.1f s, %.0f MB\n", tag, (t1 - t0) / 1e9, size / 1e6 }'
