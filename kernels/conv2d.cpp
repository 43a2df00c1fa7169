#include "kernels/conv2d.h"

#include <algorithm>
#include <cstring>

namespace sdref::kernels {

void Im2colSource::pack(float* dst, int64_t k0, int64_t kc, int64_t w0, int64_t w, int width) const {
    const int64_t KK = s_.kernel * s_.kernel, OW = s_.out_width(), H = s_.height, W = s_.width;
    for (int64_t k = 0; k < kc; ++k) {
        // row k of X: input channel ci, kernel tap (ky, kx)
        const int64_t ci = (k0 + k) / KK, tap = (k0 + k) % KK, ky = tap / s_.kernel, kx = tap % s_.kernel;
        const float* plane = image_ + ci * H * W;
        float* row = dst + k * width;
        int64_t oy = w0 / OW, ox = w0 % OW;
        for (int64_t p = 0; p < w;) {
            // the run of output pixels p.. that lie on output row oy
            const int64_t run = std::min(w - p, OW - ox);
            const int64_t iy = oy * s_.stride - s_.padding + ky;
            if (iy < 0 || iy >= H) {
                std::fill(row + p, row + p + run, 0.0f);
            } else if (s_.stride == 1) {
                // input columns ix = ox + q - padding + kx: one contiguous copy between the zero margins
                const int64_t ix0 = ox - s_.padding + kx;
                const int64_t q_begin = std::clamp<int64_t>(-ix0, 0, run), q_end = std::clamp<int64_t>(W - ix0, 0, run);
                std::fill(row + p, row + p + q_begin, 0.0f);
                if (q_end > q_begin)
                    std::memcpy(row + p + q_begin, plane + iy * W + ix0 + q_begin, size_t(q_end - q_begin) * 4);
                std::fill(row + p + std::max(q_begin, q_end), row + p + run, 0.0f);
            } else {
                for (int64_t q = 0; q < run; ++q) {
                    const int64_t ix = (ox + q) * s_.stride - s_.padding + kx;
                    row[p + q] = (ix >= 0 && ix < W) ? plane[iy * W + ix] : 0.0f;
                }
            }
            p += run;
            ox = 0;
            ++oy;
        }
        std::fill(row + w, row + width, 0.0f);
    }
}

void conv2d(const Conv2dShape& s, const float* in, const void* weight, ElemType weight_type, float* out,
            const GemmEpilogue& epilogue) {
    const int64_t M = s.out_channels, N = s.out_height() * s.out_width();
    const int64_t K = s.in_channels * s.kernel * s.kernel;
    const StridedSource a({weight, weight_type, 1, K});
    if (s.kernel == 1 && s.stride == 1 && s.padding == 0 && s.pad_end() == 0) {
        gemm(M, N, K, a, StridedSource({in, ElemType::F32, N, 1}), out, N, epilogue);
    } else {
        gemm(M, N, K, a, Im2colSource(s, in), out, N, epilogue);
    }
}

}  // namespace sdref::kernels
