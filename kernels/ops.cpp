#include "kernels/ops.h"

#include <cmath>
#include <algorithm>
#include <cstring>

#include "kernels/eltwise.h"
#include "kernels/profile.h"

namespace sdref::kernels {

namespace {

// mean and biased variance of n values, accumulated in double in index order.
void moments(const float* x, int64_t n, double* mean, double* var) {
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; ++i) sum += x[i];
    *mean = sum / double(n);
    for (int64_t i = 0; i < n; ++i) {
        const double d = x[i] - *mean;
        sq += d * d;
    }
    *var = sq / double(n);
}

}  // namespace

void group_norm(const float* x, float* y, int64_t channels, int64_t hw, int64_t groups, float eps, const float* gamma,
                const float* beta, Activation act, GroupMoments* shared) {
    const ProfileScope profile(ProfileKind::GroupNorm, 0);
    const int64_t per_group = channels / groups;
    const bool given = shared && shared->given;
    if (shared && !given) {
        shared->mean.assign(size_t(groups), 0.0), shared->var.assign(size_t(groups), 0.0);
        shared->count = per_group * hw;
    }
#pragma omp parallel for schedule(dynamic) num_threads(threads_for(channels * hw))
    for (int64_t g = 0; g < groups; ++g) {
        double mean, var;
        if (given) {
            mean = shared->mean[size_t(g)], var = shared->var[size_t(g)];
        } else {
            moments(x + g * per_group * hw, per_group * hw, &mean, &var);
            if (shared) shared->mean[size_t(g)] = mean, shared->var[size_t(g)] = var;
        }
        const float inv = float(1.0 / std::sqrt(var + eps));
        for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) {
            // y = (x - mean) * (inv * gamma) + beta
            const float scale = inv * gamma[c], shift = beta[c] - float(mean) * scale;
            const float* xc = x + c * hw;
            float* yc = y + c * hw;
            for (int64_t i = 0; i < hw; ++i) yc[i] = xc[i] * scale + shift;
            eltwise().activation(yc, hw, act);
        }
    }
}

void rms_norm(const float* x, float* y, int64_t rows, int64_t cols, float eps, const float* gamma) {
    const ProfileScope profile(ProfileKind::LayerNorm, 0);
#pragma omp parallel for schedule(dynamic) num_threads(threads_for(rows * cols))
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * cols;
        double sq = 0;
        for (int64_t i = 0; i < cols; ++i) sq += double(xr[i]) * double(xr[i]);
        const float inv = float(1.0 / std::sqrt(sq / double(cols) + eps));
        float* yr = y + r * cols;
        for (int64_t i = 0; i < cols; ++i) yr[i] = xr[i] * inv * gamma[i];
    }
}

void layer_norm(const float* x, float* y, int64_t rows, int64_t cols, float eps, const float* gamma, const float* beta) {
    const ProfileScope profile(ProfileKind::LayerNorm, 0);
#pragma omp parallel for schedule(dynamic) num_threads(threads_for(rows * cols))
    for (int64_t r = 0; r < rows; ++r) {
        double mean, var;
        moments(x + r * cols, cols, &mean, &var);
        const float inv = float(1.0 / std::sqrt(var + eps)), m = float(mean);
        const float* xr = x + r * cols;
        float* yr = y + r * cols;
        for (int64_t i = 0; i < cols; ++i) yr[i] = (xr[i] - m) * inv * gamma[i] + beta[i];
    }
}

void softmax_rows(float* x, int64_t rows, int64_t cols) {
    const ProfileScope profile(ProfileKind::Elementwise, 0);
    const EltwiseKernels& ew = eltwise();
#pragma omp parallel for schedule(dynamic) num_threads(threads_for(rows * cols))
    for (int64_t r = 0; r < rows; ++r) {
        float* row = x + r * cols;
        const float inv = 1.0f / ew.exp_shift_sum(row, cols, ew.max(row, cols));
        for (int64_t i = 0; i < cols; ++i) row[i] *= inv;
    }
}

void geglu(const float* x, float* y, int64_t rows, int64_t f) {
    const ProfileScope profile(ProfileKind::Elementwise, 0);
#pragma omp parallel for schedule(dynamic) num_threads(threads_for(rows * f))
    for (int64_t r = 0; r < rows; ++r) {
        float* yr = y + r * f;
        std::memcpy(yr, x + r * 2 * f + f, size_t(f) * 4);
        eltwise().activation(yr, f, Activation::Gelu);
        const float* hidden = x + r * 2 * f;
        for (int64_t i = 0; i < f; ++i) yr[i] *= hidden[i];
    }
}

void activation(float* x, int64_t n, Activation act) {
    const ProfileScope profile(ProfileKind::Elementwise, 0);
    const int64_t chunk = 1 << 14;
#pragma omp parallel for schedule(dynamic) num_threads(threads_for(n))
    for (int64_t i = 0; i < n; i += chunk) eltwise().activation(x + i, std::min(chunk, n - i), act);
}

