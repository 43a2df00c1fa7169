// ukernel_neon_bf16_8x12.cpp: aarch64 with the BF16 extension (FEAT_BF16: Neoverse V1, N2, V2, Apple M2 and
// later), 8 rows x 12 columns. Per pair of k steps: 3 q vectors of B (4 columns x 2 steps each) and 2 of A (4 rows
// x 2 steps each), then per row and B vector BFMLALT (the odd step) then BFMLALB (the even step), each with A's
// element for that row and step picked by lane index. Each is one fused multiply-add per fp32 lane, so a pair is
// the bf16 contract of ukernel.h exactly: the odd step first, each sum rounded to nearest even. FPCR.FZ is set while the kernel runs, so subnormal sums are flushed as the contract
// (and vdpbf16ps) flush them. (Arm detects a tiny result before rounding, x86 after: they differ only for a sum
// that rounds up to exactly the smallest normal, 2^-126.)
// 24 accumulators, 3 B vectors and 2 A vectors of the 32 q registers. It does 4 multiply-adds per instruction, the
// fp32 kernel's rate: BFDOT and BFMMLA do 8 and 16, but round their inner sums their own way
// (they would need an oracle of their own). What it gains is panels half the size: --precision bf16 packs the
// weights once into bf16 panels no larger than an fp16 file, which fp32 cannot. Blocks as the fp32 8x12's.
#include <arm_neon.h>

#include <cstring>

#include "kernels/ukernel.h"

namespace sdref::kernels {

namespace {

constexpr int MR = 8, NV = 3, NR = NV * 4;

#define SDREF_BF16_TARGET __attribute__((target("arch=armv8.2-a+bf16")))

// Row L of a 4-row A vector (its pairs [even, odd] in halves 2L, 2L + 1) times the NV B vectors: the odd step,
// then the even one, into that row's accumulators.
template <int L>
SDREF_BF16_TARGET inline __attribute__((always_inline)) void row_pair(float32x4_t* acc, bfloat16x8_t a, const bfloat16x8_t* b) {
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) {
        acc[v] = vbfmlaltq_laneq_f32(acc[v], b[v], a, 2 * L + 1);  // += a(2p+1) b(2p+1)
        acc[v] = vbfmlalbq_laneq_f32(acc[v], b[v], a, 2 * L);      // += a(2p) b(2p)
    }
}

SDREF_BF16_TARGET void ukernel_neon_bf16_8x12(int64_t kc, const void* a_, const void* b_, float* c, int64_t ldc, bool load_c) {
    const auto* a = static_cast<const uint16_t*>(a_);  // per pair of steps: 8 rows' pairs, 2 q vectors
    const auto* b = static_cast<const uint16_t*>(b_);  // per pair of steps: NV vectors of 4 columns' pairs
    uint64_t fpcr;
    asm volatile("mrs %0, fpcr" : "=r"(fpcr));
    asm volatile("msr fpcr, %0" : : "r"(fpcr | (uint64_t(1) << 24)));  // FZ: flush subnormal results to zero
    float32x4_t acc[MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 3
        for (int v = 0; v < NV; ++v) acc[r][v] = load_c ? vld1q_f32(c + r * ldc + v * 4) : vdupq_n_f32(0.0f);
    const int64_t pairs = (kc + 1) / 2;
    for (int64_t p = 0; p < pairs; ++p) {
        bfloat16x8_t bv[NV];
#pragma GCC unroll 3
        for (int v = 0; v < NV; ++v) bv[v] = vreinterpretq_bf16_u16(vld1q_u16(b + (p * NV + v) * 8));
        const bfloat16x8_t lo = vreinterpretq_bf16_u16(vld1q_u16(a + p * 2 * MR));      // rows 0-3
        const bfloat16x8_t hi = vreinterpretq_bf16_u16(vld1q_u16(a + p * 2 * MR + 8));  // rows 4-7
        row_pair<0>(acc[0], lo, bv), row_pair<1>(acc[1], lo, bv), row_pair<2>(acc[2], lo, bv), row_pair<3>(acc[3], lo, bv);
        row_pair<0>(acc[4], hi, bv), row_pair<1>(acc[5], hi, bv), row_pair<2>(acc[6], hi, bv), row_pair<3>(acc[7], hi, bv);
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 3
        for (int v = 0; v < NV; ++v) vst1q_f32(c + r * ldc + v * 4, acc[r][v]);
    asm volatile("msr fpcr, %0" : : "r"(fpcr));
}

}  // namespace

const MicroKernelInfo kNeonBf16_8x12 = {"neon_bf16_8x12", ukernel_neon_bf16_8x12, MR, NR, 128, 256, 4092,
                                        PanelType::BF16_PAIRS, to_bf16_pairs_scalar};

}  // namespace sdref::kernels
