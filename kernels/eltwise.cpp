// eltwise.cpp: the scalar oracle of eltwise.h and the choice of path.
#include "kernels/eltwise.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu.h"

namespace sdref::kernels {

namespace {

void activation_scalar(float* x, int64_t n, Activation act) {
    switch (act) {
        case Activation::None: return;
        case Activation::Silu:
            for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i]));
            return;
        case Activation::Gelu:
            for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
            return;
        case Activation::QuickGelu:
            for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-1.702f * x[i]));
            return;
        case Activation::GeluTanh:
            for (int64_t i = 0; i < n; ++i)
                x[i] = 0.5f * x[i] * (1.0f + std::tanh(0.7978845608028654f * (x[i] + 0.044715f * x[i] * x[i] * x[i])));
            return;
        case Activation::Relu:
            for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
            return;
        case Activation::LeakyRelu:
            for (int64_t i = 0; i < n; ++i) x[i] = x[i] >= 0.0f ? x[i] : 0.2f * x[i];
            return;
    }
}

float exp_shift_sum_scalar(float* x, int64_t n, float shift) {
    float sum = 0;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - shift);
        sum += x[i];
    }
    return sum;
}

float max_scalar(const float* x, int64_t n) { return *std::max_element(x, x + n); }

void exp_columns_scalar(float* x, int64_t rows, int64_t width, const float* shift, float* sum) {
    for (int64_t p = 0; p < width; ++p)
        for (int64_t j = 0; j < rows; ++j) {
            float& e = x[j * width + p];
            e = std::exp(e - shift[p]);
            sum[p] += e;
        }
}

void max_columns_scalar(const float* x, int64_t rows, int64_t width, float* m) {
    for (int64_t j = 0; j < rows; ++j)
        for (int64_t p = 0; p < width; ++p) m[p] = std::max(m[p], x[j * width + p]);
}

const EltwiseKernels kEltwiseScalar = {"scalar", activation_scalar, exp_shift_sum_scalar, max_scalar,
                                       exp_columns_scalar, max_columns_scalar};

}  // namespace

const EltwiseKernels& eltwise_scalar() { return kEltwiseScalar; }

const EltwiseKernels& eltwise() {
#if defined(__x86_64__)
    if (cpu_features().avx512) return kEltwiseAvx512;
    if (cpu_features().avx2) return kEltwiseAvx2;
#elif defined(__aarch64__)
    if (cpu_features().neon) return kEltwiseNeon;
#endif
    return kEltwiseScalar;
}

}  // namespace sdref::kernels