void upsample_nearest_2x(const float* x, float* y, int64_t channels, int64_t h, int64_t w) {
    const ProfileScope profile(ProfileKind::Copy, 0);
#pragma omp parallel for schedule(dynamic) num_threads(threads_for(channels * h * w * 4))
    for (int64_t c = 0; c < channels; ++c)
        for (int64_t i = 0; i < h; ++i) {
            const float* src = x + (c * h + i) * w;
            float* dst = y + (c * 2 * h + 2 * i) * 2 * w;
            for (int64_t j = 0; j < w; ++j) dst[2 * j] = dst[2 * j + 1] = src[j];
            std::memcpy(dst + 2 * w, dst, size_t(2 * w) * 4);
        }
}

void resize_nearest(const float* x, float* y, int64_t channels, int64_t h, int64_t w, int64_t H, int64_t W) {
    const ProfileScope profile(ProfileKind::Copy, 0);
    const float sy = float(h) / float(H), sx = float(w) / float(W);
#pragma omp parallel for schedule(dynamic) num_threads(threads_for(channels * H * W))
    for (int64_t c = 0; c < channels; ++c)
        for (int64_t i = 0; i < H; ++i) {
            const int64_t si = std::min(int64_t(float(i) * sy), h - 1);
            for (int64_t j = 0; j < W; ++j) y[(c * H + i) * W + j] = x[(c * h + si) * w + std::min(int64_t(float(j) * sx), w - 1)];
        }
}

void add(const float* a, const float* b, float* y, int64_t n) {
    const ProfileScope profile(ProfileKind::Elementwise, 0);
#pragma omp parallel for schedule(dynamic, 8192) num_threads(threads_for(n))
    for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void sub(const float* a, const float* b, float* y, int64_t n) {
    const ProfileScope profile(ProfileKind::Elementwise, 0);
#pragma omp parallel for schedule(dynamic, 8192) num_threads(threads_for(n))
    for (int64_t i = 0; i < n; ++i) y[i] = a[i] - b[i];
}

void add_scaled(const float* a, float s, const float* b, float* y, int64_t n) {
    const ProfileScope profile(ProfileKind::Elementwise, 0);
#pragma omp parallel for schedule(dynamic, 8192) num_threads(threads_for(n))
    for (int64_t i = 0; i < n; ++i) y[i] = a[i] + s * b[i];
}

void add_per_channel(float* x, const float* v, int64_t channels, int64_t hw) {
    const ProfileScope profile(ProfileKind::Elementwise, 0);
#pragma omp parallel for schedule(dynamic) num_threads(threads_for(channels * hw))
    for (int64_t c = 0; c < channels; ++c)
        for (int64_t i = 0; i < hw; ++i) x[c * hw + i] += v[c];
}

void safety_guidance(const float* eps, const float* eps_uncond, const float* eps_concept, float* momentum, float* guidance,
                     int64_t n, const SafetyGuidance& s, bool apply) {
    const ProfileScope profile(ProfileKind::Elementwise, 0);
#pragma omp parallel for schedule(dynamic, 8192) num_threads(threads_for(n))
    for (int64_t i = 0; i < n; ++i) {
        const float d = eps[i] - eps_concept[i];
        const float scale = d >= s.threshold ? 0.0f : std::min(std::fabs(d) * s.scale, 1.0f);
        const float g = (eps_concept[i] - eps_uncond[i]) * scale + s.momentum_scale * momentum[i];
        momentum[i] = s.mom_beta * momentum[i] + (1 - s.mom_beta) * g;
        if (apply) guidance[i] = guidance[i] - g;
    }
}

void prelu(float* x, const float* slope, int64_t channels, int64_t hw) {
    const ProfileScope profile(ProfileKind::Elementwise, 0);
#pragma omp parallel for schedule(dynamic) num_threads(threads_for(channels * hw))
    for (int64_t c = 0; c < channels; ++c)
        for (int64_t i = 0; i < hw; ++i) x[c * hw + i] = x[c * hw + i] >= 0.0f ? x[c * hw + i] : slope[c] * x[c * hw + i];
}

void mul(const float* a, const float* b, float* y, int64_t n) {
    const ProfileScope profile(ProfileKind::Elementwise, 0);
#pragma omp parallel for schedule(dynamic, 8192) num_threads(threads_for(n))
    for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}

void concat_channels(const float* a, int64_t ca, const float* b, int64_t cb, int64_t hw, float* y) {
    const ProfileScope profile(ProfileKind::Copy, 0);
    std::memmove(y, a, size_t(ca * hw) * 4);
    std::memmove(y + ca * hw, b, size_t(cb * hw) * 4);
}

}  // namespace sdref::kernels
