#include "pipeline/preview.h"

#include <algorithm>
#include <cmath>

#include <random>

#include "core/error.h"

namespace sdref {

LatentPreview LatentPreview::for_model(const StableDiffusionModel& model) {
    const std::optional<LatentPreview> p = published(*model.info().family, model.vae().latent_channels(), model.vae().decoder_width());
    return p ? *p : fit(model);
}

std::optional<LatentPreview> LatentPreview::published(const FamilySpec& family, int64_t latent_channels, int64_t decoder_width) {
    // (the factors are for the family's own VAE: its latent channels, its decoder's width)
    const float(*f)[3] = family.preview_factors;
    const int64_t z = family.latent_channels;
    if (!f || latent_channels != z || decoder_width != family.preview_vae_width) return std::nullopt;
    LatentPreview p;
    p.channels = z;
    p.weights.assign(size_t(3 * (z + 1)), 0.5f);  // b = 1/2 in the last column
    for (int64_t ch = 0; ch < 3; ++ch)
        for (int64_t c = 0; c < z; ++c) p.weights[size_t(ch * (z + 1) + c)] = f[c][ch] / 2;
    return p;
}

LatentPreview LatentPreview::fit(const StableDiffusionModel& model) {
    const int64_t n = 16, s = 8, W = n * s, blocks = 4;
    // a picture of 4x4 flat patches of random colours, each with a gentle gradient: encoded by the VAE, its latents
    // are the kind a finished picture has, and every latent pixel's colour is known
    std::mt19937 gen(0);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    std::vector<float> colours(size_t(blocks * blocks * 3));
    for (float& c : colours) c = uniform(gen);
    Tensor image({3, W, W});
    for (int64_t y = 0; y < W; ++y)
        for (int64_t x = 0; x < W; ++x) {
            const int64_t b = (y * blocks / W) * blocks + x * blocks / W;
            const float ramp = 0.15f * (float(x % (W / blocks)) / float(W / blocks) - 0.5f);
            for (int64_t c = 0; c < 3; ++c) {
                const float v = std::min(std::max(colours[size_t(b * 3 + c)] + ramp, 0.0f), 1.0f);
                image[(c * W + y) * W + x] = 2 * v - 1;
            }
        }
    Tensor latents = model.vae().encode(image).mean;  // [z, n, n]
    model.release(StableDiffusionModel::Part::Vae);
    if (latents.dim(1) != n || latents.dim(2) != n) fail("latent preview: the VAE does not downsample by 8");
    const DenoiserInfo& info = model.denoiser().info();
    for (int64_t i = 0; i < latents.numel(); ++i) latents[i] = (latents[i] - info.vae_shift) * info.vae_scale;
    for (int64_t i = 0; i < image.numel(); ++i) image[i] = image[i] / 2 + 0.5f;  // the [0, 1] of a decoded picture
    return fit(latents, image);
}

LatentPreview LatentPreview::fit(const Tensor& latents, const Tensor& image) {
    const int64_t z = latents.dim(0), h = latents.dim(1), w = latents.dim(2), s = 8, W = image.dim(2);
    if (image.dim(1) != h * s || W != w * s) fail("latent preview: the image is not 8 times the latents' size");
    // least squares per colour: minimise sum (w . [l, 1] - target)^2, normal equations (X^T X + eps I) w = X^T t
    const int64_t k = z + 1;
    std::vector<double> xtx(size_t(k * k), 0.0), xty(size_t(3 * k), 0.0);
    for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
            std::vector<double> row(size_t(k), 1.0);
            for (int64_t c = 0; c < z; ++c) row[size_t(c)] = latents[(c * h + y) * w + x];
            for (int64_t a = 0; a < k; ++a)
                for (int64_t b = 0; b < k; ++b) xtx[size_t(a * k + b)] += row[size_t(a)] * row[size_t(b)];
            for (int64_t ch = 0; ch < 3; ++ch) {
                double mean = 0;
                for (int64_t dy = 0; dy < s; ++dy)
                    for (int64_t dx = 0; dx < s; ++dx) mean += image[(ch * W + y * s + dy) * W + x * s + dx];
                mean = mean / double(s * s);
                for (int64_t a = 0; a < k; ++a) xty[size_t(ch * k + a)] += row[size_t(a)] * mean;
            }
        }
    for (int64_t a = 0; a < k; ++a) xtx[size_t(a * k + a)] += 1e-6 * double(h * w);
    LatentPreview p;
    p.channels = z;
    p.fitted = true;
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
