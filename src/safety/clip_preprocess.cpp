#include "safety/clip_preprocess.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace sdref {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's fixed-point coefficients for 8-bit images

// PIL's bicubic kernel (a = -0.5), support 2.
double bicubic(double x) {
    const double a = -0.5;
    x = std::fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

struct Coefficients {
    int ksize = 0;
    std::vector<int> bounds;  // per output pixel: first input index, count
    std::vector<int> k;       // per output pixel: ksize fixed-point weights
};

// precompute_coeffs + normalize_coeffs_8bpc of PIL's Resample.c, for the whole input range.
Coefficients coefficients(int in_size, int out_size) {
    const double scale = double(in_size) / out_size;
    const double filterscale = std::max(scale, 1.0);
    const double support = 2.0 * filterscale;
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
            w[size_t(x)] = bicubic((x + xmin - center + 0.5) * ss);
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

Image pil_resize_bicubic(const Image& in, int width, int height) {
    const int C = in.channels;
    Image tmp = in;
    if (width != in.width) {  // horizontal pass
        const Coefficients h = coefficients(in.width, width);
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
    const Coefficients v = coefficients(tmp.height, height);  // vertical pass
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

Tensor clip_preprocess(const Image& image, int size) {
    if (image.channels != 3) fail("CLIP preprocessing expects an RGB image");
    const int short_side = std::min(image.width, image.height), long_side = std::max(image.width, image.height);
    const int long_new = int(std::lround(double(size) * long_side / short_side));  // 128x96 -> 299x224, as the reference
    const int W = image.width <= image.height ? size : long_new, H = image.width <= image.height ? long_new : size;
    const Image r = pil_resize_bicubic(image, W, H);
    const int top = (H - size) / 2, left = (W - size) / 2;
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float stdev[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    Tensor t({3, size, size});
    for (int c = 0; c < 3; ++c)
        for (int y = 0; y < size; ++y)
            for (int x = 0; x < size; ++x) {
                const float v = float(r.pixels[(size_t(y + top) * size_t(W) + size_t(x + left)) * 3 + size_t(c)]) / 255.0f;
                t[(int64_t(c) * size + y) * size + x] = (v - mean[c]) / stdev[c];
            }
    return t;
}

}  // namespace sdref
