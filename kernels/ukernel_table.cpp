// ukernel_table.cpp: the one table of GEMM micro-kernels, and the choice for this CPU.
#include "kernels/cpu.h"
#include "kernels/ukernel.h"

namespace sdref::kernels {

const MicroKernelInfo& scalar_micro_kernel() { return kScalar4x4; }

const MicroKernelInfo& best_micro_kernel() {
#if defined(__x86_64__)
    if (cpu_features().avx512) return kAvx512_12x32;
    if (cpu_features().avx2) return kAvx2_6x16;
#elif defined(__aarch64__)
    if (cpu_features().neon) return kNeon8x12;
#endif
    return kScalar4x4;
}

}  // namespace sdref::kernels
