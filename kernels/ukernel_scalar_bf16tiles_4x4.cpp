// ukernel_scalar_bf16tiles_4x4.cpp: the oracle of the bf16 tile contract (ukernel.h, BF16_TILES: AMX's
// tdpbf16ps), one element at a time: per block of 32 steps an even and an odd chain from zero, their sum added to
// C, every sum rounded to nearest even with subnormal results flushed to zero. Its blocks are the AMX kernel's
// (KC 640), so the two cut K at the same steps and give the same bits.
#include <algorithm>
#include <cmath>

#include "kernels/ukernel.h"

namespace sdref::kernels {

namespace {

constexpr int MR = 4, NR = 4;

// x + y rounded (fp32 addition is), a subnormal result flushed to a zero of its sign
float add_ftz(float x, float y) {
    const float s = x + y;
    return std::fabs(s) < 0x1p-126f ? std::copysign(0.0f, s) : s;
}

// acc + a * b with one rounding (the product of two bf16 values is exact in fp32), a subnormal result flushed
float fma_ftz(float acc, uint16_t a, uint16_t b) {
    const float s = std::fma(bf16_value(a), bf16_value(b), acc);
    return std::fabs(s) < 0x1p-126f ? std::copysign(0.0f, s) : s;
}

void ukernel_scalar_bf16tiles_4x4(int64_t kc, const void* a_, const void* b_, float* c, int64_t ldc, bool load_c) {
    const auto* a = static_cast<const uint16_t*>(a_);  // [kc/32][MR][32]
    const auto* b = static_cast<const uint16_t*>(b_);  // [kc/2][NR][2]
    for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NR; ++j) {
            float acc = load_c ? c[r * ldc + j] : 0.0f;
            for (int64_t t = 0; t < (kc + 31) / 32; ++t) {  // one tdpbf16ps
                float even = 0.0f, odd = 0.0f;
                for (int p = 0; p < 16; ++p) {
                    const uint16_t* ap = a + t * 32 * MR + r * 32 + 2 * p;
                    const uint16_t* bp = b + (t * 16 + p) * 2 * NR + 2 * j;
                    even = fma_ftz(even, ap[0], bp[0]);
                    odd = fma_ftz(odd, ap[1], bp[1]);
                }
                acc = add_ftz(acc, add_ftz(even, odd));
            }
            c[r * ldc + j] = acc;
        }
}

}  // namespace

void zero_tile_padding(void* dst, int64_t kc, int width) {
    auto* out = static_cast<uint16_t*>(dst);
    std::fill(out + (kc + 1) / 2 * 2 * width, out + (kc + 31) / 32 * 32 * width, uint16_t(0));
}

// B: the pairs of to_bf16_pairs_scalar, then zero steps up to a multiple of 32
void to_bf16_tile_pairs_scalar(const float* src, void* dst, int64_t kc, int width) {
    to_bf16_pairs_scalar(src, dst, kc, width);
    zero_tile_padding(dst, kc, width);
}

// A: dst[(k/32) * 32w + 32p + k%32] = bf16(src[k * w + p]), zero steps up to a multiple of 32
void to_bf16_tile_rows_scalar(const float* src, void* dst_, int64_t kc, int width) {
    auto* dst = static_cast<uint16_t*>(dst_);
    const int64_t kc32 = (kc + 31) / 32 * 32;
    for (int64_t k = 0; k < kc32; ++k)
        for (int p = 0; p < width; ++p)
            dst[(k / 32) * 32 * width + 32 * p + k % 32] = k < kc ? bf16_round(src[k * width + p]) : uint16_t(0);
}

const MicroKernelInfo kScalarBf16Tiles_4x4 = {"scalar_bf16tiles_4x4", ukernel_scalar_bf16tiles_4x4, MR, NR, 64, 640, 1024,
                                              PanelType::BF16_TILES, to_bf16_tile_pairs_scalar, nullptr,
                                              to_bf16_tile_rows_scalar};

}  // namespace sdref::kernels
