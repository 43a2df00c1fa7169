#!/usr/bin/env bash
# output-hashes.sh: the SHA-256 of a fixed set of sdref's outputs, one "hash  name" line each, sorted by name.
#
# A refactoring that must not change behaviour records these before it starts and compares after:
#   tools/output-hashes.sh > /tmp/before.txt   ...change the code, rebuild...
#   tools/output-hashes.sh > /tmp/after.txt && diff /tmp/before.txt /tmp/after.txt
# The set: every pipeline golden's final latents and picture as generate() makes them (the [pipeline] tests,
# with SDREF_RECORD_OUTPUTS), the sdref command once per mode (txt2img with several samplers, img2img,
# inpainting with both kinds of model, outpainting, Safe Latent Diffusion, the hires fix, ControlNet, LoRA, a
# textual inversion, a hypernetwork, SDXL with its refiner, SD 2.x v-prediction, --low-memory, --vae-tiling, a
# batch, bf16 where the CPU has it) and the server's txt2img. Hashes depend on the CPU's micro-kernel (an fp32
# GEMM sums in the same order on every ISA, but bf16 and the exp's last bits do not): compare runs on one machine.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SDREF=$BUILD/sdref
G1=${SDREF_GOLDEN:-tests/golden/v1}
G2=${SDREF_GOLDEN_V2:-tests/golden/v2}
OUT=$(mktemp -d /tmp/sdref-hashes.XXXXXX)
trap 'rm -rf "$OUT"; [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null || true' EXIT

# 1. the pipeline goldens, as generate() makes them
SDREF_RECORD_OUTPUTS=$OUT "$BUILD/tests/sdref_tests" "[pipeline]" > "$OUT/tests.log" 2>&1 || { cat "$OUT/tests.log" >&2; exit 1; }

# 2. the command, once per mode
run() {  # NAME ARGS...: sdref ARGS -o $OUT/NAME.png
    local name=$1; shift
    "$SDREF" "$@" -o "$OUT/cli-$name.png" > "$OUT/cli-$name.log" 2>&1 || { echo "output-hashes.sh: $name failed:" >&2; cat "$OUT/cli-$name.log" >&2; exit 1; }
}
SD1=$G1/tiny-sd1.safetensors
run demo -p "a yellow star on a green background"
run demo-batch -p "a red circle" -b 2 --seed 7
for s in euler_a euler ddim dpm++2m heun lms unipc; do
    run "sd1-$s" -m "$SD1" -p "a cat" -n "blurry" -W 64 -H 64 --steps 4 --sampling-method "$s" --seed 11
