// convert_neon.cpp: 16-bit -> fp32 conversion, 4 values per instruction, for aarch64. Tails (n % 4) go through
// the scalar oracle.
#include <arm_neon.h>

#include "kernels/convert.h"

namespace sdref::kernels {

void convert_f16_to_f32_neon(const uint16_t* in, float* out, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float16x4_t h = vreinterpret_f16_u16(vld1_u16(in + i));
        vst1q_f32(out + i, vcvt_f32_f16(h));   // fcvtl: exact
    }
    convert_f16_to_f32_scalar(in + i, out + i, n - i);
}

void convert_bf16_to_f32_neon(const uint16_t* in, float* out, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32x4_t wide = vshll_n_u16(vld1_u16(in + i), 16);   // bf16 bits -> upper half
        vst1q_f32(out + i, vreinterpretq_f32_u32(wide));
    }
    convert_bf16_to_f32_scalar(in + i, out + i, n - i);
}

}  // namespace sdref::kernels
