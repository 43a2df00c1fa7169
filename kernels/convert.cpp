// convert.cpp: the scalar oracle of the 16-bit conversions, and the run-time choice of the SIMD path.
#include "kernels/convert.h"

#include "kernels/cpu.h"
#include "kernels/half.h"

namespace sdref::kernels {

void convert_f16_to_f32_scalar(const uint16_t* in, float* out, size_t n) {
    for (size_t i = 0; i < n; ++i) out[i] = f16_to_f32(in[i]);
}

void convert_bf16_to_f32_scalar(const uint16_t* in, float* out, size_t n) {
    for (size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(in[i]);
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
