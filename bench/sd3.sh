#!/usr/bin/env bash
# sd3.sh: SD 3.5 at real size (issue 35): random-weight stand-ins of SD 3.5 Medium (and Large, with LARGE=1) from
# set v3's tensor manifests, beside SD 1.5 in the same run. For each precision: SD 1.5 and Medium at 512x512
# (2 steps: s/step, the step's arithmetic rate, the peak memory of each phase), then Medium at 1024x1024 (1 step),
# then Medium at 1024x1024 with --low-memory; Large at 512x512 with --low-memory.
#   bench/sd3.sh            DATA=/work/bench-data (where the random files are written once; ~16 GB, Large ~28 GB)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-/work/bench-data}
BENCH=build/bench/sdref_bench_e2e
MAKE=build/tools/make_random_checkpoint
mkdir -p "$DATA"
[ -f "$DATA/sd15-random.safetensors" ] || "$MAKE" tests/golden/v1/sd15_tensor_manifest.tsv "$DATA/sd15-random.safetensors"
[ -f "$DATA/sd35-medium-random.safetensors" ] || "$MAKE" tests/golden/v3/sd35_medium_tensor_manifest.tsv "$DATA/sd35-medium-random.safetensors"
lscpu | grep -E "Model name|^CPU\(s\)"
echo "threads: $(nproc); command: $0"
for precision in fp32 bf16; do
    echo "=== SD 1.5, 512x512, $precision"; "$BENCH" "$DATA/sd15-random.safetensors" --size 512 --steps 2 --precision "$precision"
    echo "=== SD 3.5 Medium, 512x512, $precision"; "$BENCH" "$DATA/sd35-medium-random.safetensors" --size 512 --steps 2 --precision "$precision"
    echo "=== SD 3.5 Medium, 1024x1024, $precision"; "$BENCH" "$DATA/sd35-medium-random.safetensors" --size 1024 --steps 1 --precision "$precision"
done
echo "=== SD 3.5 Medium, 1024x1024, fp32, --low-memory"; "$BENCH" "$DATA/sd35-medium-random.safetensors" --size 1024 --steps 1 --low-memory
if [ "${LARGE:-0}" = 1 ]; then
    [ -f "$DATA/sd35-large-random.safetensors" ] || "$MAKE" tests/golden/v3/sd35_large_tensor_manifest.tsv "$DATA/sd35-large-random.safetensors"
    echo "=== SD 3.5 Large, 512x512, fp32, --low-memory"; "$BENCH" "$DATA/sd35-large-random.safetensors" --size 512 --steps 1 --low-memory
    echo "=== SD 3.5 Large, 512x512, fp32"; "$BENCH" "$DATA/sd35-large-random.safetensors" --size 512 --steps 1
fi
