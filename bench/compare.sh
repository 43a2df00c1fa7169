#!/usr/bin/env bash
# compare.sh: sdref and its peers on the same checkpoint, size, steps, seed and threads, in one run, interleaved.
#
#   bench/compare.sh [--sdcpp PATH/TO/sd-cli] [--torch] [--model FILE] [--size 512] [--steps 2] [--threads 2]
#                    [--rounds 2] [--sdref build/sdref]
#
# Builds nothing: give it a peer's binary (stable-diffusion.cpp's sd-cli) and, with --torch, it runs PyTorch with
# diffusers when python3 can import both. Without --model it uses /tmp/sd15-random.safetensors, made from SD 1.5's
# tensor manifest by build/tools/make_random_checkpoint if absent (random weights: speed does not depend on them).
# Runs, each round in this order so that a change in the machine's load hits them all alike: sdref fp32, sdref
# --precision bf16 (where the CPU has AVX512_BF16), sdref --low-memory, sd-cli, PyTorch. Each is a whole
# txt2img (Euler a, CFG 7, 512x512 by default); the table gives the median over rounds of seconds per sampling
# step (two U-Net calls with classifier-free guidance), the VAE decode and the peak resident memory (/usr/bin/time),
# each with its ratio to sdref fp32.
set -euo pipefail
cd "$(dirname "$0")/.."

sdcpp="" torch=0 model="" size=512 steps=2 threads=2 rounds=2 sdref=build/sdref
while [ $# -gt 0 ]; do
    case "$1" in
        --sdcpp) sdcpp="$2"; shift 2 ;;
        --torch) torch=1; shift ;;
        --model) model="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --sdref) sdref="$2"; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
