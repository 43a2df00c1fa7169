// Stored-float conversion kernels: every one of the 65536 16-bit inputs, each ISA path against the scalar oracle,
// and the scalar oracle against the IEEE definition; every FP8 E4M3FN value against its definition.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/convert.h"
#include "kernels/cpu.h"
#include "kernels/half.h"

using namespace sdref::kernels;

namespace {

std::vector<uint16_t> all_halves() {
    std::vector<uint16_t> v(65536 + 5);  // + a tail that is not a multiple of the vector width
    for (size_t i = 0; i < v.size(); ++i) v[i] = uint16_t(i);
    return v;
}

void same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    size_t bad = 0;
    for (size_t i = 0; i < a.size(); ++i) bad += std::memcmp(&a[i], &b[i], 4) != 0;
    CHECK(bad == 0);
}

}  // namespace

TEST_CASE("scalar fp16 -> fp32 is the IEEE value", "[kernels][convert]") {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = f16_to_f32(uint16_t(h));
        const int exponent = (h >> 10) & 31, mantissa = h & 1023;
        const float sign = (h & 0x8000) ? -1.0f : 1.0f;
        if (exponent == 31) {
            REQUIRE((mantissa ? std::isnan(f) : std::isinf(f)));
            continue;
        }
        const double expect = exponent == 0 ? sign * std::ldexp(double(mantissa), -24)
                                            : sign * std::ldexp(double(1024 + mantissa), exponent - 25);
        REQUIRE(double(f) == expect);
        REQUIRE(std::signbit(f) == bool(h & 0x8000));
        REQUIRE(f32_to_f16(f) == uint16_t(h));  // round trip
    }
}

TEST_CASE("fp32 -> fp16 rounds to nearest even", "[kernels][convert]") {
    CHECK(f32_to_f16(1.0f + 1.0f / 2048) == 0x3C00);            // halfway, even stays
    CHECK(f32_to_f16(1.0f + 3.0f / 2048) == 0x3C02);            // halfway, odd rounds up
    CHECK(f32_to_f16(65520.0f) == 0x7C00);                      // overflow to infinity
    CHECK(f32_to_f16(std::ldexp(1.0f, -25)) == 0x0000);          // half the smallest subnormal: ties to even (0)
    CHECK(f32_to_f16(std::ldexp(1.5f, -25)) == 0x0001);
}

TEST_CASE("every ISA path of the 16-bit conversions equals the scalar oracle", "[kernels][convert]") {
    const std::vector<uint16_t> in = all_halves();
    std::vector<float> oracle(in.size()), got(in.size());
    convert_f16_to_f32_scalar(in.data(), oracle.data(), in.size());
    convert_f16_to_f32(in.data(), got.data(), in.size());  // the dispatched path
    same_bits(got, oracle);
    convert_bf16_to_f32_scalar(in.data(), oracle.data(), in.size());
    convert_bf16_to_f32(in.data(), got.data(), in.size());
    same_bits(got, oracle);
#if defined(__x86_64__)
    if (cpu_features().avx2) {
        convert_f16_to_f32_scalar(in.data(), oracle.data(), in.size());
        convert_f16_to_f32_f16c(in.data() + 1, got.data(), in.size() - 1);  // unaligned start
        same_bits(std::vector<float>(got.begin(), got.end() - 1), std::vector<float>(oracle.begin() + 1, oracle.end()));
        convert_bf16_to_f32_scalar(in.data(), oracle.data(), in.size());
        convert_bf16_to_f32_avx2(in.data(), got.data(), in.size());
        same_bits(got, oracle);
    }
#endif
}

TEST_CASE("FP8 E4M3FN -> fp32: every value by its definition, NaN only at S.1111.111", "[kernels][convert]") {
    int nans = 0;
    for (int v = 0; v < 256; ++v) {
        const float got = f8e4m3_to_f32(uint8_t(v));
        const int s = v >> 7, e = (v >> 3) & 15, m = v & 7;
        if (e == 15 && m == 7) {
            CHECK(std::isnan(got));
            ++nans;
            continue;
        }
        // value = (-1)^s x m x 2^-9 (subnormal), or (-1)^s x (8 + m) x 2^(e - 10)
        const double magnitude = e == 0 ? m * std::pow(2.0, -9) : (8 + m) * std::pow(2.0, e - 10);
        CHECK(double(got) == (s ? -magnitude : magnitude));
    }
    CHECK(nans == 2);
    CHECK(f8e4m3_to_f32(0x7e) == 448.0f);  // the largest finite value
    const uint8_t all[4] = {0x38, 0xb8, 0x01, 0x7e};
    float out[4];
    convert_to_f32(ElemType::F8E4M3, all, out, 4);
    CHECK(out[0] == 1.0f);
    CHECK(out[1] == -1.0f);
    CHECK(out[2] == std::ldexp(1.0f, -9));
    CHECK(out[3] == 448.0f);
}
