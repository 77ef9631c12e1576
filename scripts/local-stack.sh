#!/usr/bin/env bash
# `make up` / `make down`: the whole system as containers on this machine, the way the chart runs it —
# the project's image (dfly-netstack:dev) for control, the NIC and N netisr CPUs (read-only root fs,
# uid 1000, tmpfs /tmp), NATS with JetStream, and Prometheus (deploy/prometheus with its netisr job
# scraping exactly the CPUs started, written to $DFLY_LOCAL_STATE_DIR/prometheus; the generated rules).
# Host networking, everything on 127.0.0.1.
#
# Usage: scripts/local-stack.sh up|down|status   (LOAD=pktgen,replay,http-short scripts/local-stack.sh up: with load)
#        scripts/local-stack.sh prometheus-config DIR   (writes the Prometheus config for DFLY_LOCAL_CPUS CPUs to DIR)
# Env: DFLY_LOCAL_CPUS (2, 1..64; netisr CPU c serves metrics on 9464 + c) · DFLY_IMAGE (dfly-netstack:dev) ·
#      DFLY_LOCAL_NATS_PORT (4222) · DFLY_LOCAL_NATS_MONITOR_PORT (8222) · DFLY_LOCAL_GRPC_PORT (50051) · DFLY_LOCAL_PROM_PORT (9090) ·
#      DFLY_NIC_MODE (interrupt) · DFLY_NIC_MODEL (82599) · DFLY_NIC_RINGS (the model's) ·
#      DFLY_LOCAL_STATE_DIR (.dfly/local-stack) ·
#      LOAD (none; pktgen, replay, http-short, or several comma-separated: a load container each, running the
#      image's dfly pktgen|replay|load on the stack's wire) · DFLY_LOAD_RATE (2000 pps) · DFLY_LOAD_DURATION (1h;
#      the container starts again after it) · DFLY_LOAD_CLIENTS (8, http-short)
#        scripts/local-stack.sh load-args KIND   (prints the dfly command line a load container runs)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
image=${DFLY_IMAGE:-dfly-netstack:dev}
cpus=${DFLY_LOCAL_CPUS:-2}
nats_port=${DFLY_LOCAL_NATS_PORT:-4222}
nats_monitor_port=${DFLY_LOCAL_NATS_MONITOR_PORT:-8222}
grpc_port=${DFLY_LOCAL_GRPC_PORT:-50051}
prom_port=${DFLY_LOCAL_PROM_PORT:-9090}
state_dir=${DFLY_LOCAL_STATE_DIR:-$root/.dfly/local-stack}
cluster=dfly
label=dfly-netstack.local=1

check_cpus() {
  [[ "$cpus" =~ ^[0-9]+$ ]] && [ "$cpus" -ge 1 ] && [ "$cpus" -le 64 ] || { echo "local-stack: DFLY_LOCAL_CPUS=$cpus: want 1..64" >&2; exit 2; }
}

# prometheus_config DIR: deploy/prometheus/prometheus.yml and rules.yml, the dfly-netisr job's targets
# being the CPUs this script starts (127.0.0.1:9464 + cpu for cpu < DFLY_LOCAL_CPUS), not the 16 fixed ones.
prometheus_config() {
  local dir=$1
  mkdir -p "$dir"
  cp "$root/deploy/prometheus/rules.yml" "$dir/rules.yml"
  node --input-type=module - "$root" "$dir/prometheus.yml" "$cpus" <<'JS'
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
const [root, out, cpus] = process.argv.slice(2);
const { parseDocument } = createRequire(`${root}/package.json`)("yaml");
const doc = parseDocument(readFileSync(`${root}/deploy/prometheus/prometheus.yml`, "utf8"));
const jobs = doc.get("scrape_configs");
const netisr = jobs.items.find((j) => j.get("job_name") === "dfly-netisr");
if (!netisr) throw new Error("deploy/prometheus/prometheus.yml has no dfly-netisr job");
const targets = Array.from({ length: Number(cpus) }, (_, c) => `127.0.0.1:${9464 + c}`);
netisr.setIn(["static_configs", 0, "targets"], doc.createNode(targets, { flow: true }));
netisr.commentBefore = ` The ${cpus} netisr CPUs scripts/local-stack.sh started (generated from deploy/prometheus/prometheus.yml).`;
writeFileSync(out, doc.toString({ lineWidth: 0 }));
JS
}

