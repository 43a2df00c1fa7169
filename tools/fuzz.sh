#!/usr/bin/env bash
# make fuzz: build the libFuzzer harnesses (tests/fuzz/) with clang, ASan and UBSan, and run each for
# FUZZ_SECONDS (default 30) from its seed corpus in tests/fuzz/corpus/. The growing corpus and any crash
# reproducer stay in build-fuzz/; a crash fails the run. Prints the executions each harness reached.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-30}
build=${FUZZ_BUILD:-build-fuzz}
harnesses=(${FUZZ_HARNESSES:-safetensors json prompt image pytorch api})

tools/install-deps.sh fuzz
CC=clang CXX=clang++ cmake -S tests/fuzz -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$build" -j "$(nproc)" > /dev/null

status=0
for h in "${harnesses[@]}"; do
  corpus="$build/corpus/$h"
  mkdir -p "$corpus" "$build/artifacts/$h"
  cp -n tests/fuzz/corpus/"$h"/* "$corpus"/ 2>/dev/null || true
  log="$build/$h.log"
  if "$build/fuzz_$h" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -max_len=65536 \
      -artifact_prefix="$build/artifacts/$h/" "$corpus" > "$log" 2>&1; then
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz $h: ${seconds} s, $execs executions, no crash"
  else
    echo "fuzz $h: CRASH (reproducer in $build/artifacts/$h/)"
    grep -m 20 -E 'ERROR|SUMMARY|#[0-9]+ 0x' "$log" || tail -20 "$log"
    status=1
  fi
done
exit $status
