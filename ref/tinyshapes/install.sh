#!/usr/bin/env bash
# What the TinyShapes reference scripts need, from Debian: PyTorch, numpy, matplotlib (the loss plots), and
# OpenBLAS (Debian's PyTorch runs its matrix products through the system BLAS; with the reference BLAS that
# apt picks by default, training is about 10x slower). `make test` needs none of this.
set -euo pipefail
packages=(python3-torch python3-numpy python3-matplotlib libopenblas0-pthread)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "run:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
