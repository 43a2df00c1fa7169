// activation.h: element-wise activations, in place over n floats, as PyTorch defines them:
//   silu(x)       = x / (1 + e^-x)
//   gelu(x)       = x/2 (1 + erf(x / sqrt 2))          (the exact GELU, not the tanh approximation)
//   quick_gelu(x) = x / (1 + e^(-1.702 x))            (OpenAI CLIP)
// Identical bits for any thread count; SIMD paths may differ from the scalar one in the last bit.
#pragma once

#include <cstdint>

#include "kernels/gemm.h"

namespace sdref::kernels {

void apply_activation(float* x, int64_t n, Activation act);
void apply_activation_scalar(float* x, int64_t n, Activation act);

}  // namespace sdref::kernels
