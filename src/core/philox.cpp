#include "core/philox.h"

#include <cmath>

namespace sdref {

std::array<uint32_t, 4> PhiloxGenerator::philox(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
    for (int round = 0; round < 10; ++round) {
        if (round > 0) k[0] += 0x9E3779B9u, k[1] += 0xBB67AE85u;
        const uint64_t p0 = uint64_t(0xD2511F53u) * c[0], p1 = uint64_t(0xCD9E8D57u) * c[2];
        const uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0), hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
        c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
    }
    return c;
}

Tensor PhiloxGenerator::randn(const Shape& shape) {
    // the reference's float32 constants, used in double (numpy promotes uint32 x float32 to float64)
    const double A = double(float(2.3283064e-10)), B = double(float(2.3283064e-10 * 6.2831855));
    const std::array<uint32_t, 2> key = {uint32_t(seed_), uint32_t(seed_ >> 32)};
    Tensor t(shape);
    for (int64_t i = 0; i < t.numel(); ++i) {
        const std::array<uint32_t, 4> w = philox({uint32_t(offset_), 0u, uint32_t(i), 0u}, key);
        const double u = double(w[0]) * A + A / 2, v = double(w[1]) * B + B / 2;
        t[i] = float(std::sqrt(-2.0 * std::log(u)) * std::sin(v));
    }
    ++offset_;
    return t;
}

}  // namespace sdref
