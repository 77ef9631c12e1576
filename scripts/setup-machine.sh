#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages, when missing. Idempotent.
# Needs root (CI and these machines run as root).
set -euo pipefail
need=()
command -v tshark >/dev/null || need+=(tshark)
command -v nats-server >/dev/null || need+=(nats-server)
command -v prometheus >/dev/null || need+=(prometheus)
command -v ip >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "setup-machine: need root to install ${need[*]}" >&2; exit 1; }
  # Never start services from package postinst scripts (there is no init system here).
  [ -e /usr/sbin/policy-rc.d ] || printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "setup-machine: tshark nats-server prometheus iproute2 present"