load_kinds=${LOAD:-}
load_rate=${DFLY_LOAD_RATE:-2000}
load_duration=${DFLY_LOAD_DURATION:-1h}
load_clients=${DFLY_LOAD_CLIENTS:-8}

check_load() {
  local k
  for k in ${load_kinds//,/ }; do
    case "$k" in pktgen | replay | http-short) ;; *) echo "local-stack: LOAD=$load_kinds: \"$k\" is not pktgen, replay or http-short" >&2; exit 2 ;; esac
  done
}

# load_args KIND: the dfly command line of a load container (the CLI checks the values, one line, exit 1).
load_args() {
  case "$1" in
    pktgen) echo "pktgen --routes --rate $load_rate --flows 256 --size 64,512,1400 --duration $load_duration --progress" ;;
    replay) echo "replay /usr/share/dfly/http_espn.pcapng --pps $load_rate --loop --duration $load_duration --progress" ;;
    http-short) echo "load http-short --clients $load_clients --duration $load_duration --progress" ;;
    *) echo "local-stack: load kind \"$1\": want pktgen, replay or http-short" >&2; exit 2 ;;
  esac
}

names() { docker ps -a --filter "label=$label" --format '{{.Names}}'; }

wait_http() { # wait_http URL NAME
  for _ in $(seq 1 150); do
    if curl -sf -o /dev/null "$1" 2>/dev/null || node -e "fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  echo "local-stack: $2 not ready at $1; its log:" >&2
  docker logs --tail 30 "$2" >&2 || true
  return 1
}

run_service() { # run_service NAME KIND METRICS_PORT ENV...
  local name=$1 kind=$2 port=$3; shift 3
  local envs=()
  for e in "$@"; do envs+=(-e "$e"); done
  docker run -d --name "$name" --label "$label" --network host --read-only --tmpfs /tmp:rw,size=64m \
    -e DFLY_CLUSTER=$cluster -e DFLY_NATS_URL="nats://127.0.0.1:$nats_port" -e DFLY_CONTROL_ADDR="127.0.0.1:$grpc_port" \
    -e DFLY_METRICS_HOST=127.0.0.1 -e DFLY_METRICS_PORT="$port" "${envs[@]}" "$image" "$kind" >/dev/null
}

