// convert.cpp: the scalar oracle of the 16-bit conversions, and the run-time choice of the SIMD path.
#include "kernels/convert.h"

#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu.h"
#include "kernels/half.h"

namespace sdref::kernels {

void convert_f16_to_f32_scalar(const uint16_t* in, float* out, size_t n) {
    for (size_t i = 0; i < n; ++i) out[i] = f16_to_f32(in[i]);
}

void convert_bf16_to_f32_scalar(const uint16_t* in, float* out, size_t n) {
    for (size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(in[i]);
}

namespace {

// Every E4M3FN value from its definition, once.
const std::array<float, 256> kF8E4M3 = [] {
    std::array<float, 256> t{};
    for (int v = 0; v < 256; ++v) {
        const int e = (v >> 3) & 0xf, m = v & 7;
        const float sign = v & 0x80 ? -1.0f : 1.0f;
        t[size_t(v)] = e == 0xf && m == 7 ? std::numeric_limits<float>::quiet_NaN()
                       : sign * (e == 0 ? std::ldexp(float(m) / 8.0f, -6) : std::ldexp(1.0f + float(m) / 8.0f, e - 7));
    }
    return t;
}();

}  // namespace

float f8e4m3_to_f32(uint8_t v) { return kF8E4M3[v]; }

void convert_f8e4m3_to_f32(const uint8_t* in, float* out, size_t n) {
    for (size_t i = 0; i < n; ++i) out[i] = kF8E4M3[in[i]];
}

void convert_to_f32(ElemType type, const void* in, float* out, size_t n) {
    switch (type) {
        case ElemType::F32: std::memcpy(out, in, n * sizeof(float)); return;
        case ElemType::F16: return convert_f16_to_f32(static_cast<const uint16_t*>(in), out, n);
        case ElemType::BF16: return convert_bf16_to_f32(static_cast<const uint16_t*>(in), out, n);
        case ElemType::F8E4M3: return convert_f8e4m3_to_f32(static_cast<const uint8_t*>(in), out, n);
    }
}

void convert_f16_to_f32(const uint16_t* in, float* out, size_t n) {
#if defined(__x86_64__)
    if (cpu_features().avx2) return convert_f16_to_f32_f16c(in, out, n);
#elif defined(__aarch64__)
    if (cpu_features().neon) return convert_f16_to_f32_neon(in, out, n);
#endif
    convert_f16_to_f32_scalar(in, out, n);
}

void convert_bf16_to_f32(const uint16_t* in, float* out, size_t n) {
#if defined(__x86_64__)
    if (cpu_features().avx2) return convert_bf16_to_f32_avx2(in, out, n);
#elif defined(__aarch64__)
    if (cpu_features().neon) return convert_bf16_to_f32_neon(in, out, n);
#endif
    convert_bf16_to_f32_scalar(in, out, n);
}

}  // namespace sdref::kernels
