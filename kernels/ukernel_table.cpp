// ukernel_table.cpp: the one table of GEMM micro-kernels, and the choice for this CPU and precision.
#include "kernels/cpu.h"
#include "kernels/ukernel.h"

namespace sdref::kernels {

const MicroKernelInfo& scalar_micro_kernel(Precision p) { return p == Precision::BF16 ? kScalarBf16_4x4 : kScalar4x4; }

const MicroKernelInfo& scalar_oracle_of(const MicroKernelInfo& uk) {
    if (uk.panel == PanelType::BF16_TILES) return kScalarBf16Tiles_4x4;
    return uk.panel == PanelType::BF16_PAIRS ? kScalarBf16_4x4 : kScalar4x4;
}

const MicroKernelInfo& best_micro_kernel() {
#if defined(__x86_64__)
    if (cpu_features().avx512) return kAvx512_12x32;
    if (cpu_features().avx2) return kAvx2_6x16;
#elif defined(__aarch64__)
    if (cpu_features().neon) return kNeon8x12;
#endif
    return kScalar4x4;
}

// bf16 runs only where the CPU has instructions that make it faster than fp32: AMX's tiles, AVX512_BF16 where a
// vdpbf16ps does twice an FMA's work, Arm's BF16. Emulating them, or Intel's AVX512_BF16 alone, is slower.
const MicroKernelInfo* best_micro_kernel(Precision p) {
    if (p == Precision::FP32) return &best_micro_kernel();
    if (cpu_features().amx_oracle) return &kScalarBf16Tiles_4x4;
#if defined(__x86_64__)
    if (cpu_features().amx_bf16) return &kAmx_32x32;
    if (cpu_features().avx512_bf16 && cpu_features().bf16_dot_fast) return &kAvx512Bf16_12x32;
#elif defined(__aarch64__)
    if (cpu_features().neon_bf16) return &kNeonBf16_8x12;
#endif
    return nullptr;
}

}  // namespace sdref::kernels

namespace sdref::kernels {

const char* bf16_fallback_reason() {
    if (best_micro_kernel(Precision::BF16)) return nullptr;
    const CpuFeatures& f = cpu_features();
    if (f.amx_refused && f.avx512_bf16)
        return "Linux refused this process AMX's tile data (arch_prctl ARCH_REQ_XCOMP_PERM), and this CPU's "
               "AVX512_BF16 alone is no faster than fp32";
    if (f.avx512_bf16) return "this CPU's AVX512_BF16 without AMX is no faster than fp32 (SDREF_ISA=avx512bf16 forces it)";
    return "this CPU has no bf16 instructions (AMX, AVX512_BF16, Arm's BF16)";
}

}  // namespace sdref::kernels
