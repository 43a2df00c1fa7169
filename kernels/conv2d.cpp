#include "kernels/conv2d.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/profile.h"
#include "kernels/weight_panels.h"

namespace sdref::kernels {

namespace {

// A piece of the packed pixels that lies in one output row and one panel: `len` pixels from output (oy, ox),
// written from float `offset` of each packed k row (panel q, column p: offset = q * kc * width + p).
struct Segment {
    int64_t offset, oy, ox, len;
};

// Copies n floats where n is the panel width (16 or 32): a few vector moves instead of a memcpy call.
inline void copy_panel_row(float* out, const float* src, int64_t n) {
    if (n == 32) std::memcpy(out, src, 32 * sizeof(float));
    else if (n == 16) std::memcpy(out, src, 16 * sizeof(float));
    else std::memcpy(out, src, size_t(n) * sizeof(float));
}

}  // namespace

// k outer, pixels inner: for each tap (ci, ky, kx) every segment copies a stretch of one input row, so the
// image is read row by row, in the order the hardware prefetcher follows, and the 3 taps kx of a row hit L1.
void Im2colSource::pack(float* dst, int64_t k0, int64_t kc, int64_t w0, int64_t w, int width) const {
    const int64_t K = s_.kernel, OW = s_.out_width(), H = s_.height, W = s_.width, S = s_.stride, P = s_.padding;
    const int64_t image_size = s_.in_channels * H * W;
    static thread_local std::vector<Segment> segments;
    segments.clear();
    for (int64_t p = 0; p < w;) {
        const int64_t oy = (w0 + p) / OW, ox = (w0 + p) % OW, col = p % width;
        const int64_t len = std::min({w - p, OW - ox, width - col});
        segments.push_back({(p / width) * kc * width + col, oy, ox, len});
        p += len;
    }
    const int64_t panels = (w + width - 1) / width, tail = panels * width - w;  // zero columns of the last panel
    float* const last_panel = dst + (panels - 1) * kc * width;

    int64_t ci = k0 / (K * K), ky = (k0 / K) % K, kx = k0 % K;  // the tap of row k0, advanced incrementally
    for (int64_t k = 0; k < kc; ++k) {
        const float* plane = image_ + ci * H * W;
        float* const row = dst + k * width;
        for (const Segment& seg : segments) {
            float* out = row + seg.offset;
            const int64_t iy = seg.oy * S - P + ky;
            if (iy < 0 || iy >= H) {
                std::fill(out, out + seg.len, 0.0f);
            } else if (S == 1) {
                // input columns ix = ox + q - P + kx, zero outside [0, W)
                const int64_t ix0 = seg.ox - P + kx;
                const int64_t q_begin = std::clamp<int64_t>(-ix0, 0, seg.len), q_end = std::clamp<int64_t>(W - ix0, 0, seg.len);
                const int64_t first = (ci * H + iy) * W + ix0;  // of the whole copy, in the image
                if (first >= 0 && first + seg.len <= image_size) {
                    // one copy of the whole stretch (at the left and right borders it reads into the neighbouring
                    // row, still inside the image), then the pixels outside the row are zeroed
                    copy_panel_row(out, image_ + first, seg.len);
                    for (int64_t q = 0; q < q_begin; ++q) out[q] = 0.0f;
                    for (int64_t q = std::max(q_begin, q_end); q < seg.len; ++q) out[q] = 0.0f;
                } else {
                    const float* src = plane + iy * W + ix0;
                    for (int64_t q = 0; q < seg.len; ++q) out[q] = (q >= q_begin && q < q_end) ? src[q] : 0.0f;
                }
            } else {
                const float* src = plane + iy * W;
                for (int64_t q = 0; q < seg.len; ++q) {
                    const int64_t ix = (seg.ox + q) * S - P + kx;
                    out[q] = (ix >= 0 && ix < W) ? src[ix] : 0.0f;
                }
            }
        }
        std::fill(last_panel + k * width + (width - tail), last_panel + k * width + width, 0.0f);
        if (++kx == K) {
            kx = 0;
            if (++ky == K) ky = 0, ++ci;
        }
    }
}

void conv2d(const Conv2dShape& s, const float* in, const void* weight, ElemType weight_type, float* out,
            const GemmEpilogue& epilogue, Precision precision, WeightPanels* panels) {
    const int64_t M = s.out_channels, N = s.out_height() * s.out_width();
    const int64_t K = s.in_channels * s.kernel * s.kernel;
    const ProfileScope profile(s.kernel == 1 ? ProfileKind::Conv1x1 : ProfileKind::Conv3x3, 2.0 * double(M) * double(N) * double(K));
    const WeightSource a({weight, weight_type, 1, K}, K, M, panels);
    if (s.kernel == 1 && s.stride == 1 && s.padding == 0 && s.pad_end() == 0) {
        gemm(M, N, K, a, StridedSource({in, ElemType::F32, N, 1}), out, N, epilogue, precision);
    } else {
        gemm(M, N, K, a, Im2colSource(s, in), out, N, epilogue, precision);
    }
}

}  // namespace sdref::kernels
