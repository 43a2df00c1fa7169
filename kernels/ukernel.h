// ukernel.h: the GEMM micro-kernel contract, the table of micro-kernels, and the SIMD template they share.
//
// Contract of every micro-kernel (tile MR x NR):
//   a    packed A panel, kc steps of MR floats:  a[k * MR + r] = A(i0 + r, k)      (64-byte aligned)
//   b    packed B panel, kc steps of NR floats:  b[k * NR + j] = B(k, j0 + j)      (64-byte aligned)
//   c    the full MR x NR tile of C, row-major, leading dimension ldc (any alignment)
//   c[r][j] = (load_c ? c[r][j] : 0) + sum_k a[k][r] * b[k][j], as a chain of fused multiply-adds in k order.
// Edge tiles never reach a micro-kernel: the driver pads panels with zeros and computes edges in a scratch
// tile. Because every path is the same FMA chain, all micro-kernels give identical bits.
#pragma once

#include <cstdint>

namespace sdref::kernels {

using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool load_c);

struct MicroKernelInfo {
    const char* name;  // "avx2_6x16"
    MicroKernel kernel;
    int mr, nr;        // register tile
    int mc, kc, nc;    // cache blocks (gemm.cpp): A block MC x KC in L2; B block K x NC (tall problems) or
                       // chunk KC x NC/2 (wide problems)
};

// The fastest micro-kernel this CPU runs (SDREF_ISA caps it), and the scalar oracle.
const MicroKernelInfo& best_micro_kernel();
const MicroKernelInfo& scalar_micro_kernel();

// Per-ISA entries, defined in ukernel_<isa>_<MR>x<NR>.cpp.
extern const MicroKernelInfo kScalar4x4;
extern const MicroKernelInfo kAvx2_6x16;
extern const MicroKernelInfo kAvx512_12x32;
extern const MicroKernelInfo kNeon8x12;

}  // namespace sdref::kernels