done
run sd1-karras -m "$SD1" -p "a cat" -W 64 -H 64 --steps 4 --sampling-method dpm++2m --scheduler karras --clip-skip 2
run sd1-cfg1 -m "$SD1" -p "a cat" -W 64 -H 64 --steps 3 --cfg-scale 1
run sd1-weighted -m "$SD1" -p "a (red:1.3) cat BREAK [dog]" -W 64 -H 64 --steps 3
"$SDREF" -m "$SD1" -p "an init picture" -W 64 -H 64 --steps 3 --seed 3 -o "$OUT/init.png" > /dev/null 2>&1
python3 - "$OUT/mask.png" <<'EOF'
import struct, sys, zlib
w = h = 64
rows = b"".join(b"\0" + bytes(255 if 16 <= x < 48 and 16 <= y < 48 else 0 for x in range(w)) for y in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
                              chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
EOF
run img2img -m "$SD1" -p "a dog" -i "$OUT/init.png" --strength 0.6 --steps 4
run img2img-euler-a -m "$SD1" -p "a dog" -i "$OUT/init.png" --strength 0.5 --steps 4 --sampling-method euler_a
run inpaint-legacy -m "$SD1" -p "a dog" -i "$OUT/init.png" --mask "$OUT/mask.png" --steps 4
run inpaint-fill -m "$SD1" -p "a dog" -i "$OUT/init.png" --mask "$OUT/mask.png" --steps 4 --inpainting-fill 2
run inpaint-9ch -m "$G1/tiny-sd1-inpaint.safetensors" -p "a dog" -i "$OUT/init.png" --mask "$OUT/mask.png" --steps 4
run outpaint -m "$SD1" -p "a dog" -i "$OUT/init.png" --outpaint 8,0,8,16 --steps 3
run sld -m "$SD1" -p "a dog" -W 64 -H 64 --steps 4 --sld medium
run hires -m "$SD1" -p "a dog" -W 32 -H 32 --steps 3 --hires-fix --hires-scale 2
run hires-lanczos -m "$SD1" -p "a dog" -W 32 -H 32 --steps 3 --hires-fix --hires-scale 2 --hires-upscaler lanczos
run lowmem -m "$SD1" -p "a dog" -W 64 -H 64 --steps 3 --low-memory
run tiling -m "$SD1" -p "a dog" -W 192 -H 192 --steps 2 --vae-tiling --vae-tile-size 16
run sd2v -m "$G1/tiny-sd2v.safetensors" -p "a dog" -W 64 -H 64 --steps 4 --sampling-method ddim
run diffusers -m "$G1/tiny-sd1-diffusers" -p "a dog" -W 64 -H 64 --steps 3
run controlnet -m "$SD1" -p "a dog" -W 64 -H 64 --steps 3 --control-net "$G2/tiny-controlnet.safetensors" --control-image "$OUT/init.png" --control-strength 0.7
run controlnet-canny -m "$SD1" -p "a dog" -W 64 -H 64 --steps 3 --control-net "$G2/tiny-controlnet.safetensors" --control-image "$OUT/init.png" --control-module canny
run lora -m "$SD1" -p "a cat <lora:tiny-sd1-lora:0.8>" --lora-model-dir "$G2" -W 64 -H 64 --steps 3
run hypernetwork -m "$SD1" -p "a cat <hypernet:tiny-hn:0.7>" --hypernetwork-dir "$G2" -W 64 -H 64 --steps 3
WORD=$(python3 -c 'import json,struct,sys; f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]; print(json.loads(f.read(n))["__metadata__"]["word"])' "$G2/textual_inversion.safetensors")
if [ -n "$WORD" ] && [ -e "$G2/$WORD.pt" ]; then
    mkdir -p "$OUT/emb" && cp "$G2/$WORD.pt" "$OUT/emb/"
    run embedding -m "$SD1" -p "a photo of $WORD" --embd-dir "$OUT/emb" -W 64 -H 64 --steps 3
fi
run sdxl -m "$G2/tiny-sdxl.safetensors" -p "a dog" -W 64 -H 64 --steps 3 --original-size 96,96
run sdxl-refiner -m "$G2/tiny-sdxl.safetensors" --refiner "$G2/tiny-sdxl-refiner.safetensors" -p "a dog" -W 64 -H 64 --steps 4 --sampling-method euler
if grep -q avx512_bf16 /proc/cpuinfo; then
    run bf16 -m "$SD1" -p "a dog" -W 64 -H 64 --steps 3 --precision bf16
fi

# 3. the server's txt2img (the demo model)
stdbuf -oL "$SDREF" serve --port 0 > "$OUT/server.log" 2>&1 &
SERVER_PID=$!
PORT=
for _ in $(seq 200); do PORT=$(grep -o '127.0.0.1:[0-9]*' "$OUT/server.log" | head -1 | cut -d: -f2 || true); [ -n "$PORT" ] && break; sleep 0.1; done
curl -s -X POST "http://127.0.0.1:$PORT/sdapi/v1/txt2img" -H 'Content-Type: application/json' \
    -d '{"prompt": "a blue square", "seed": 5, "steps": 6}' > "$OUT/server.json"
python3 -c 'import base64,json,sys; open(sys.argv[2],"wb").write(base64.b64decode(json.load(open(sys.argv[1]))["images"][0]))' \
    "$OUT/server.json" "$OUT/server-txt2img.png"

cd "$OUT"
sha256sum -- *.f32 cli-*.png server-txt2img.png | sort -k 2
