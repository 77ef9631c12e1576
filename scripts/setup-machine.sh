#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages, when missing. Idempotent.
# Needs root (CI and these machines run as root).
set -euo pipefail
need=()
command -v tshark >/dev/null || need+=(tshark)
command -v nats-server >/dev/null || need+=(nats-server)
command -v prometheus >/dev/null || need+=(prometheus)
command -v ip >/dev/null || need+=(iproute2)
# Real Linux peers over TUN (test/integration/tun, dfly bench tun): socat opens the TUN device,
# curl, ab, nginx are the real clients and server; setpriv (util-linux) ties socat to dfly.
command -v socat >/dev/null || need+=(socat)
command -v curl >/dev/null || need+=(curl)
command -v ab >/dev/null || need+=(apache2-utils)
command -v nginx >/dev/null || need+=(nginx-light)
command -v setpriv >/dev/null || need+=(util-linux)
# ping -s 4000 from Linux: the reassembly test (test/integration/tun/reass.test.ts).
command -v ping >/dev/null || need+=(iputils-ping)
command -v dockerd >/dev/null || need+=(docker.io)
# gcc + libc headers: `dfly bench core` compiles its C Toeplitz baseline (test/bench/toeplitz_ref.c).
{ command -v gcc >/dev/null && [ -e /usr/include/stdio.h ]; } || need+=(gcc libc6-dev)
# A real browser for the `dfly experiment report` test (report.html loads headless, screenshot).
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "setup-machine: need root to install ${need[*]}" >&2; exit 1; }
  # Never start services from package postinst scripts (there is no init system here).
  [ -e /usr/sbin/policy-rc.d ] || printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "setup-machine: tshark nats-server prometheus iproute2 socat curl apache2-utils nginx-light docker.io gcc chromium present"

# A Docker engine for the testcontainers tests and `make images`. No init system here: start dockerd
# in the background when no engine answers. --bridge=none/--iptables=false: containers use host
# networking only (the project's network rule: traffic to 127.0.0.0/8), and nothing touches iptables.
if ! docker info >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "setup-machine: no Docker engine answers and starting dockerd needs root" >&2; exit 1; }
  log=${DFLY_DOCKERD_LOG:-/var/log/dfly-dockerd.log}
  echo "setup-machine: starting dockerd (log: $log)"
  # setsid: its own session, so killing the job that ran this script does not take the engine down.
  setsid nohup dockerd --bridge=none --iptables=false >>"$log" 2>&1 </dev/null &
  for _ in $(seq 1 150); do
    docker info >/dev/null 2>&1 && break
    sleep 0.2
  done
  docker info >/dev/null 2>&1 || { echo "setup-machine: dockerd did not answer within 30 s; see $log" >&2; tail -20 "$log" >&2; exit 1; }
fi
echo "setup-machine: docker engine $(docker version --format '{{.Server.Version}}' 2>/dev/null) answers"

# Local stand-ins for the base images (node:22-bookworm-slim, nats:2.9, prom/prometheus): no registry
# is reachable, so they are built from local files. Idempotent (existing tags are kept).
bash "$(dirname "$0")/build-base-images.sh"
