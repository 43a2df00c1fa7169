#include "pipeline/warp.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace sdref {

namespace {

std::array<double, 9> inverse(const std::array<double, 9>& m) {
    const double det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
    if (det == 0) fail("warp: the transform is singular (zoom 0?)");
    const double d = 1 / det;
    return {(m[4] * m[8] - m[5] * m[7]) * d, (m[2] * m[7] - m[1] * m[8]) * d, (m[1] * m[5] - m[2] * m[4]) * d,
            (m[5] * m[6] - m[3] * m[8]) * d, (m[0] * m[8] - m[2] * m[6]) * d, (m[2] * m[3] - m[0] * m[5]) * d,
            (m[3] * m[7] - m[4] * m[6]) * d, (m[1] * m[6] - m[0] * m[7]) * d, (m[0] * m[4] - m[1] * m[3]) * d};
}

// OpenCV's borderInterpolate for BORDER_REPLICATE and BORDER_WRAP
int border(int p, int n, WarpBorder b) {
    if (p >= 0 && p < n) return p;
    if (b == WarpBorder::Replicate) return p < 0 ? 0 : n - 1;
    p %= n;
    return p < 0 ? p + n : p;
}

// pixel value(x, y, channel) sampled at M^-1 (x, y): the position in 1/32 pixels (rounded as cvRound), bilinear
template <class Sample>
void warp_each(int width, int height, const Warp2D& w, Sample sample) {
    const std::array<double, 9> mi = inverse(w.matrix(width, height));
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            double W = mi[6] * x + mi[7] * y + mi[8];
            W = W != 0 ? 32.0 / W : 0.0;
            const double fx = std::clamp((mi[0] * x + mi[1] * y + mi[2]) * W, -2147483648.0, 2147483647.0);
            const double fy = std::clamp((mi[3] * x + mi[4] * y + mi[5]) * W, -2147483648.0, 2147483647.0);
            const long X = std::lrint(fx), Y = std::lrint(fy);
            const int ix = int(X >> 5), iy = int(Y >> 5);
            const double ax = double(X & 31) / 32, ay = double(Y & 31) / 32;
            const int x0 = border(ix, width, w.border), x1 = border(ix + 1, width, w.border);
            const int y0 = border(iy, height, w.border), y1 = border(iy + 1, height, w.border);
            sample(x, y, [&](auto at) {  // at(column, row) -> the value there
                return at(x0, y0) * (1 - ax) * (1 - ay) + at(x1, y0) * ax * (1 - ay) + at(x0, y1) * (1 - ax) * ay + at(x1, y1) * ax * ay;
            });
        }
}

}  // namespace

std::array<double, 9> Warp2D::matrix(int width, int height) const {
    const double cx = double(float(width * center_x)), cy = double(float(height * center_y));  // (cv::Point2f)
    const double rad = angle * M_PI / 180, a = zoom * std::cos(rad), b = zoom * std::sin(rad);
    const double r[9] = {a, b, (1 - a) * cx - b * cy, -b, a, b * cx + (1 - a) * cy, 0, 0, 1};
    const double t[9] = {1, 0, double(float(tx)), 0, 1, double(float(ty)), 0, 0, 1};
    std::array<double, 9> m{};
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
            for (int k = 0; k < 3; ++k) m[size_t(i * 3 + j)] += r[i * 3 + k] * t[k * 3 + j];
    return m;
}

Image warp_2d(const Image& in, const Warp2D& w) {
    if (in.channels != 3 || in.width < 1 || in.height < 1) fail("warp: an RGB picture is needed");
    Image out{in.width, in.height, 3, std::vector<uint8_t>(in.pixels.size())};
    warp_each(in.width, in.height, w, [&](int x, int y, auto bilinear) {
        for (int c = 0; c < 3; ++c) {
            const double v = bilinear([&](int px, int py) { return double(in.pixels[(size_t(py) * in.width + px) * 3 + c]); });
            // OpenCV's 8-bit weights are these products times 2^15 exactly, its sum rounded half up
            out.pixels[(size_t(y) * in.width + x) * 3 + c] = uint8_t(std::clamp(std::floor(v + 0.5), 0.0, 255.0));
        }
    });
    return out;
}

std::vector<float> warp_2d(const std::vector<float>& in, int width, int height, const Warp2D& w) {
    std::vector<float> out(in.size());
    warp_each(width, height, w, [&](int x, int y, auto bilinear) {
        for (int c = 0; c < 3; ++c)
            out[(size_t(y) * width + x) * 3 + c] = float(bilinear([&](int px, int py) { return double(in[(size_t(py) * width + px) * 3 + c]); }));
    });
    return out;
}

// ---- colour coherence -----------------------------------------------------------------------------------------

namespace {

constexpr double kXn = 0.950456, kZn = 1.088754;  // D65 white, as OpenCV's Lab
double srgb_to_linear(double v) { return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4); }
double linear_to_srgb(double v) { return v <= 0.0031308 ? 12.92 * v : 1.055 * std::pow(v, 1 / 2.4) - 0.055; }
double lab_f(double t) { return t > 0.008856 ? std::cbrt(t) : 7.787 * t + 16.0 / 116; }
uint8_t to_u8(double v) { return uint8_t(std::clamp(std::lrint(v), 0L, 255L)); }

}  // namespace

