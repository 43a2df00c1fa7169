// ukernel_neon_8x12.cpp: aarch64 Advanced SIMD, 8 rows x 12 columns (3 q vectors): 24 accumulators, 3 B vectors
// and one broadcast of the 32 q registers. Blocks: KC = 256, MC = 128, NC = 4092.
#include "kernels/ukernel_simd.h"

namespace sdref::kernels {

const MicroKernelInfo kNeon8x12 = {"neon_8x12", ukernel_simd<xsimd::neon64, 8, 3>, 8, 12, 128, 256, 4092};

}  // namespace sdref::kernels
