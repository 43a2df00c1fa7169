// ukernel_avx512_12x32.cpp: AVX-512F, 12 rows x 32 columns (2 zmm vectors): 24 accumulators, 2 B vectors and
// one broadcast of the 32 zmm registers. Compiled with -mavx512f; chosen when cpu_features().avx512.
// Blocks: KC = 320 (a 40 KB B panel: SD's K = 320 layers run in one K block), MC = 144 (A block 180 KB in L2),
// NC = 1024 (B block 1.3 MB; 4096 was as fast on the GEMM benchmarks but slowed the VAE decode); the best
// of the settings tried on a 2-core Zen 4 (bench/RESULTS.md).
#include "kernels/ukernel_simd.h"

namespace sdref::kernels {

const MicroKernelInfo kAvx512_12x32 = {"avx512_12x32", ukernel_simd<xsimd::avx512f, 12, 2>, 12, 32, 144, 320, 1024};

}  // namespace sdref::kernels
