// ukernel_scalar_4x4.cpp: the portable micro-kernel and the test oracle of the SIMD ones: the same FMA chain
// (std::fma rounds once, like the hardware instruction), one element at a time.
#include <cmath>

#include "kernels/ukernel.h"

namespace sdref::kernels {

namespace {

constexpr int MR = 4, NR = 4;

void ukernel_scalar_4x4(int64_t kc, const void* a_, const void* b_, float* c, int64_t ldc, bool load_c) {
    const float* a = static_cast<const float*>(a_);
    const float* b = static_cast<const float*>(b_);
    float acc[MR][NR];
    for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NR; ++j) acc[r][j] = load_c ? c[r * ldc + j] : 0.0f;
    for (int64_t k = 0; k < kc; ++k)
        for (int r = 0; r < MR; ++r)
            for (int j = 0; j < NR; ++j) acc[r][j] = std::fma(a[k * MR + r], b[k * NR + j], acc[r][j]);
    for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NR; ++j) c[r * ldc + j] = acc[r][j];
}

}  // namespace

const MicroKernelInfo kScalar4x4 = {"scalar_4x4", ukernel_scalar_4x4, MR, NR, 64, 256, 1024};

}  // namespace sdref::kernels
