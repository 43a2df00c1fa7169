// half.h: exact scalar conversions between fp32 and the 16-bit float formats (IEEE binary16, bfloat16).
// They are the oracle for the SIMD converters in convert_*.cpp and are used where one value is converted.
#pragma once

#include <cstdint>
#include <cstring>

namespace sdref::kernels {

// IEEE binary16 -> binary32, exact for every number (subnormals and infinities included).
inline float f16_to_f32(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    const uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ff;
    uint32_t bits;
    if (exponent == 0x1f) {            // inf / NaN (NaNs come out quiet, as F16C and NEON convert them)
        bits = sign | 0x7f800000u | (mantissa << 13) | (mantissa ? 0x400000u : 0u);
    } else if (exponent != 0) {        // normal: rebias 15 -> 127
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {        // signed zero
        bits = sign;
    } else {                           // subnormal: normalise the mantissa
        int e = -1;
        do {
            mantissa <<= 1;
            ++e;
        } while ((mantissa & 0x400) == 0);
        bits = sign | uint32_t(112 - e) << 23 | ((mantissa & 0x3ff) << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// binary32 -> binary16, round to nearest even (for writing fp16 files).
inline uint16_t f32_to_f16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint16_t sign = uint16_t((x >> 16) & 0x8000);
    const uint32_t abs = x & 0x7fffffff;
    if (abs >= 0x7f800000) return uint16_t(sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 : 0));  // inf / NaN
    if (abs >= 0x477ff000) return uint16_t(sign | 0x7c00);                                    // overflow
    if (abs < 0x38800000) {                                                                   // subnormal
        if (abs < 0x33000000) return sign;
        const uint32_t e = abs >> 23;
        const uint32_t m = (abs & 0x7fffff) | 0x800000;
        const uint32_t shift = 126 - e;
        uint32_t h = m >> shift;
        const uint32_t rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rest > half || (rest == half && (h & 1))) ++h;
        return uint16_t(sign | h);
    }
    uint32_t h = ((abs - 0x38000000) >> 13);
    const uint32_t rest = abs & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;
    return uint16_t(sign | h);
}

// bfloat16 -> binary32: the upper half of the float's bits, exact.
inline float bf16_to_f32(uint16_t b) {
    const uint32_t bits = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

}  // namespace sdref::kernels