Image rgb_to_lab8(const Image& rgb) {
    Image lab = rgb;
    for (size_t i = 0; i < rgb.pixels.size(); i += 3) {
        const double r = srgb_to_linear(rgb.pixels[i] / 255.0), g = srgb_to_linear(rgb.pixels[i + 1] / 255.0),
                     b = srgb_to_linear(rgb.pixels[i + 2] / 255.0);
        const double X = (0.412453 * r + 0.357580 * g + 0.180423 * b) / kXn, Y = 0.212671 * r + 0.715160 * g + 0.072169 * b,
                     Z = (0.019334 * r + 0.119193 * g + 0.950227 * b) / kZn;
        const double L = Y > 0.008856 ? 116 * std::cbrt(Y) - 16 : 903.3 * Y;
        lab.pixels[i] = to_u8(L * 255 / 100);
        lab.pixels[i + 1] = to_u8(500 * (lab_f(X) - lab_f(Y)) + 128);
        lab.pixels[i + 2] = to_u8(200 * (lab_f(Y) - lab_f(Z)) + 128);
    }
    return lab;
}

Image lab8_to_rgb(const Image& lab) {
    Image rgb = lab;
    auto finv = [](double f) { return f * f * f > 0.008856 ? f * f * f : (f - 16.0 / 116) / 7.787; };
    for (size_t i = 0; i < lab.pixels.size(); i += 3) {
        const double L = lab.pixels[i] * 100.0 / 255, a = lab.pixels[i + 1] - 128.0, b = lab.pixels[i + 2] - 128.0;
        const double Y = L <= 8 ? L / 903.3 : std::pow((L + 16) / 116, 3);
        const double fy = L <= 8 ? 7.787 * Y + 16.0 / 116 : (L + 16) / 116;
        const double X = finv(fy + a / 500) * kXn, Z = finv(fy - b / 200) * kZn;
        rgb.pixels[i] = to_u8(255 * linear_to_srgb(std::clamp(3.240479 * X - 1.53715 * Y - 0.498535 * Z, 0.0, 1.0)));
        rgb.pixels[i + 1] = to_u8(255 * linear_to_srgb(std::clamp(-0.969256 * X + 1.875991 * Y + 0.041556 * Z, 0.0, 1.0)));
        rgb.pixels[i + 2] = to_u8(255 * linear_to_srgb(std::clamp(0.055648 * X - 0.204043 * Y + 1.057311 * Z, 0.0, 1.0)));
    }
    return rgb;
}

// Per channel: a source value's quantile (the share of pixels at or below it) mapped through the reference's
// quantiles of its present values (np.interp), truncated to 8 bits.
Image match_histograms(const Image& source, const Image& reference) {
    if (source.channels != reference.channels) fail("match_histograms: the pictures have different channels");
    Image out = source;
    const int C = source.channels;
    const size_t n = source.pixels.size() / size_t(C), m = reference.pixels.size() / size_t(C);
    for (int c = 0; c < C; ++c) {
        std::array<double, 256> src_count{}, ref_count{};
        for (size_t i = 0; i < n; ++i) ++src_count[source.pixels[i * C + c]];
        for (size_t i = 0; i < m; ++i) ++ref_count[reference.pixels[i * C + c]];
        std::vector<double> ref_values, ref_quantiles;
        double sum = 0;
        for (int v = 0; v < 256; ++v)
            if (ref_count[v] > 0) sum += ref_count[v], ref_values.push_back(v), ref_quantiles.push_back(sum / double(m));
        std::array<uint8_t, 256> map{};
        sum = 0;
        for (int v = 0; v < 256; ++v) {
            sum += src_count[v];
            const double q = sum / double(n);
            // np.interp(q, ref_quantiles, ref_values): clamped at both ends
            double mapped;
            if (q <= ref_quantiles.front()) mapped = ref_values.front();
            else if (q >= ref_quantiles.back()) mapped = ref_values.back();
            else {
                const size_t j = size_t(std::upper_bound(ref_quantiles.begin(), ref_quantiles.end(), q) - ref_quantiles.begin());
                const double slope = (ref_values[j] - ref_values[j - 1]) / (ref_quantiles[j] - ref_quantiles[j - 1]);
                mapped = slope * (q - ref_quantiles[j - 1]) + ref_values[j - 1];
            }
            map[size_t(v)] = uint8_t(std::clamp(mapped, 0.0, 255.0));  // (truncated, as numpy's astype(uint8))
        }
        for (size_t i = 0; i < n; ++i) out.pixels[i * C + c] = map[source.pixels[i * C + c]];
    }
    return out;
}

Image match_colors_lab(const Image& frame, const Image& first) {
    return lab8_to_rgb(match_histograms(rgb_to_lab8(frame), rgb_to_lab8(first)));
}

}  // namespace sdref
