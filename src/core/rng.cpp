#include "core/rng.h"

#include <cmath>
#include <cstring>

namespace sdref {

namespace {

constexpr double kPi = 3.14159265358979323846;

uint32_t bits_of(float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    return b;
}

float float_of(uint32_t b) {
    float f;
    std::memcpy(&f, &b, 4);
    return f;
}

// Cephes single-precision log for x in (0, 1], in PyTorch's operation order (avx_mathfun.h log256_ps as GCC
// compiles it with FMA): x = m * 2^e with m in [sqrt(1/2), sqrt(2)), log x = log1p(m - 1) + e * log 2.
float cephes_logf(float x) {
    const uint32_t bits = bits_of(x);
    float e = float(int32_t(bits >> 23) - 0x7f) + 1.0f;
    x = float_of((bits & ~0x7f800000u) | 0x3f000000u);  // mantissa in [0.5, 1)
    if (x < 0.707106781186547524f) {
        e -= 1.0f;
        x = x + x - 1.0f;
    } else {
        x = x - 1.0f;
    }
    const float z = x * x;
    static const float p[] = {7.0376836292E-2f,  -1.1514610310E-1f, 1.1676998740E-1f,
                              -1.2420140846E-1f, 1.4249322787E-1f,  -1.6668057665E-1f,
                              2.0000714765E-1f,  -2.4999993993E-1f, 3.3333331174E-1f};
    float y = p[0];
    for (int i = 1; i < 9; ++i) y = std::fma(y, x, p[i]);
    y = y * x;
    // log2 split in two parts (0.693359375 + -2.12194440e-4) so that e * ln2 stays exact.
    y = std::fma(y, z, e * -2.12194440e-4f);
    y = std::fma(-z, 0.5f, y);
    return std::fma(e, 0.693359375f, x + y);
}

// Cephes single-precision sin and cos for x >= 0 (avx_mathfun.h sincos256_ps, with FMA): reduce by
// j * pi/4 in three parts, then a degree-7 sine or degree-8 cosine polynomial on [-pi/4, pi/4].
void cephes_sincosf(float x, float* s, float* c) {
    int32_t j = int32_t(x * 1.27323954473516f);  // x * 4/pi, truncated
    j = (j + 1) & ~1;                             // even octant
    const float y = float(j);
    x = std::fma(y, -0.78515625f, x);
    x = std::fma(y, -2.4187564849853515625e-4f, x);
    x = std::fma(y, -3.77489497744594108e-8f, x);
    const uint32_t sin_sign = uint32_t(j & 4) << 29;
    const uint32_t cos_sign = uint32_t(~(j - 2) & 4) << 29;
    const bool swap = (j & 2) != 0;

    const float z = x * x;
    float yc = 2.443315711809948E-005f;
    yc = std::fma(yc, z, -1.388731625493765E-003f);
    yc = std::fma(yc, z, 4.166664568298827E-002f);
    yc = yc * z;
    yc = std::fma(yc, z, -(z * 0.5f));
    yc = yc + 1.0f;
    float ys = -1.9515295891E-4f;
    ys = std::fma(ys, z, 8.3321608736E-3f);
    ys = std::fma(ys, z, -1.6666654611E-1f);
    ys = ys * z;
    ys = std::fma(ys, x, x);

    *s = float_of(bits_of(swap ? yc : ys) ^ sin_sign);
    *c = float_of(bits_of(swap ? ys : yc) ^ cos_sign);
}

// Box-Muller over 16 uniforms in place: data[j], data[j+8] <- r cos(theta), r sin(theta) for j < 8, with
// r = sqrt(-2 log(1 - data[j])) and theta = 2 pi data[j+8].
void normal_fill_16(float* data) {
    const float two_pi = float(2.0 * kPi);
    for (int j = 0; j < 8; ++j) {
        const float radius = std::sqrt(-2.0f * cephes_logf(1.0f - data[j]));
        float s, c;
        cephes_sincosf(two_pi * data[j + 8], &s, &c);
        data[j] = radius * c;
        data[j + 8] = radius * s;
    }
}

}  // namespace

void TorchGenerator::manual_seed(uint64_t seed) {
    engine_.seed(uint32_t(seed & 0xffffffffu));
    next_double_normal_.reset();
}

uint32_t TorchGenerator::random() { return uint32_t(engine_()); }

uint64_t TorchGenerator::random64() {
    const uint64_t hi = random();
    const uint64_t lo = random();
    return (hi << 32) | lo;
}

float TorchGenerator::uniform_float() { return float(double(random() & 0xffffffu) / double(1u << 24)); }

double TorchGenerator::normal_double() {
    if (next_double_normal_) {
        const double cached = *next_double_normal_;
        next_double_normal_.reset();
        return cached;
    }
    const double u1 = double(random64() & ((uint64_t(1) << 53) - 1)) / double(uint64_t(1) << 53);
    const double u2 = double(random64() & ((uint64_t(1) << 53) - 1)) / double(uint64_t(1) << 53);
    const double r = std::sqrt(-2.0 * std::log1p(-u2));
    const double theta = 2.0 * kPi * u1;
    next_double_normal_ = r * std::sin(theta);
    return r * std::cos(theta);
}

void TorchGenerator::randn(float* out, size_t n) {
    if (n < 16) {
        for (size_t i = 0; i < n; ++i) out[i] = float(normal_double());
        return;
    }
    for (size_t i = 0; i < n; ++i) out[i] = uniform_float();
    for (size_t i = 0; i + 16 <= n; i += 16) normal_fill_16(out + i);
    if (n % 16 != 0) {
        float* last = out + n - 16;
        for (size_t i = 0; i < 16; ++i) last[i] = uniform_float();
        normal_fill_16(last);
    }
}

Tensor TorchGenerator::randn(const Shape& shape) {
    Tensor t(shape);
    randn(t.data(), size_t(t.numel()));
    return t;
}

}  // namespace sdref
