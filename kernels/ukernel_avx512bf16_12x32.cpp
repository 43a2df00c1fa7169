// ukernel_avx512bf16_12x32.cpp: AVX512_BF16, 12 rows x 32 columns. Per pair of k steps: 2 zmm of B (16 columns x
// 2 steps each), then per row one broadcast pair of A and 2 vdpbf16ps (each 32 multiply-adds, twice an fp32
// FMA's 16): 24 accumulators, 2 B vectors and one broadcast of the 32 zmm registers, as in the fp32 12x32.
// Compiled with -mavx512bf16; chosen for --precision bf16 when cpu_features().avx512_bf16.
// Blocks as the fp32 kernel's (the bf16 panels are half the bytes, so the same KC leaves more of L2 free).
#include <immintrin.h>

#include "kernels/ukernel.h"

namespace sdref::kernels {

namespace {

constexpr int NV = 2, NR = NV * 16;

template <int MR>  // 12, and 4 for attention's last V^T panel
void ukernel_avx512bf16(int64_t kc, const void* a_, const void* b_, float* c, int64_t ldc, bool load_c) {
    const auto* a = static_cast<const uint32_t*>(a_);  // one pair of bf16 steps per row
    const auto* b = static_cast<const __m512i*>(b_);    // NV vectors of 16 pairs per pair of steps
    __m512 acc[MR][NV];
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] = load_c ? _mm512_loadu_ps(c + r * ldc + v * 16) : _mm512_setzero_ps();
    for (int r = 0; r < MR; ++r) __builtin_prefetch(c + r * ldc, 1);
    const int64_t pairs = (kc + 1) / 2;
    for (int64_t p = 0; p < pairs; ++p) {
        __builtin_prefetch(a + (p + 16) * MR);
        __m512bh bv[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) bv[v] = (__m512bh)_mm512_load_si512(b + p * NV + v);
#pragma GCC unroll 32
        for (int r = 0; r < MR; ++r) {
            const __m512bh ar = (__m512bh)_mm512_set1_epi32(int(a[p * MR + r]));
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], ar, bv[v]);
        }
    }
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) _mm512_storeu_ps(c + r * ldc + v * 16, acc[r][v]);
}

}  // namespace

// The scalar converter's layout (ukernel_scalar_bf16_4x4.cpp), 16 columns at a time: vcvtne2ps2bf16 rounds two
// steps' rows into one vector [step k | step k+1], a word permutation interleaves them into pairs.
void to_bf16_pairs_avx512(const float* src, void* dst_, int64_t kc, int width) {
    auto* dst = static_cast<uint16_t*>(dst_);
    alignas(64) static const uint16_t kInterleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                                         8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    const __m512i interleave = _mm512_load_si512(kInterleave);
    for (int64_t k = 0; k < kc; k += 2) {
        const float* even = src + k * width;
        const float* odd = k + 1 < kc ? even + width : nullptr;
        uint16_t* out = dst + k * width;  // (k/2) * 2 * width
        for (int p = 0; p < width; p += 16) {
            const __mmask16 m = width - p >= 16 ? __mmask16(0xffff) : __mmask16((1u << (width - p)) - 1);
            const __m512 x = _mm512_maskz_loadu_ps(m, even + p);
            const __m512 y = odd ? _mm512_maskz_loadu_ps(m, odd + p) : _mm512_setzero_ps();
            const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(y, x);  // words 0-15: x, 16-31: y
            _mm512_mask_storeu_epi32(out + 2 * p, m, _mm512_permutexvar_epi16(interleave, both));
        }
    }
}

const MicroKernelInfo kAvx512Bf16_12x32 = {"avx512bf16_12x32", ukernel_avx512bf16<12>, 12, NR, 144, 640, 1024,
                                           PanelType::BF16_PAIRS, to_bf16_pairs_avx512, ukernel_avx512bf16<4>};

}  // namespace sdref::kernels
