// ops.h: normalisations and the small tensor operations of a U-Net, VAE and transformer, on contiguous fp32.
// Reductions (means, variances, softmax sums) run in a fixed order per row or group, one thread each, so results
// are the same bits for any thread count. Images are one NCHW item: [C, H, W] with HW = H * W.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/gemm.h"

namespace sdref::kernels {

// GroupNorm over x [C, HW] in G groups of C/G channels:
//   y = (x - mean_g) / sqrt(var_g + eps) * gamma[c] + beta[c], then the activation (SiLU in ResNet blocks).
// Mean and (biased) variance per group are accumulated in double. y may alias x.
// `shared` (optional): moments that several calls share. When shared->given, mean and var are used instead of
// x's own (a tiled VAE decode normalises every tile with the statistics of the whole picture; given moments must
// have `groups` entries); otherwise x's own are stored there, with the count of values per group they came from.
struct GroupMoments {
    std::vector<double> mean, var;  // [groups]
    int64_t count = 0;              // values per group that mean and var were taken over (when not given)
    bool given = false;
};
void group_norm(const float* x, float* y, int64_t channels, int64_t hw, int64_t groups, float eps, const float* gamma,
                const float* beta, Activation activation = Activation::None, GroupMoments* shared = nullptr);

// LayerNorm over each of `rows` rows of `cols` values: y = (x - mean) / sqrt(var + eps) * gamma + beta.
void layer_norm(const float* x, float* y, int64_t rows, int64_t cols, float eps, const float* gamma, const float* beta);

// RMSNorm over each row (T5's LayerNorm, MMDiT's qk-norm): y = x / sqrt(mean(x^2) + eps) * gamma, the mean in double.
void rms_norm(const float* x, float* y, int64_t rows, int64_t cols, float eps, const float* gamma);

// softmax over each row, in place: x = e^(x - max) / sum e^(x - max).
void softmax_rows(float* x, int64_t rows, int64_t cols);

// GEGLU: x [rows, 2F] -> y [rows, F], y = x[:, :F] * gelu(x[:, F:]).
void geglu(const float* x, float* y, int64_t rows, int64_t f);

// In place activation over n values.
void activation(float* x, int64_t n, Activation act);

// Nearest-neighbour 2x upsampling: x [C, H, W] -> y [C, 2H, 2W].
void upsample_nearest_2x(const float* x, float* y, int64_t channels, int64_t h, int64_t w);

// Nearest-neighbour resize: x [C, h, w] -> y [C, H, W], source index floor(dst * in / out) (PyTorch 'nearest').
void resize_nearest(const float* x, float* y, int64_t channels, int64_t h, int64_t w, int64_t H, int64_t W);

// y[i] = a[i] + b[i];  y[i] = a[i] - b[i];  y[i] = a[i] * b[i];  y[i] = a[i] + s b[i] (a multiply, then an add:
// never fused);  y may alias a or b.
void add(const float* a, const float* b, float* y, int64_t n);
void sub(const float* a, const float* b, float* y, int64_t n);
void mul(const float* a, const float* b, float* y, int64_t n);
void add_scaled(const float* a, float s, const float* b, float* y, int64_t n);

// x[c, i] += v[c] for x [C, HW]: one value per channel (a time embedding's projection).
void add_per_channel(float* x, const float* v, int64_t channels, int64_t hw);

// x[c, i] = x >= 0 ? x : slope[c] x for x [C, HW]: PyTorch's PReLU with one slope per channel (SRVGGNetCompact).
void prelu(float* x, const float* slope, int64_t channels, int64_t hw);

// Safe Latent Diffusion's guidance term (Schramowski et al. 2023), element by element over n values, with
// d = eps - eps_concept:
//   s   = 0 where d >= threshold, else min(|d| scale, 1)
//   g   = (eps_concept - eps_uncond) s + momentum_scale m;   m <- mom_beta m + (1 - mom_beta) g
//   guidance -= g   (only when `apply`: after the warm-up steps; the momentum runs from the first)
struct SafetyGuidance {
    float threshold, scale, momentum_scale, mom_beta;
};
void safety_guidance(const float* eps, const float* eps_uncond, const float* eps_concept, float* momentum, float* guidance,
                     int64_t n, const SafetyGuidance& s, bool apply);

// Channel concatenation of two images: y [Ca + Cb, HW] = [a [Ca, HW]; b [Cb, HW]].
void concat_channels(const float* a, int64_t ca, const float* b, int64_t cb, int64_t hw, float* y);

}  // namespace sdref::kernels
