#include "kernels/activation.h"

#include <cmath>

namespace sdref::kernels {

void apply_activation_scalar(float* x, int64_t n, Activation act) {
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
    }
}

void apply_activation(float* x, int64_t n, Activation act) { apply_activation_scalar(x, n, act); }

}  // namespace sdref::kernels
