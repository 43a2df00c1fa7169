#include "pipeline/resize.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace sdref {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's fixed-point coefficients for 8-bit images
constexpr double kPi = 3.14159265358979323846;

// PIL's bicubic kernel (a = -0.5), support 2.
double bicubic(double x) {
    const double a = -0.5;
    x = std::fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

double sinc(double x) {
    if (x == 0.0) return 1.0;
    x *= kPi;
    return std::sin(x) / x;
}

// PIL's Lanczos kernel: sinc(x) sinc(x / 3) on [-3, 3).
double lanczos(double x) { return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3.0) : 0.0; }

struct Coefficients {
    int ksize = 0;
    std::vector<int> bounds;  // per output pixel: first input index, count
    std::vector<int> k;       // per output pixel: ksize fixed-point weights
};

// precompute_coeffs + normalize_coeffs_8bpc of PIL's Resample.c, for the whole input range.
Coefficients coefficients(int in_size, int out_size, ResizeFilter filter) {
    const double scale = double(in_size) / out_size;
    const double filterscale = std::max(scale, 1.0);
    const double support = (filter == ResizeFilter::Bicubic ? 2.0 : 3.0) * filterscale;
    double (*kernel)(double) = filter == ResizeFilter::Bicubic ? bicubic : lanczos;
    Coefficients c;
    c.ksize = int(std::ceil(support)) * 2 + 1;
    c.bounds.resize(size_t(out_size) * 2);
    c.k.assign(size_t(out_size) * size_t(c.ksize), 0);
    std::vector<double> w(size_t(c.ksize));
    for (int xx = 0; xx < out_size; ++xx) {
        const double center = (xx + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        int xmin = int(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = int(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; ++x) {
            w[size_t(x)] = kernel((x + xmin - center + 0.5) * ss);
            ww += w[size_t(x)];
        }
        for (int x = 0; x < xmax; ++x) {
            const double v = ww != 0.0 ? w[size_t(x)] / ww : w[size_t(x)];
            c.k[size_t(xx) * size_t(c.ksize) + size_t(x)] = v < 0 ? int(-0.5 + v * (1 << kPrecisionBits)) : int(0.5 + v * (1 << kPrecisionBits));
        }
        c.bounds[size_t(xx) * 2] = xmin;
        c.bounds[size_t(xx) * 2 + 1] = xmax;
    }
    return c;
}

uint8_t clip8(int v) {
    const int s = v >> kPrecisionBits;
    return uint8_t(std::clamp(s, 0, 255));
}

}  // namespace

Image pil_resize(const Image& in, int width, int height, ResizeFilter filter) {
    if (width < 1 || height < 1) fail("resize: the target size must be positive, got ", width, "x", height);
    const int C = in.channels;
    Image tmp = in;
    if (width != in.width) {  // horizontal pass
        const Coefficients h = coefficients(in.width, width, filter);
        tmp = Image{width, in.height, C, std::vector<uint8_t>(size_t(width) * size_t(in.height) * size_t(C))};
        for (int y = 0; y < in.height; ++y)
            for (int x = 0; x < width; ++x) {
                const int xmin = h.bounds[size_t(x) * 2], n = h.bounds[size_t(x) * 2 + 1];
                const int* k = &h.k[size_t(x) * size_t(h.ksize)];
                for (int ch = 0; ch < C; ++ch) {
                    int ss = 1 << (kPrecisionBits - 1);
                    for (int i = 0; i < n; ++i) ss += in.pixels[(size_t(y) * size_t(in.width) + size_t(xmin + i)) * size_t(C) + size_t(ch)] * k[i];
                    tmp.pixels[(size_t(y) * size_t(width) + size_t(x)) * size_t(C) + size_t(ch)] = clip8(ss);
                }
            }
    }
    if (height == tmp.height) return tmp;
    const Coefficients v = coefficients(tmp.height, height, filter);  // vertical pass
    Image out{width, height, C, std::vector<uint8_t>(size_t(width) * size_t(height) * size_t(C))};
    for (int y = 0; y < height; ++y) {
        const int ymin = v.bounds[size_t(y) * 2], n = v.bounds[size_t(y) * 2 + 1];
        const int* k = &v.k[size_t(y) * size_t(v.ksize)];
        for (int x = 0; x < width; ++x)
            for (int ch = 0; ch < C; ++ch) {
                int ss = 1 << (kPrecisionBits - 1);
                for (int i = 0; i < n; ++i) ss += tmp.pixels[(size_t(ymin + i) * size_t(width) + size_t(x)) * size_t(C) + size_t(ch)] * k[i];
                out.pixels[(size_t(y) * size_t(width) + size_t(x)) * size_t(C) + size_t(ch)] = clip8(ss);
            }
    }
    return out;
}

Tensor interpolate(const Tensor& x, int64_t height, int64_t width, Interpolation mode) {
    const int64_t C = x.dim(0), h = x.dim(1), w = x.dim(2);
    if (height < 1 || width < 1) fail("interpolate: the target size must be positive, got ", width, "x", height);
    Tensor out({C, height, width});
    // one axis: for each output index, the two source indices and the second one's weight
    struct Tap {
        int64_t i0, i1;
        float t;
    };
    auto taps = [mode](int64_t in, int64_t n) {
        std::vector<Tap> v(static_cast<size_t>(n));
        const float scale = float(in) / float(n);
        for (int64_t d = 0; d < n; ++d) {
            if (mode == Interpolation::Nearest) {
                const int64_t s = std::min(int64_t(std::floor(float(d) * scale)), in - 1);
                v[size_t(d)] = {s, s, 0.0f};
                continue;
            }
            const float s = std::max((float(d) + 0.5f) * scale - 0.5f, 0.0f);
            const int64_t i0 = std::min(int64_t(s), in - 1);
            const int64_t i1 = std::min(i0 + 1, in - 1);
            v[size_t(d)] = {i0, i1, s - float(i0)};
        }
        return v;
    };
    const std::vector<Tap> ty = taps(h, height), tx = taps(w, width);
    for (int64_t c = 0; c < C; ++c)
        for (int64_t y = 0; y < height; ++y) {
            const Tap& a = ty[size_t(y)];
            const float* r0 = x.data() + (c * h + a.i0) * w;
            const float* r1 = x.data() + (c * h + a.i1) * w;
            float* o = out.data() + (c * height + y) * width;
            for (int64_t xx = 0; xx < width; ++xx) {
                const Tap& b = tx[size_t(xx)];
                const float top = r0[b.i0] + (r0[b.i1] - r0[b.i0]) * b.t;
                const float bottom = r1[b.i0] + (r1[b.i1] - r1[b.i0]) * b.t;
                o[xx] = top + (bottom - top) * a.t;
            }
        }
    return out;
}

}  // namespace sdref
