#!/usr/bin/env bash
# shared-machine.sh: how a generation fares beside another busy process (issue 34's "threads that share the
# machine"). Times the demo generation (or the sdref arguments given) RUNS times alone, then RUNS times beside one
# busy-looping process, and prints the median of each and their ratio. Deterministic output either way: the
# picture's bits do not depend on how the threads were scheduled (checked: the two runs' files must be equal).
#   bench/shared-machine.sh [sdref arguments...]        RUNS=5 SDREF=build/sdref
set -euo pipefail
cd "$(dirname "$0")/.."
SDREF=${SDREF:-build/sdref}
RUNS=${RUNS:-5}
ARGS=("$@")
[ ${#ARGS[@]} -gt 0 ] || ARGS=(-p "a red house on a hill" --seed 1)
OUT=$(mktemp -d /tmp/sdref-shared.XXXXXX)
trap 'rm -rf "$OUT"; [ -n "${BUSY:-}" ] && kill "$BUSY" 2>/dev/null || true' EXIT

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
time_runs() {  # NAME: RUNS timed generations, writing $OUT/NAME.png
    for _ in $(seq "$RUNS"); do
        local start end
        start=$(date +%s.%N)
        "$SDREF" "${ARGS[@]}" -o "$OUT/$1.png" > /dev/null 2>&1
        end=$(date +%s.%N)
        echo "$end - $start" | bc
    done | median
}

alone=$(time_runs alone)
( while :; do :; done ) & BUSY=$!
busy=$(time_runs busy)
kill "$BUSY"; BUSY=
cmp -s "$OUT/alone.png" "$OUT/busy.png" || { echo "shared-machine.sh: the pictures differ" >&2; exit 1; }
echo "$(nproc) cores, sdref ${ARGS[*]}"
printf 'alone %.2f s, beside one busy process %.2f s: %.2fx\n' "$alone" "$busy" "$(echo "$busy / $alone" | bc -l)"
