// ukernel_avx2_6x16.cpp: AVX2 + FMA3, 6 rows x 16 columns (2 ymm vectors): 12 accumulators, 2 B vectors and
// one broadcast = 15 of the 16 ymm registers. Compiled with -mavx2 -mfma; chosen when cpu_features().avx2.
// Blocks: KC = 320 (SD's K = 320 layers in one block), MC = 120 (A block 150 KB in L2), NC = 2048 (B block
// 2.6 MB); the best of the settings tried (bench/RESULTS.md).
#include "kernels/ukernel_simd.h"

namespace sdref::kernels {

const MicroKernelInfo kAvx2_6x16 = {"avx2_6x16", ukernel_simd<xsimd::fma3<xsimd::avx2>, 6, 2>, 6, 16, 120, 320, 2048};

}  // namespace sdref::kernels
