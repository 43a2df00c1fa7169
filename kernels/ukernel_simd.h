// ukernel_simd.h: one micro-kernel body for every SIMD ISA, written with xsimd. Each ISA file instantiates it
// with its own register tile (MR rows x NV vectors); see the contract in ukernel.h.
//
// Per k step: load NV vectors of B, then for each of the MR rows broadcast one A value and issue NV fused
// multiply-adds into that row's accumulators. MR * NV accumulators stay in registers for the whole panel.
// The A panel streams from L2, so it is prefetched 16 steps ahead; the C tile is prefetched before the loop
// (together worth 5-20% on the wide shapes, bench/RESULTS.md).
#pragma once

#include <xsimd/xsimd.hpp>

#include "kernels/fma_simd.h"
#include "kernels/ukernel.h"

namespace sdref::kernels {

template <class Arch, int MR, int NV>
void ukernel_simd(int64_t kc, const void* a_, const void* b_, float* c, int64_t ldc, bool load_c) {
    const float* a = static_cast<const float*>(a_);
    const float* b = static_cast<const float*>(b_);
    using batch = xsimd::batch<float, Arch>;
    constexpr int W = int(batch::size);
    constexpr int NR = NV * W;
    batch acc[MR][NV];
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v)
            acc[r][v] = load_c ? batch::load_unaligned(c + r * ldc + v * W) : batch(0.0f);
    for (int r = 0; r < MR; ++r) __builtin_prefetch(c + r * ldc, 1);  // the C tile is written at the end
    for (int64_t k = 0; k < kc; ++k) {
        __builtin_prefetch(a + (k + 16) * MR);  // the A panel streams from L2
        batch bv[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) bv[v] = batch::load_aligned(b + k * NR + v * W);
#pragma GCC unroll 32
        for (int r = 0; r < MR; ++r) {
            const batch ar(a[k * MR + r]);
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) acc[r][v] = FusedMultiplyAdd<Arch>::apply(ar, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v].store_unaligned(c + r * ldc + v * W);
}

}  // namespace sdref::kernels
