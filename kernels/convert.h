// convert.h: bulk conversion of stored 16-bit (and FP8 E4M3FN) floats to fp32.
//
// Contract: `in` and `out` hold n elements each, any alignment, not overlapping. Results are exact (every
// fp16, bf16 and E4M3FN value is representable in fp32), so every ISA path gives the same bits as kernels/half.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/gemm.h"

namespace sdref::kernels {

// n stored values of any ElemType (gemm.h) to fp32.
void convert_to_f32(ElemType type, const void* in, float* out, size_t n);
// FP8 E4M3FN: (-1)^s 2^(e - 7) (1 + m/8), subnormals (e = 0) 2^-6 (m/8), 0x7f and 0xff NaN; through a 256-entry table.
void convert_f8e4m3_to_f32(const uint8_t* in, float* out, size_t n);
float f8e4m3_to_f32(uint8_t v);

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