up() {
  check_cpus
  check_load
  [ -z "$(names)" ] || { echo "local-stack: already up ($(names | tr '\n' ' ')); make down first" >&2; exit 1; }
  docker image inspect "$image" >/dev/null 2>&1 || { echo "local-stack: no image $image: run make images" >&2; exit 1; }
  bash "$root/scripts/build-base-images.sh" nats prometheus >/dev/null
  local t0=$SECONDS
  docker run -d --name dfly-local-nats --label "$label" --network host nats:2.9 \
    -a 127.0.0.1 -p "$nats_port" -m "$nats_monitor_port" -js -sd /tmp/nats-js -n dfly-local >/dev/null
  wait_http "http://127.0.0.1:$nats_monitor_port/healthz" dfly-local-nats
  run_service dfly-local-control control 9463 DFLY_GRPC_HOST=127.0.0.1 DFLY_GRPC_PORT="$grpc_port"
  wait_http "http://127.0.0.1:9463/readyz" dfly-local-control
  run_service dfly-local-nic nic 9462 DFLY_IFNAME=ix0,ix1 DFLY_NIC_MODEL="${DFLY_NIC_MODEL:-82599}" \
    DFLY_NIC_MODE="${DFLY_NIC_MODE:-interrupt}" ${DFLY_NIC_RINGS:+DFLY_NIC_RINGS=$DFLY_NIC_RINGS}
  for ((c = 0; c < cpus; c++)); do
    # As in the chart's StatefulSet: the CPU id, and POD_NAME with the ordinal.
    # The local Prometheus scrapes every 5 s: a leaving CPU lingers 6 s for its last scrape
    # (inside `docker stop -t 10`).
    run_service "dfly-local-netisr-$c" netisr $((9464 + c)) DFLY_CPU=$c POD_NAME="dfly-netisr-$c" POD_IP=127.0.0.1 \
      DFLY_NIC_MODE="${DFLY_NIC_MODE:-interrupt}" DFLY_DRAIN_LINGER_MS="${DFLY_DRAIN_LINGER_MS:-6000}"
  done
  for ((c = 0; c < cpus; c++)); do wait_http "http://127.0.0.1:$((9464 + c))/readyz" "dfly-local-netisr-$c"; done
  wait_http "http://127.0.0.1:9462/readyz" dfly-local-nic
  prometheus_config "$state_dir/prometheus"
  docker run -d --name dfly-local-prometheus --label "$label" --network host --read-only \
    --tmpfs /prometheus:rw,size=256m,uid=65534 -v "$state_dir/prometheus:/etc/prometheus:ro" prom/prometheus:v2.42.0 \
    --config.file=/etc/prometheus/prometheus.yml --storage.tsdb.path=/prometheus \
    --web.listen-address="127.0.0.1:$prom_port" --web.enable-lifecycle >/dev/null
  wait_http "http://127.0.0.1:$prom_port/-/ready" dfly-local-prometheus
  local k
  for k in ${load_kinds//,/ }; do
    # Host network like the rest; it exits 0 after DFLY_LOAD_DURATION and docker starts it again.
    # shellcheck disable=SC2046
    docker run -d --name "dfly-local-load-$k" --label "$label" --network host --read-only --tmpfs /tmp:rw,size=64m \
      --restart unless-stopped -e DFLY_CLUSTER=$cluster -e DFLY_NATS_URL="nats://127.0.0.1:$nats_port" \
      -e DFLY_CONTROL_ADDR="127.0.0.1:$grpc_port" "$image" $(load_args "$k") >/dev/null
  done
  echo "local-stack: up in $((SECONDS - t0)) s: NATS 127.0.0.1:$nats_port, control 127.0.0.1:$grpc_port, NIC ix0+ix1, $cpus netisr CPUs, Prometheus http://127.0.0.1:$prom_port"
  echo "  export DFLY_CONTROL_ADDR=127.0.0.1:$grpc_port DFLY_NATS_URL=nats://127.0.0.1:$nats_port"
  echo "  npx dfly route add 10.0.0.0/8 198.18.0.2; npx dfly route verify; npx dfly netstat -s --per-cpu"
  echo "  Grafana: deploy/grafana/ (dashboards/dfly-netstack.json, provisioning for this Prometheus)"
  if [ -n "$load_kinds" ]; then
    echo "  load: ${load_kinds//,/, } running (docker logs -f dfly-local-load-<kind>: a progress line a second); make down stops it"
  else
    echo "  load (with the export above; each stops after --duration, or Ctrl-C):"
    echo "    npx dfly pktgen --routes --rate 2000 --duration 10m"
    echo "    npx dfly replay test/fixtures/http_espn.pcapng --pps 1000 --loop --duration 10m"
    echo "    npx dfly load http-short --clients 8 --duration 10m"
    echo "  or as containers: LOAD=pktgen,http-short make up"
  fi
}

down() {
  local n
  n=$(names)
  if [ -z "$n" ]; then echo "local-stack: nothing is up"; return 0; fi
  # The load first (it stops at once on SIGTERM), then the netisr CPUs (they deregister), then the rest.
  # shellcheck disable=SC2086
  docker stop -t 5 $(echo "$n" | grep -- -load- || true) >/dev/null 2>&1 || true
  # netisr CPUs first (they deregister), then the rest.
  # shellcheck disable=SC2086
  docker stop -t 10 $(echo "$n" | grep netisr || true) >/dev/null 2>&1 || true
  # shellcheck disable=SC2086
  docker rm -f $n >/dev/null
  echo "local-stack: removed $(echo "$n" | tr '\n' ' ')"
}

status() {
  docker ps -a --filter "label=$label" --format 'table {{.Names}}\t{{.Status}}'
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  load-args) [ -n "${2:-}" ] || { echo "usage: $0 load-args pktgen|replay|http-short" >&2; exit 2; }; load_args "$2" ;;
  prometheus-config) [ -n "${2:-}" ] || { echo "usage: $0 prometheus-config DIR" >&2; exit 2; }; check_cpus; prometheus_config "$2" ;;
  *) echo "usage: $0 up|down|status|prometheus-config DIR|load-args KIND" >&2; exit 2 ;;
esac
