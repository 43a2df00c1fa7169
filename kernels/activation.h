// activation.h: element-wise activations, in place over n floats, as PyTorch defines them:
//   silu(x)       = x / (1 + e^-x)
//   gelu(x)       = x/2 (1 + erf(x / sqrt 2))          (the exact GELU, not the tanh approximation)
//   quick_gelu(x) = x / (1 + e^(-1.702 x))            (OpenAI CLIP)
//   gelu_tanh(x)  = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   (T5's gelu_new)
//   relu(x)       = max(x, 0)                         (TAESD)
//   leaky_relu(x) = x >= 0 ? x : 0.2 x                (ESRGAN's LeakyReLU(0.2))
// apply_activation takes this CPU's SIMD path (eltwise.h); apply_activation_scalar is the oracle.
#pragma once

#include <cstdint>

#include "kernels/eltwise.h"

namespace sdref::kernels {

inline void apply_activation(float* x, int64_t n, Activation act) { eltwise().activation(x, n, act); }
inline void apply_activation_scalar(float* x, int64_t n, Activation act) { eltwise_scalar().activation(x, n, act); }

}  // namespace sdref::kernels
