// ukernel_avx512_12x32.cpp: AVX-512F, 12 rows x 32 columns (2 zmm vectors): 24 accumulators, 2 B vectors and
// one broadcast of the 32 zmm registers. Compiled with -mavx512f; chosen when cpu_features().avx512.
// Blocks: MC = 144 (A block 370 KB in L2), KC = 640 (fewer passes over C; the 80 KB B panel streams from L2),
// NC = 1024 (a tall problem's B block, K x 1024; a wide one's chunks are 512 pixels); the best of the settings
// tried on a 2-core Zen 4 (bench/RESULTS.md).
#include "kernels/ukernel_simd.h"

namespace sdref::kernels {

const MicroKernelInfo kAvx512_12x32 = {"avx512_12x32", ukernel_simd<xsimd::avx512f, 12, 2>, 12, 32, 144, 640, 1024,
                                       PanelType::F32, nullptr, ukernel_simd<xsimd::avx512f, 4, 2>};

}  // namespace sdref::kernels
