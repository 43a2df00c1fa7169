// ukernel_simd.h: one micro-kernel body for every SIMD ISA, written with xsimd. Each ISA file instantiates it
// with its own register tile (MR rows x NV vectors); see the contract in ukernel.h.
//
// Per k step: load NV vectors of B, then for each of the MR rows broadcast one A value and issue NV fused
// multiply-adds into that row's accumulators. MR * NV accumulators stay in registers for the whole panel.
// The A panel streams from L2, so it is prefetched 16 steps ahead; the C tile is prefetched before the loop
// (together worth 5-20% on the wide shapes, bench/RESULTS.md).
#pragma once

#include <xsimd/xsimd.hpp>

#include "kernels/ukernel.h"

namespace sdref::kernels {

// One rounding per multiply-add on every ISA (xsimd 8 falls back to a separate multiply and add on some).
// Each specialisation exists only in the file compiled for its ISA.
template <class Arch>
struct FusedMultiplyAdd;
#if defined(__AVX2__) && defined(__FMA__)
template <>
struct FusedMultiplyAdd<xsimd::fma3<xsimd::avx2>> {
    using batch = xsimd::batch<float, xsimd::fma3<xsimd::avx2>>;
    static batch apply(const batch& a, const batch& b, const batch& c) { return _mm256_fmadd_ps(a, b, c); }
};
#endif
#if defined(__AVX512F__)
template <>
struct FusedMultiplyAdd<xsimd::avx512f> {
    using batch = xsimd::batch<float, xsimd::avx512f>;
    static batch apply(const batch& a, const batch& b, const batch& c) { return _mm512_fmadd_ps(a, b, c); }
};
#endif
#if defined(__aarch64__)
template <>
struct FusedMultiplyAdd<xsimd::neon64> {
    using batch = xsimd::batch<float, xsimd::neon64>;
    static batch apply(const batch& a, const batch& b, const batch& c) { return vfmaq_f32(c, a, b); }
};
#endif

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
