// ukernel_table.cpp: the one table of GEMM micro-kernels, and the choice for this CPU and precision.
#include "kernels/cpu.h"
#include "kernels/ukernel.h"

namespace sdref::kernels {

const MicroKernelInfo& scalar_micro_kernel(Precision p) { return p == Precision::BF16 ? kScalarBf16_4x4 : kScalar4x4; }

const MicroKernelInfo& best_micro_kernel() {
#if defined(__x86_64__)
    if (cpu_features().avx512) return kAvx512_12x32;
    if (cpu_features().avx2) return kAvx2_6x16;
#elif defined(__aarch64__)
    if (cpu_features().neon) return kNeon8x12;
#endif
    return kScalar4x4;
}

// bf16 runs only where the CPU has the dot-product instructions: emulating them is slower than fp32.
const MicroKernelInfo* best_micro_kernel(Precision p) {
    if (p == Precision::FP32) return &best_micro_kernel();
#if defined(__x86_64__)
    if (cpu_features().avx512_bf16) return &kAvx512Bf16_12x32;
#elif defined(__aarch64__)
    if (cpu_features().neon_bf16) return &kNeonBf16_8x12;
#endif
    return nullptr;
}

}  // namespace sdref::kernels
