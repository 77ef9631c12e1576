#!/bin/bash
# The full-table runs of DESIGN.md "Routes at scale", with real processes on 127.0.0.1: a nats-server
# (free port, temp dir), `dfly control`, 4 `dfly netisr`; then `dfly route load FILE`, verify, kill -9
# of a netisr and of the control (time to ready / serving), and kill -9 of CPU 1 during 1,000 adds.
# Run once by hand after `make build` (not a test: it takes about a minute); every process is stopped at the end.
#   scripts/route-scale.sh [PREFIX_FILE]   (default the shared ipv4-ipv6-prefixes.txt.gz)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# The shared data sits next to the repository (../shared; ../../shared from a worktree).
FILE=${1:-$(ls "$ROOT"/../shared/testdata/ipv4-ipv6-prefixes.txt.gz "$ROOT"/../../shared/testdata/ipv4-ipv6-prefixes.txt.gz 2>/dev/null | head -1)}
DFLY="node $ROOT/services/cli/dist/main.js"
D=$(mktemp -d /tmp/dfly-route-scale-XXXXXX)
port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
NP=$(port); GP=$(port); MP=$(port)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; sleep 1; for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$D"; }
trap cleanup EXIT
nats-server -js -a 127.0.0.1 -p "$NP" -sd "$D/js" > "$D/nats.log" 2>&1 & PIDS+=($!)
sleep 1
export DFLY_NATS_URL=nats://127.0.0.1:$NP DFLY_CONTROL_ADDR=127.0.0.1:$GP DFLY_DRAIN_LINGER_MS=0
startctl() { DFLY_GRPC_HOST=127.0.0.1 DFLY_GRPC_PORT=$GP DFLY_METRICS_PORT=$MP $DFLY control >> "$D/control.log" 2>&1 & CTL=$!; PIDS+=($CTL); }
startcpu() { DFLY_CPU=$1 DFLY_METRICS_HOST=127.0.0.1 DFLY_METRICS_PORT=$((MP + 10 + $1)) $DFLY netisr >> "$D/cpu$1.log" 2>&1 & CPU[$1]=$!; PIDS+=(${CPU[$1]}); }
ready() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((MP + 10 + $1))/readyz"; }
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
startctl; sleep 2
for c in 0 1 2 3; do startcpu $c; done
for c in 0 1 2 3; do until [ "$(ready $c)" = 200 ]; do sleep 0.2; done; done
echo "== route load $FILE"
$DFLY route load "$FILE" --gateway 198.18.1.2
$DFLY route verify | tail -1
echo "== kill -9 netisr 2 holding the table"
kill -9 "${CPU[2]}"; sleep 0.2; t0=$(now); startcpu 2
until [ "$(ready 2)" = 200 ]; do sleep 0.05; done; echo "netisr 2 ready after $(since "$t0") s"; grep loaded "$D/cpu2.log" | tail -1
$DFLY route verify | tail -1
echo "== kill -9 control"
kill -9 "$CTL"; sleep 0.2; t0=$(now); startctl
until [ "$(grep -c 'dfly control: gRPC' "$D/control.log")" = 2 ]; do sleep 0.05; done; echo "control gRPC serving after $(since "$t0") s"
until $DFLY route show --limit 1 > /dev/null 2>&1; do sleep 0.05; done; echo "first route show answered after $(since "$t0") s"
grep "routes from" "$D/control.log" | tail -1
$DFLY route verify | tail -1
echo "== kill -9 CPU 1 during 1,000 route adds"
cat > "$D/adds.mjs" <<JS
import { ControlClient } from "$ROOT/services/control/dist/index.js";
const c = new ControlClient("127.0.0.1:$GP", 30000);
const n = { stored: 0, withPending: 0, failed: 0, byAnswer: {} };
for (let i = 0; i < 1000; i++) {
  try {
    const r = await c.addRoute({ prefix: \`100.\${64 + (i >> 8)}.\${i & 255}.0/24\`, gateway: "198.18.1.2" });
    n.stored++;
    if (r.pendingCpus.length > 0) n.withPending++;
    n.byAnswer[r.status] = (n.byAnswer[r.status] ?? 0) + 1;
  } catch (e) { n.failed++; }
  if (i === 100) console.error("ADD100");
}
console.log(JSON.stringify(n, null, 1));
process.exit(0);
JS
node "$D/adds.mjs" > "$D/adds.json" 2> "$D/adds.err" & APID=$!
until grep -q ADD100 "$D/adds.err"; do sleep 0.05; done
kill -9 "${CPU[1]}"; echo "killed CPU 1 after add 100"; sleep 3; startcpu 1
wait $APID; cat "$D/adds.json"
until [ "$(ready 1)" = 200 ]; do sleep 0.1; done; sleep 2
grep -h "loaded\|kept" "$D/cpu1.log" | tail -1
$DFLY route verify | tail -6
