// philox.h: A1111's "NV" random source (modules/rng_philox.py): the noise torch.randn gives on a CUDA device after
// torch.manual_seed(seed), reproduced on any CPU, so seeds in civitai/A1111 pictures (made on GPUs) give their noise.
//
// Element i (flat, C order) of the draw with generator offset o (0 for a generator's first draw, +1 per draw):
//   counter (c0, c1, c2, c3) = (o, 0, i, 0), key (k0, k1) = (seed mod 2^32, seed >> 32)
//   Philox4x32-10, one round:  (hi0, lo0) = 0xD2511F53 c0,  (hi1, lo1) = 0xCD9E8D57 c2   (64-bit products)
//                              c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);  then k0 += 0x9E3779B9, k1 += 0xBB67AE85
//   Box-Muller on the first two words, in double:  u = w0 A + A/2,  v = w1 B + B/2,  x = sqrt(-2 ln u) sin(v)
//   with A = float(2^-32) and B = float(2^-32 2 pi) as the reference's float32 constants; x rounded to float once.
#pragma once

#include <array>
#include <cstdint>

#include "core/rng.h"

namespace sdref {

class PhiloxGenerator : public NoiseSource {
public:
    explicit PhiloxGenerator(uint64_t seed, uint64_t offset = 0) : seed_(seed), offset_(offset) {}
    // The draw at the current offset, then the next offset.
    Tensor randn(const Shape& shape) override;

    // Philox4x32-10 of one counter under one key (the four output words).
    static std::array<uint32_t, 4> philox(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

private:
    uint64_t seed_;
    uint64_t offset_;
};

}  // namespace sdref
