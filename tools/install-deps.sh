#!/usr/bin/env bash
# Install the Debian/Ubuntu packages sdref builds and tests with, when they are missing.
# As root: installs them with apt-get. Otherwise: prints the exact command and fails.
set -euo pipefail

packages=(g++ make cmake zlib1g-dev libxsimd-dev catch2 libbenchmark-dev libstb-dev)
# `install-deps.sh fuzz`: also clang with libFuzzer and the sanitizer runtimes (make fuzz)
if [ "${1:-}" = "fuzz" ]; then packages+=(clang libclang-rt-dev); fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps: not a Debian/Ubuntu system; make sure these (or their equivalents) are installed: ${packages[*]}" >&2
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "run:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
