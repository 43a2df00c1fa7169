#!/usr/bin/env bash
# workers.sh: jobs per minute with 1, 2 and 3 local `sdref worker`s on the demo model, and how long a killed
# worker's job waits before another takes it over (docs/scale-out.md). Starts its own redis-server on a free
# loopback port.   bench/workers.sh [JOBS]     (default 60; SDREF=build/sdref; CLAIM_IDLE=5000 ms)
set -euo pipefail
cd "$(dirname "$0")/.."
SDREF=${SDREF:-build/sdref}
JOBS=${1:-60}
CLAIM_IDLE=${CLAIM_IDLE:-5000}
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DIR=$(mktemp -d /tmp/sdref-workers.XXXXXX)
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" > "$DIR/redis.log" 2>&1 &
REDIS=$!
PIDS=()
trap 'kill "${PIDS[@]}" "$REDIS" 2>/dev/null || true; rm -rf "$DIR"' EXIT
R() { redis-cli -p "$PORT" "$@"; }
until R ping > /dev/null 2>&1; do sleep 0.1; done
URL=redis://127.0.0.1:$PORT

pending() { R xpending sdref:jobs sdref | head -1; }
lag() { R xinfo groups sdref:jobs | awk '/^lag$/ { getline; print }'; }
start_workers() {  # N
    PIDS=()
    for i in $(seq "$1"); do
        "$SDREF" worker --redis "$URL" --consumer "w$i" --claim-idle "$CLAIM_IDLE" --threads "$((2 / $1 > 0 ? 2 / $1 : 1))" 2> "$DIR/w$i.log" &
        PIDS+=($!)
    done
}
echo "$(nproc) cores, $JOBS demo-model jobs (the command's defaults: 20 steps, 64x64), claim idle $CLAIM_IDLE ms"
for n in 1 2 3; do
    R del sdref:jobs > /dev/null
    R xgroup create sdref:jobs sdref 0 mkstream > /dev/null
    for i in $(seq "$JOBS"); do R xadd sdref:jobs '*' job "{\"prompt\": \"a red circle\", \"seed\": $i, \"sdref_defaults\": \"command\"}" > /dev/null; done
    start=$(date +%s.%N)
    start_workers "$n"
    until [ "$(lag)" = 0 ] && [ "$(pending)" = 0 ]; do sleep 0.05; done
    end=$(date +%s.%N)
    kill "${PIDS[@]}"; wait "${PIDS[@]}" 2>/dev/null || true
    printf '%d worker(s): %d jobs in %.1f s: %.0f jobs/minute\n' "$n" "$JOBS" "$(echo "$end - $start" | bc)" "$(echo "$JOBS * 60 / ($end - $start)" | bc -l)"
done
# take-over: two workers, one killed while it holds a job; the time until that job is done by the other
R del sdref:jobs > /dev/null
R xgroup create sdref:jobs sdref 0 mkstream > /dev/null
for i in $(seq 20); do R xadd sdref:jobs '*' job "{\"prompt\": \"a blue square\", \"seed\": $i, \"steps\": 40, \"sdref_defaults\": \"command\"}" > /dev/null; done
start_workers 2
until [ -n "$(R xpending sdref:jobs sdref - + 1 w1 | head -1)" ]; do sleep 0.02; done
job=$(R xpending sdref:jobs sdref - + 1 w1 | head -1)
kill -9 "${PIDS[0]}"
killed=$(date +%s.%N)
until [ "$(R hget "sdref:jobs:result:$job" state)" = done ]; do sleep 0.02; done
printf 'a killed worker'"'"'s job done by %s %.1f s after the kill (claim idle %.1f s)\n' "$(R hget "sdref:jobs:result:$job" worker)" \
    "$(echo "$(date +%s.%N) - $killed" | bc)" "$(echo "$CLAIM_IDLE / 1000" | bc -l)"
