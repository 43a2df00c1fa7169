// ukernel_scalar_bf16_4x4.cpp: the bf16 oracle: the bf16 micro-kernel contract of ukernel.h (pairs of k steps,
// odd step first, each sum rounded, subnormal sums flushed to zero) one element at a time, and the rounding of
// fp32 to bf16 that every bf16 panel converter must match.
#include <cmath>
#include <cstring>

#include "kernels/ukernel.h"

namespace sdref::kernels {

uint16_t bf16_round(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0) return uint16_t((u >> 16) & 0x8000u);                 // zero, subnormal: signed zero
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x0040u);         // NaN: stays a quiet NaN
    return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);                           // nearest, ties to even
}

float bf16_value(uint16_t h) {
    const uint32_t u = uint32_t(h) << 16;
    float x;
    std::memcpy(&x, &u, 4);
    return x;
}

namespace {

constexpr int MR = 4, NR = 4;

// acc + a * b with one rounding (the product of two bf16 values is exact in fp32), a subnormal result flushed
float dot_step(float acc, uint16_t a, uint16_t b) {
    const float s = std::fma(bf16_value(a), bf16_value(b), acc);
    return std::fabs(s) < 0x1p-126f ? std::copysign(0.0f, s) : s;
}

void ukernel_scalar_bf16_4x4(int64_t kc, const void* a_, const void* b_, float* c, int64_t ldc, bool load_c) {
    const auto* a = static_cast<const uint16_t*>(a_);
    const auto* b = static_cast<const uint16_t*>(b_);
    float acc[MR][NR];
    for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NR; ++j) acc[r][j] = load_c ? c[r * ldc + j] : 0.0f;
    for (int64_t p = 0; p < (kc + 1) / 2; ++p)
        for (int r = 0; r < MR; ++r)
            for (int j = 0; j < NR; ++j) {
                const uint16_t* ap = a + p * 2 * MR + 2 * r;
                const uint16_t* bp = b + p * 2 * NR + 2 * j;
                acc[r][j] = dot_step(dot_step(acc[r][j], ap[1], bp[1]), ap[0], bp[0]);
            }
    for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NR; ++j) c[r * ldc + j] = acc[r][j];
}

}  // namespace

// dst[(k/2) * 2w + 2p + k%2] = bf16(src[k * w + p]); the missing odd step of an odd kc is zero
void to_bf16_pairs_scalar(const float* src, void* dst_, int64_t kc, int width) {
    auto* dst = static_cast<uint16_t*>(dst_);
    for (int64_t k = 0; k < kc; ++k)
        for (int p = 0; p < width; ++p) dst[(k / 2) * 2 * width + 2 * p + k % 2] = bf16_round(src[k * width + p]);
    if (kc % 2)
        for (int p = 0; p < width; ++p) dst[(kc / 2) * 2 * width + 2 * p + 1] = 0;
}

const MicroKernelInfo kScalarBf16_4x4 = {"scalar_bf16_4x4", ukernel_scalar_bf16_4x4, MR, NR, 64, 256, 1024,
                                         PanelType::BF16_PAIRS, to_bf16_pairs_scalar};

}  // namespace sdref::kernels
