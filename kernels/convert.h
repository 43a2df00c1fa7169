// convert.h: bulk conversion of stored 16-bit floats to fp32.
//
// Contract: `in` and `out` hold n elements each, any alignment, not overlapping. Results are exact (every
// fp16 and bf16 value is representable in fp32), so every ISA path gives the same bits as kernels/half.h.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sdref::kernels {

void convert_f16_to_f32(const uint16_t* in, float* out, size_t n);
void convert_bf16_to_f32(const uint16_t* in, float* out, size_t n);

// The per-ISA implementations, exposed so tests can hold each one against the scalar oracle.
void convert_f16_to_f32_scalar(const uint16_t* in, float* out, size_t n);
void convert_bf16_to_f32_scalar(const uint16_t* in, float* out, size_t n);
void convert_f16_to_f32_f16c(const uint16_t* in, float* out, size_t n);    // x86 F16C + AVX2 only
void convert_bf16_to_f32_avx2(const uint16_t* in, float* out, size_t n);   // x86 AVX2 only
void convert_f16_to_f32_neon(const uint16_t* in, float* out, size_t n);    // aarch64 only
void convert_bf16_to_f32_neon(const uint16_t* in, float* out, size_t n);   // aarch64 only

}  // namespace sdref::kernels
