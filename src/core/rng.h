// rng.h: PyTorch's CPU random generator, bit for bit, so that a seed gives the reference's image.
//
// torch.Generator().manual_seed(seed) is a standard 32-bit Mersenne Twister (mt19937) seeded with the low 32
// bits of the seed (so 4294967303 and 7 give the same stream). torch.randn(n) then takes one of two paths:
//   n < 16:  per value, a Box-Muller pair in double precision from two 53-bit uniforms; the second value of the
//            pair is cached in the generator and returned by the next scalar draw;
//   n >= 16: n 24-bit float uniforms first, then Box-Muller over blocks of 16 (u1 = 1 - x[j], u2 = x[j+8])
//            computed with float Cephes log/sincos (PyTorch's AVX2 avx_mathfun.h, fused multiply-adds included);
//            when n % 16 != 0 the last 16 values are drawn again and recomputed.
// See docs/architecture.md ("Seeds").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>

#include "core/tensor.h"

namespace sdref {

// A source of standard normal noise, drawn tensor by tensor: PyTorch's CPU generator (below, the default) or A1111's
// GPU-compatible Philox (philox.h).
class NoiseSource {
public:
    virtual ~NoiseSource() = default;
    // The next draw: torch.randn(shape, generator=this).
    virtual Tensor randn(const Shape& shape) = 0;
};

class TorchGenerator : public NoiseSource {
public:
    explicit TorchGenerator(uint64_t seed) { manual_seed(seed); }

    void manual_seed(uint64_t seed);
    uint32_t random();    // one 32-bit draw
    uint64_t random64();  // two draws: the first is the high word

    // torch.randn(n, generator=this) into out[0..n).
    void randn(float* out, size_t n);
    // torch.randn(shape, generator=this).
    Tensor randn(const Shape& shape) override;

private:
    double normal_double();  // at::normal_distribution<double>(0, 1)
    float uniform_float();   // at::uniform_real_distribution<float>(0, 1): 24 random bits

    std::mt19937 engine_;
    std::optional<double> next_double_normal_;
};

}  // namespace sdref
