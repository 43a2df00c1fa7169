#include "pipeline/preview.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/rng.h"

namespace sdref {

LatentPreview LatentPreview::fit(const StableDiffusionModel& model) {
    const int64_t z = model.vae().latent_channels(), n = 16, coarse = 4, s = 8;
    // a smooth field: 4x4 Gaussian noise, bilinearly upsampled to 16x16 (decoded, it looks more like an image
    // than white noise does, and the map is fitted where real latents live)
    TorchGenerator gen(0);
    const Tensor seeds = gen.randn({z, coarse, coarse});
    Tensor latents({z, n, n});
    for (int64_t c = 0; c < z; ++c)
        for (int64_t y = 0; y < n; ++y)
            for (int64_t x = 0; x < n; ++x) {
                const float fy = float(y) * float(coarse - 1) / float(n - 1), fx = float(x) * float(coarse - 1) / float(n - 1);
                const int64_t y0 = std::min(int64_t(fy), coarse - 2), x0 = std::min(int64_t(fx), coarse - 2);
                const float wy = fy - float(y0), wx = fx - float(x0);
                auto at = [&](int64_t yy, int64_t xx) { return seeds[(c * coarse + yy) * coarse + xx]; };
                latents[(c * n + y) * n + x] = (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x0 + 1)) +
                                               wy * ((1 - wx) * at(y0 + 1, x0) + wx * at(y0 + 1, x0 + 1));
            }
    Tensor scaled = latents;
    for (int64_t i = 0; i < scaled.numel(); ++i) scaled[i] /= model.info().vae_scale;
    const Tensor image = model.vae().decode(scaled);  // [3, n*s, n*s] in about [-1, 1]
    model.release_vae();
    if (image.dim(1) != n * s || image.dim(2) != n * s) fail("latent preview: the VAE does not upsample by 8");

    // least squares per colour: minimise sum (w . [l, 1] - target)^2, normal equations (X^T X + eps I) w = X^T t
    const int64_t k = z + 1, W = n * s;
    std::vector<double> xtx(size_t(k * k), 0.0), xty(size_t(3 * k), 0.0);
    for (int64_t y = 0; y < n; ++y)
        for (int64_t x = 0; x < n; ++x) {
            std::vector<double> row(size_t(k), 1.0);
            for (int64_t c = 0; c < z; ++c) row[size_t(c)] = latents[(c * n + y) * n + x];
            for (int64_t a = 0; a < k; ++a)
                for (int64_t b = 0; b < k; ++b) xtx[size_t(a * k + b)] += row[size_t(a)] * row[size_t(b)];
            for (int64_t ch = 0; ch < 3; ++ch) {
                double mean = 0;
                for (int64_t dy = 0; dy < s; ++dy)
                    for (int64_t dx = 0; dx < s; ++dx) mean += image[(ch * W + y * s + dy) * W + x * s + dx];
                mean = (mean / double(s * s)) / 2 + 0.5;  // [-1, 1] -> [0, 1]
                for (int64_t a = 0; a < k; ++a) xty[size_t(ch * k + a)] += row[size_t(a)] * mean;
            }
        }
    for (int64_t a = 0; a < k; ++a) xtx[size_t(a * k + a)] += 1e-6 * double(n * n);
    LatentPreview p;
    p.channels = z;
    p.weights.assign(size_t(3 * k), 0.0f);
    for (int64_t ch = 0; ch < 3; ++ch) {
        // Gaussian elimination with partial pivoting on a copy of the (k x k | 1) system
        std::vector<double> m = xtx, r(xty.begin() + ch * k, xty.begin() + (ch + 1) * k);
        for (int64_t col = 0; col < k; ++col) {
            int64_t piv = col;
            for (int64_t i = col + 1; i < k; ++i)
                if (std::fabs(m[size_t(i * k + col)]) > std::fabs(m[size_t(piv * k + col)])) piv = i;
            for (int64_t j = 0; j < k; ++j) std::swap(m[size_t(col * k + j)], m[size_t(piv * k + j)]);
            std::swap(r[size_t(col)], r[size_t(piv)]);
            for (int64_t i = col + 1; i < k; ++i) {
                const double f = m[size_t(i * k + col)] / m[size_t(col * k + col)];
                for (int64_t j = col; j < k; ++j) m[size_t(i * k + j)] -= f * m[size_t(col * k + j)];
                r[size_t(i)] -= f * r[size_t(col)];
            }
        }
        for (int64_t i = k; i-- > 0;) {
            double v = r[size_t(i)];
            for (int64_t j = i + 1; j < k; ++j) v -= m[size_t(i * k + j)] * double(p.weights[size_t(ch * k + j)]);
            p.weights[size_t(ch * k + i)] = float(v / m[size_t(i * k + i)]);
        }
    }
    return p;
}

Image LatentPreview::render(const Tensor& latents) const {
    const int64_t z = latents.dim(0), h = latents.dim(1), w = latents.dim(2), k = channels + 1;
    if (z != channels) fail("latent preview: fitted for ", channels, " channels, the latents have ", z);
    Image img{int(w), int(h), 3, std::vector<uint8_t>(size_t(h * w * 3))};
    for (int64_t i = 0; i < h * w; ++i)
        for (int64_t ch = 0; ch < 3; ++ch) {
            float v = weights[size_t(ch * k + z)];
            for (int64_t c = 0; c < z; ++c) v += weights[size_t(ch * k + c)] * latents[c * h * w + i];
            img.pixels[size_t(i * 3 + ch)] = uint8_t(std::nearbyint(std::min(std::max(v, 0.0f), 1.0f) * 255.0f));
        }
    return img;
}

}  // namespace sdref