for n in "$size" "$steps" "$threads" "$rounds"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: --size, --steps, --threads, --rounds take positive integers, got '$n'" >&2; exit 2; }
done
[ -x "$sdref" ] || { echo "compare.sh: $sdref: not built (cmake --build build)" >&2; exit 2; }
[ -z "$sdcpp" ] || [ -x "$sdcpp" ] || { echo "compare.sh: --sdcpp $sdcpp: not an executable" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "compare.sh: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; }
if [ -z "$model" ]; then
    model=/tmp/sd15-random.safetensors
    if [ ! -f "$model" ]; then
        [ -x build/tools/make_random_checkpoint ] || { echo "compare.sh: no --model and no build/tools/make_random_checkpoint" >&2; exit 2; }
        build/tools/make_random_checkpoint tests/golden/v1/sd15_tensor_manifest.tsv "$model"
    fi
fi
[ -f "$model" ] || { echo "compare.sh: --model $model: no such file" >&2; exit 2; }
if [ "$torch" = 1 ] && ! python3 -c "import torch, diffusers" 2>/dev/null; then
    echo "compare.sh: --torch: python3 cannot import torch and diffusers; PyTorch is left out" >&2
    torch=0
fi

prompt="a photograph of an astronaut riding a horse"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Each run writes its whole output to $work/log; /usr/bin/time writes the peak resident set (KB) to $work/peak.
timed() { /usr/bin/time -f "%M" -o "$work/peak" "$@" > "$work/log" 2>&1 || true; }
common=(-p "$prompt" -W "$size" -H "$size" --steps "$steps" --cfg-scale 7 -s 42 --sampling-method euler_a -t "$threads")
run_sdref() {  # extra sdref flags; sdref -v: "... (N U-Net steps, X s/step), VAE decode Y s, ..."
    timed "$sdref" -m "$model" "${common[@]}" --no-safety-checker -o "$work/sdref.png" -v "$@"
    sed -n 's/.*U-Net steps, \([0-9.]*\) s\/step), VAE decode \([0-9.]*\) s.*/\1 \2/p' "$work/log" | tail -1
}
run_sdcpp() {  # sd-cli: "sampling completed, taking Xs", "decode_first_stage completed, taking Ys"
    timed "$sdcpp" -m "$model" "${common[@]}" -o "$work/sdcpp.png"
    awk -v steps="$steps" '
        /sampling completed, taking/ { for (i = 1; i < NF; ++i) if ($i == "taking") { v = $(i + 1); sub("s", "", v); step = v / steps } }
        /decode_first_stage completed, taking/ { for (i = 1; i < NF; ++i) if ($i == "taking") { v = $(i + 1); sub("s", "", v); decode = v } }
        END { if (step != "" && decode != "") print step, decode }' "$work/log"
}
run_torch() {
    timed python3 - "$model" "$prompt" "$size" "$steps" "$threads" <<'PY'
import sys, time, torch
from diffusers import StableDiffusionPipeline, EulerAncestralDiscreteScheduler
model, prompt, size, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
pipe = StableDiffusionPipeline.from_single_file(model, torch_dtype=torch.float32, safety_checker=None)
pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
stamps = []
def on_step(p, i, t, kw):
    stamps.append(time.perf_counter())
    return kw
with torch.inference_mode():
    start = time.perf_counter()
    latents = pipe(prompt, height=size, width=size, num_inference_steps=steps, guidance_scale=7.0, output_type="latent",
                   generator=torch.Generator().manual_seed(42), callback_on_step_end=on_step).images
    t0 = time.perf_counter()
    pipe.vae.decode(latents / pipe.vae.config.scaling_factor)
    decode = time.perf_counter() - t0
print("TIMES", (stamps[-1] - start) / len(stamps), decode)
PY
    sed -n 's/^TIMES //p' "$work/log" | tail -1
}

runners=("sdref fp32")
if grep -q avx512_bf16 /proc/cpuinfo 2>/dev/null; then runners+=("sdref bf16"); fi
runners+=("sdref --low-memory")
[ -n "$sdcpp" ] && runners+=("stable-diffusion.cpp")
[ "$torch" = 1 ] && runners+=("PyTorch + diffusers")

echo "model $model, ${size}x${size}, $steps steps (Euler a, CFG), $threads threads, $rounds rounds; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for round in $(seq "$rounds"); do
    for i in "${!runners[@]}"; do
        name=${runners[$i]}
        case "$name" in
            "sdref fp32") line=$(run_sdref) ;;
            "sdref bf16") line=$(run_sdref --precision bf16) ;;
            "sdref --low-memory") line=$(run_sdref --low-memory) ;;
            "stable-diffusion.cpp") line=$(run_sdcpp) ;;
            *) line=$(run_torch) ;;
        esac
        peak=$(awk 'END { print $1 / 1024 }' "$work/peak" 2>/dev/null || echo 0)
        if [ -z "$line" ]; then echo "  round $round: $name failed, no timing in its output:" >&2; tail -5 "$work/log" >&2; continue; fi
        set -- $line
        echo "$i STEP $1 DECODE $2 PEAK $peak" >> "$work/results"
        echo "  round $round: $name: $1 s/step, decode $2 s, peak $peak MB"
    done
done

echo
printf "| %-22s | %8s | %8s | %10s | %13s | %12s | %11s |\n" run "s/step" decode "peak MB" "step / sdref" "decode / sdref" "peak / sdref"
printf "|%s|%s|%s|%s|%s|%s|%s|\n" ------------------------ ---------- ---------- ------------ --------------- -------------- -------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v i="$1" -v c="$2" '$1 == i { print $c }' "$work/results" | median; }
base_step=$(col 0 3) base_decode=$(col 0 5) base_peak=$(col 0 7)
for i in "${!runners[@]}"; do
    step=$(col "$i" 3) decode=$(col "$i" 5) peak=$(col "$i" 7)
    [ -n "$step" ] || continue
    ratio() { [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' || echo "-"; }
    printf "| %-22s | %8.2f | %8.2f | %10.0f | %13s | %14s | %12s |\n" "${runners[$i]}" "$step" "$decode" "$peak" \
        "$(ratio "$step" "$base_step")" "$(ratio "$decode" "$base_decode")" "$(ratio "$peak" "$base_peak")"
done
