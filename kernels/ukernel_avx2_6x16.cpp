// ukernel_avx2_6x16.cpp: AVX2 + FMA3, 6 rows x 16 columns (2 ymm vectors): 12 accumulators, 2 B vectors and
// one broadcast = 15 of the 16 ymm registers. Compiled with -mavx2 -mfma; chosen when cpu_features().avx2.
// Blocks: MC = 120 (A block 300 KB in L2), KC = 640 (fewer passes over C: K = 1280 runs as 2 x 640; the 40 KB
// B panel streams from L2, which keeps up), NC = 1024 (a tall problem's B block, K x 1024; a wide one's chunks
// are 512 pixels); the best of the settings tried on a 2-core Zen 4 (bench/RESULTS.md).
#include "kernels/ukernel_simd.h"

namespace sdref::kernels {

const MicroKernelInfo kAvx2_6x16 = {"avx2_6x16", ukernel_simd<xsimd::fma3<xsimd::avx2>, 6, 2>, 6, 16, 120, 640, 1024,
                                    PanelType::F32, nullptr, ukernel_simd<xsimd::fma3<xsimd::avx2>, 4, 2>};

}  // namespace sdref::kernels
