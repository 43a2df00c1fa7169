// seed_noise.h: a picture's starting noise as A1111 makes it (modules/rng.py ImageRNG.first), so that its
// variation seeds and "seed resize from" give the pictures people share:
//
//   noise = randn(seed)                                the picture's own generator, its first draw
//   noise = slerp(strength, noise, randn(subseed))     with a variation seed (subseed) of strength > 0
//   resize from (w0, h0): both drawn at [C, h0/8, w0/8] from fresh generators and slerped, then pasted centred into
//                         a full-size draw of the picture's own generator
//   later draws (ancestral noise) continue from the picture's generator; with an eta noise seed delta (ENSD), from
//   a fresh generator seeded seed + delta
//
// slerp(v, low, high) on a [C, H, W] sample: low and high normalised over H per (c, w) column, dot = their sum of
// products over H; where mean(dot) > 0.9995 (nearly parallel) low v + high (1 - v) (A1111's weights, as written),
// else with w = acos(dot): sin((1 - v) w) / sin w low + sin(v w) / sin w high.
#pragma once

#include <cstdint>
#include <memory>

#include "core/rng.h"

namespace sdref {

// Where the noise comes from: PyTorch's CPU generator (diffusers on CPU, sdref's default) or A1111's GPU-compatible
// Philox ("NV": the seeds of pictures made on GPUs give their noise; core/philox.h).
enum class NoiseRng { Cpu, Cuda };

std::unique_ptr<NoiseSource> make_noise_source(NoiseRng rng, uint64_t seed);

struct SeedVariation {
    uint64_t subseed = 0;
    float strength = 0.0f;                        // 0: the seed's noise alone
    int64_t resize_width = 0, resize_height = 0;  // draw the noise for a picture of this size (0: the picture's)
    uint64_t eta_noise_seed_delta = 0;            // ENSD: later draws from a generator seeded seed + this
};

Tensor slerp(float val, const Tensor& low, const Tensor& high);

// The starting noise [C, H, W] of the picture of `seed`, whose own generator is `gen` (its first draw taken); `gen`
// is then the generator of the picture's later draws.
Tensor seed_noise(std::unique_ptr<NoiseSource>& gen, NoiseRng rng, uint64_t seed, const SeedVariation& v, const Shape& shape);

}  // namespace sdref
