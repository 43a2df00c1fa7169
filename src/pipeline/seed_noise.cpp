#include "pipeline/seed_noise.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/philox.h"

namespace sdref {

std::unique_ptr<NoiseSource> make_noise_source(NoiseRng rng, uint64_t seed) {
    if (rng == NoiseRng::Cuda) return std::make_unique<PhiloxGenerator>(seed);
    return std::make_unique<TorchGenerator>(seed);
}

Tensor slerp(float val, const Tensor& low, const Tensor& high) {
    const int64_t C = low.dim(0), H = low.dim(1), W = low.dim(2);
    // dot[c, w] of the H-normalised columns
    std::vector<double> dot(size_t(C * W));
    for (int64_t c = 0; c < C; ++c)
        for (int64_t w = 0; w < W; ++w) {
            double nl = 0, nh = 0, lh = 0;
            for (int64_t h = 0; h < H; ++h) {
                const double a = low[(c * H + h) * W + w], b = high[(c * H + h) * W + w];
                nl += a * a, nh += b * b, lh += a * b;
            }
            dot[size_t(c * W + w)] = lh / (std::sqrt(nl) * std::sqrt(nh));
        }
    double mean = 0;
    for (double d : dot) mean += d;
    mean /= double(dot.size());
    Tensor out(low.shape());
    for (int64_t c = 0; c < C; ++c)
        for (int64_t w = 0; w < W; ++w) {
            double a = double(val), b = 1.0 - double(val);  // the nearly parallel branch: low v + high (1 - v)
            if (!(mean > 0.9995)) {
                const double omega = std::acos(dot[size_t(c * W + w)]), so = std::sin(omega);
                a = std::sin((1.0 - double(val)) * omega) / so, b = std::sin(double(val) * omega) / so;
            }
            for (int64_t h = 0; h < H; ++h) {
                const int64_t i = (c * H + h) * W + w;
                out[i] = float(a * double(low[i]) + b * double(high[i]));
            }
        }
    return out;
}

Tensor seed_noise(std::unique_ptr<NoiseSource>& gen, NoiseRng rng, uint64_t seed, const SeedVariation& v, const Shape& shape) {
    const bool resized = v.resize_width > 0 && v.resize_height > 0;
    const Shape noise_shape = resized ? Shape{shape[0], v.resize_height / 8, v.resize_width / 8} : shape;
    const Tensor subnoise = v.strength != 0.0f ? make_noise_source(rng, v.subseed)->randn(noise_shape) : Tensor();
    Tensor noise = resized ? make_noise_source(rng, seed)->randn(noise_shape) : gen->randn(shape);
    if (v.strength != 0.0f) noise = slerp(v.strength, noise, subnoise);
    if (resized) {
        // pasted centred into the picture's own full-size draw (a negative offset crops the smaller draw instead)
        Tensor x = gen->randn(shape);
        const int64_t H = shape[1], W = shape[2], h0 = noise_shape[1], w0 = noise_shape[2];
        int64_t dx = (W - w0) >= 0 ? (W - w0) / 2 : -((w0 - W + 1) / 2), dy = (H - h0) >= 0 ? (H - h0) / 2 : -((h0 - H + 1) / 2);
        const int64_t w = dx >= 0 ? w0 : w0 + 2 * dx, h = dy >= 0 ? h0 : h0 + 2 * dy;
        const int64_t tx = std::max<int64_t>(dx, 0), ty = std::max<int64_t>(dy, 0);
        dx = std::max<int64_t>(-dx, 0), dy = std::max<int64_t>(-dy, 0);
        for (int64_t c = 0; c < shape[0]; ++c)
            for (int64_t y = 0; y < h; ++y)
                for (int64_t i = 0; i < w; ++i) x[(c * H + ty + y) * W + tx + i] = noise[(c * h0 + dy + y) * w0 + dx + i];
        noise = std::move(x);
    }
    if (v.eta_noise_seed_delta) gen = make_noise_source(rng, seed + v.eta_noise_seed_delta);
    return noise;
}

}  // namespace sdref
