// convert_avx2.cpp: 16-bit -> fp32 conversion, 8 values per instruction. Compiled with -mavx2 -mf16c;
// called only when cpu_features().avx2. Tails (n % 8) go through the scalar oracle.
#include <immintrin.h>

#include "kernels/convert.h"

namespace sdref::kernels {

void convert_f16_to_f32_f16c(const uint16_t* in, float* out, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));   // vcvtph2ps: exact
    }
    convert_f16_to_f32_scalar(in + i, out + i, n - i);
}

void convert_bf16_to_f32_avx2(const uint16_t* in, float* out, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
        const __m256i wide = _mm256_slli_epi32(_mm256_cvtepu16_epi32(b), 16);  // bf16 bits -> upper half
        _mm256_storeu_ps(out + i, _mm256_castsi256_ps(wide));
    }
    convert_bf16_to_f32_scalar(in + i, out + i, n - i);
}

}  // namespace sdref::kernels
