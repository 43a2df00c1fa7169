#!/bin/sh
# test-neon.sh: the kernel library's tests on aarch64, from an x86-64 machine. Cross-compiles kernels/ (with
# the NEON micro-kernel 8x12, conversions and element-wise code) and the kernel tests, then runs them under
# qemu-user, so the NEON paths are held against the scalar oracles like the x86 ones. Run: make test-neon.
# Needs Debian's g++-aarch64-linux-gnu and qemu-user (installed when missing, as root).
set -eu
cd "$(dirname "$0")/.."
out=build-aarch64
need=""
command -v aarch64-linux-gnu-g++ >/dev/null || need="$need g++-aarch64-linux-gnu"
command -v qemu-aarch64 >/dev/null || need="$need qemu-user"
if [ -n "$need" ]; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends $need
    else
        echo "test-neon: missing packages; run: sudo apt-get install$need" >&2
        exit 1
    fi
fi
# only the header-only libraries, not the host's whole /usr/include
mkdir -p "$out/include"
ln -sfn /usr/include/xsimd "$out/include/xsimd"
ln -sfn /usr/include/catch2 "$out/include/catch2"
kernels=$(ls kernels/*.cpp | grep -v -e _avx2 -e _avx512 -e _amx)
tests="tests/test_main.cpp tests/test_gemm.cpp tests/test_conv2d.cpp tests/test_attention.cpp tests/test_ops.cpp tests/test_convert.cpp"
echo "test-neon: compiling for aarch64"
aarch64-linux-gnu-g++ -std=c++17 -O2 -ffp-contract=off -fopenmp -I. -isystem "$out/include" $kernels $tests \
    -o "$out/kernel_tests"
echo "test-neon: running under qemu-aarch64"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$out/kernel_tests" "[kernels]"
