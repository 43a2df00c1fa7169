#include "kernels/conv2d.h"

#include <algorithm>
#include <cstring>

namespace sdref::kernels {

namespace {

// A copy of a compile-time count of floats: the compiler emits a few vector moves instead of a memcpy call.
template <int N>
inline void copy_fixed(float* out, const float* src) {
    for (int i = 0; i < N; ++i) out[i] = src[i];
}

}  // namespace

void Im2colSource::pack(float* dst, int64_t k0, int64_t kc, int64_t w0, int64_t w, int width) const {
    const int64_t K = s_.kernel, OW = s_.out_width(), H = s_.height, W = s_.width;
    // The panel's pixels w0 .. w0+w-1 as runs along output rows: (first pixel p, output row oy, column ox, length)
    struct Run {
        int64_t p, oy, ox, len;
    };
    Run runs[8];
    int n_runs = 0;
    bool simple = true;
    for (int64_t p = 0, oy = w0 / OW, ox = w0 % OW; p < w && simple; ++oy, ox = 0) {
        const int64_t len = std::min(w - p, OW - ox);
        if (n_runs == 8) simple = false;
        else runs[n_runs++] = {p, oy, ox, len};
        p += len;
    }
    int64_t ci = k0 / (K * K), ky = (k0 / K) % K, kx = k0 % K;  // the tap of row k0, advanced incrementally
    for (int64_t k = 0; k < kc; ++k) {
        const float* plane = image_ + ci * H * W;
        float* row = dst + k * width;
        if (simple) {
            for (int r = 0; r < n_runs; ++r) {
                const Run& run = runs[r];
                float* out = row + run.p;
                const int64_t iy = run.oy * s_.stride - s_.padding + ky;
                if (iy < 0 || iy >= H) {
                    std::fill(out, out + run.len, 0.0f);
                } else if (s_.stride == 1) {
                    // input columns ix = ox + q - padding + kx: one contiguous copy between the zero margins
                    const int64_t ix0 = run.ox - s_.padding + kx;
                    const int64_t q_begin = std::clamp<int64_t>(-ix0, 0, run.len), q_end = std::clamp<int64_t>(W - ix0, 0, run.len);
                    // an inline loop, not memcpy: the runs are short (one panel, 32 floats) and there are millions
                    const float* src = plane + iy * W + ix0;
                    // Whole panels (16 or 32 pixels) copy with fixed-size moves; at the left and right image borders
                    // the copy reads into the neighbouring row (still inside the image buffer) and the pixels
                    // outside the row are then zeroed.
                    const int64_t first = (ci * H + iy) * W + ix0;  // of the copy, in the whole image
                    const bool in_buffer = first >= 0 && first + run.len <= s_.in_channels * H * W;
                    if ((run.len == 32 || run.len == 16) && in_buffer && q_end > q_begin) {
                        if (run.len == 32) copy_fixed<32>(out, src);
                        else copy_fixed<16>(out, src);
                        for (int64_t q = 0; q < q_begin; ++q) out[q] = 0.0f;
                        for (int64_t q = q_end; q < run.len; ++q) out[q] = 0.0f;
                    } else {
                        for (int64_t q = 0; q < q_begin; ++q) out[q] = 0.0f;
                        for (int64_t q = q_begin; q < q_end; ++q) out[q] = src[q];
                        for (int64_t q = std::max(q_begin, q_end); q < run.len; ++q) out[q] = 0.0f;
                    }
                } else {
                    const float* src = plane + iy * W;
                    for (int64_t q = 0; q < run.len; ++q) {
                        const int64_t ix = (run.ox + q) * s_.stride - s_.padding + kx;
                        out[q] = (ix >= 0 && ix < W) ? src[ix] : 0.0f;
                    }
                }
            }
        } else {
            // a panel spanning many short output rows: pixel by pixel
            for (int64_t p = 0; p < w; ++p) {
                const int64_t oy = (w0 + p) / OW, ox = (w0 + p) % OW;
                const int64_t iy = oy * s_.stride - s_.padding + ky, ix = ox * s_.stride - s_.padding + kx;
                row[p] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? plane[iy * W + ix] : 0.0f;
            }
        }
        std::fill(row + w, row + width, 0.0f);
        if (++kx == K) {
            kx = 0;
            if (++ky == K) ky = 0, ++ci;
        }
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
