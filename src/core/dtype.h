// dtype.h: the element types a checkpoint may store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/half.h"

namespace sdref {

// safetensors dtype names, in the order of the format's documentation.
enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, F8_E4M3 };

const char* dtype_name(DType t);
size_t dtype_size(DType t);
// Parse a safetensors dtype string ("F16", "BF16", ...); returns false for an unknown name.
bool parse_dtype(const std::string& name, DType* out);

// The scalar 16-bit float conversions live with the kernels: kernels/half.h.
using kernels::bf16_to_f32;
using kernels::f16_to_f32;
using kernels::f32_to_f16;

}  // namespace sdref
