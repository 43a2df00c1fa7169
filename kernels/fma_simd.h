// fma_simd.h: a fused multiply-add on xsimd batches, one instruction on every ISA sdref compiles for, for the
// micro-kernels and the element-wise loops.
#pragma once

#include <xsimd/xsimd.hpp>

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

}  // namespace sdref::kernels
