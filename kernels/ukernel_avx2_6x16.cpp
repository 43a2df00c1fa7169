// ukernel_avx2_6x16.cpp: AVX2 + FMA3, 6 rows x 16 columns (2 ymm vectors): 12 accumulators, 2 B vectors and
// one broadcast = 15 of the 16 ymm registers. Compiled with -mavx2 -mfma; chosen when cpu_features().avx2.
// Blocks: KC = 256 (a 16 KB B panel and a 6 KB A panel share L1), MC = 168 (A block 168 KB in L2), NC = 4080.
#include "kernels/ukernel_simd.h"

namespace sdref::kernels {

const MicroKernelInfo kAvx2_6x16 = {"avx2_6x16", ukernel_simd<xsimd::fma3<xsimd::avx2>, 6, 2>, 6, 16, 168, 256, 4080};

}  // namespace sdref::kernels
