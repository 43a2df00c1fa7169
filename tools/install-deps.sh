#!/usr/bin/env bash
# Install the Debian/Ubuntu packages sdref builds and tests with, when they are missing.
# As root: installs them with apt-get (waiting for another apt or dpkg to finish first). Otherwise: prints the exact
# command and fails.
#   install-deps.sh        everything `make test` needs
#   install-deps.sh demo   only what building the sdref command needs (`make demo`)
#   install-deps.sh fuzz   ... plus clang and libFuzzer (`make fuzz`)
#   install-deps.sh ref    only what the PyTorch reference scripts of ref/ need
set -euo pipefail

# The sdref command: the compiler, CMake, zlib (the CLIP vocabulary), xsimd, stb (PNG writing), libpng and libjpeg
# (reading user images), and the server it carries (Debian's cpp-httplib library is built with OpenSSL and Brotli:
# its header needs their headers to match it).
packages=(g++ make cmake zlib1g-dev libxsimd-dev libstb-dev libpng-dev libjpeg62-turbo-dev
          libcpp-httplib-dev nlohmann-json3-dev pkgconf libssl-dev libbrotli-dev)
# ... the Redis client of `sdref worker` / `sdref submit` (docs/scale-out.md), animated WebP (`sdref animate`)
packages+=(libhiredis-dev libwebp-dev)
if [ "${1:-}" != "demo" ]; then
  # the tests and benchmarks
  packages+=(catch2 libbenchmark-dev)
  # The labels of grids and X/Y plots: DejaVu Sans, drawn with stb_truetype (src/pipeline/grid.cpp).
  packages+=(fonts-dejavu-core)
  # The worker tests start their own Redis server on a loopback port (tests/test_worker.cpp).
  packages+=(redis-server)
  # The web page's browser test: Debian's Chromium, driven by playwright-core from npm (tests/browser/).
  packages+=(chromium)
  command -v node >/dev/null 2>&1 || packages+=(nodejs npm)
fi
# `install-deps.sh fuzz`: also clang with libFuzzer and the sanitizer runtimes (make fuzz).
# `install-deps.sh ref`: only what the PyTorch reference scripts of ref/ need: PyTorch, numpy, matplotlib (loss
# plots) and OpenBLAS (Debian's PyTorch runs its matrix products through the system BLAS; with the reference BLAS
# apt picks by default, training is about 10x slower). `make test` never needs these.
if [ "${1:-}" = "fuzz" ]; then packages+=(clang libclang-rt-dev); fi
if [ "${1:-}" = "ref" ]; then packages=(python3-torch python3-numpy python3-matplotlib libopenblas0-pthread); fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps: not a Debian/Ubuntu system; make sure these (or their equivalents) are installed: ${packages[*]}" >&2
  exit 0
fi

# playwright-core for the browser test, at the version tests/browser/package-lock.json pins (npm ci); it never
# downloads a browser of its own
install_browser_driver() {
  [ "${1:-}" = "" ] || return 0  # (only for `make test`)
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
  [ -d "$dir/node_modules/playwright-core" ] && return 0
  command -v npm >/dev/null 2>&1 || return 0
  echo "install-deps: npm ci in tests/browser (playwright-core)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  install_browser_driver "${1:-}"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "run:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Another apt or dpkg (an unattended upgrade, a second make) holds its locks: wait for it rather than fail. apt-get
# waits for dpkg's lock itself (DPkg::Lock::Timeout); the package lists' lock is waited for here.
lists_busy() { command -v fuser >/dev/null 2>&1 && fuser /var/lib/apt/lists/lock >/dev/null 2>&1; }
for _ in $(seq 120); do lists_busy || break; echo "install-deps: waiting for another apt to finish"; sleep 5; done
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
install_browser_driver "${1:-}"
