// transpose.h: an 8 x 8 block transpose of floats in registers, for the packing routines that turn rows into
// columns (K-contiguous GEMM operands, attention's Q^T and O^T). Written with GCC's generic vector extensions:
// the compiler lowers the shuffles to the target's own (unpck/shufps/vperm2f128 with AVX, pairs of 4-wide
// shuffles with SSE2 or NEON), so one portable definition serves every ISA.
//
//   dst[c * dst_stride + r] = src[r * src_stride + c]     for r, c < 8
#pragma once

#include <cstdint>
#include <cstring>

namespace sdref::kernels {

typedef float Float8 __attribute__((vector_size(32)));
typedef int Int8 __attribute__((vector_size(32)));

inline void transpose_8x8(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
    Float8 r[8], t[8];
    for (int i = 0; i < 8; ++i) std::memcpy(&r[i], src + i * src_stride, sizeof(Float8));
    // interleave pairs of rows, then pairs of pairs, then the two 4 x 4 halves
    for (int i = 0; i < 8; i += 2) {
        t[i] = __builtin_shuffle(r[i], r[i + 1], Int8{0, 8, 1, 9, 4, 12, 5, 13});
        t[i + 1] = __builtin_shuffle(r[i], r[i + 1], Int8{2, 10, 3, 11, 6, 14, 7, 15});
    }
    for (int i = 0; i < 8; i += 4)
        for (int j = 0; j < 2; ++j) {
            r[i + j] = __builtin_shuffle(t[i + j], t[i + j + 2], Int8{0, 1, 8, 9, 4, 5, 12, 13});
            r[i + j + 2] = __builtin_shuffle(t[i + j], t[i + j + 2], Int8{2, 3, 10, 11, 6, 7, 14, 15});
        }
    // r now holds, per 128-bit half, columns 0,2,1,3 of rows 0-3 (r[0..3]) and rows 4-7 (r[4..7])
    const int order[4] = {0, 2, 1, 3};
    for (int i = 0; i < 4; ++i) {
        t[i] = __builtin_shuffle(r[i], r[i + 4], Int8{0, 1, 2, 3, 8, 9, 10, 11});
        t[i + 4] = __builtin_shuffle(r[i], r[i + 4], Int8{4, 5, 6, 7, 12, 13, 14, 15});
        std::memcpy(dst + order[i] * dst_stride, &t[i], sizeof(Float8));
        std::memcpy(dst + (order[i] + 4) * dst_stride, &t[i + 4], sizeof(Float8));
    }
}

}  // namespace sdref::kernels
