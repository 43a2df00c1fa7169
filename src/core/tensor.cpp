#include "core/tensor.h"

#include <cstring>

#include "core/error.h"
#include "kernels/convert.h"

namespace sdref {

int64_t shape_numel(const Shape& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::string shape_str(const Shape& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

Tensor::Tensor(Shape shape) : shape_(std::move(shape)), data_(size_t(shape_numel(shape_)), 0.0f) {}

Tensor Tensor::uninitialized(Shape shape) {
    Tensor t;
    t.data_.resize(size_t(shape_numel(shape)));  // (default-inserted: AlignedAllocator leaves them as they are)
    t.shape_ = std::move(shape);
    return t;
}

Tensor::Tensor(Shape shape, std::vector<float> values) : shape_(std::move(shape)) {
    if (int64_t(values.size()) != shape_numel(shape_))
        fail("tensor of shape ", shape_str(shape_), " given ", values.size(), " values");
    data_.assign(values.begin(), values.end());
}

void Tensor::reshape(Shape shape) {
    if (shape_numel(shape) != numel())
        fail("cannot reshape ", shape_str(shape_), " to ", shape_str(shape), ": element counts differ");
    shape_ = std::move(shape);
}

namespace {
template <typename T>
void widen(const uint8_t* bytes, int64_t n, float* out) {
    for (int64_t i = 0; i < n; ++i) {
        T v;
        std::memcpy(&v, bytes + size_t(i) * sizeof(T), sizeof(T));
        out[i] = float(v);
    }
}
}  // namespace

void TensorView::copy_to_f32(float* out) const {
    const int64_t n = numel();
    if (n == 0) return;  // (an empty tensor's buffer may be null: memcpy must not see it)
    switch (dtype) {
        case DType::F32: std::memcpy(out, bytes, size_t(n) * 4); break;
        case DType::F16: kernels::convert_f16_to_f32(reinterpret_cast<const uint16_t*>(bytes), out, size_t(n)); break;
        case DType::BF16: kernels::convert_bf16_to_f32(reinterpret_cast<const uint16_t*>(bytes), out, size_t(n)); break;
        case DType::F8_E4M3: kernels::convert_f8e4m3_to_f32(bytes, out, size_t(n)); break;
        case DType::F64: widen<double>(bytes, n, out); break;
        case DType::I64: widen<int64_t>(bytes, n, out); break;
        case DType::I32: widen<int32_t>(bytes, n, out); break;
        case DType::I16: widen<int16_t>(bytes, n, out); break;
        case DType::I8: widen<int8_t>(bytes, n, out); break;
        case DType::U8: widen<uint8_t>(bytes, n, out); break;
        case DType::BOOL: widen<uint8_t>(bytes, n, out); break;
    }
}

Tensor TensorView::to_f32() const {
    Tensor t(shape);
    copy_to_f32(t.data());
    return t;
}

namespace {

// Values whose exponent field is all ones are NaN or Inf; `mask` selects that field of a W-byte value.
template <typename Word>
int64_t count_all_ones_exponent(const uint8_t* bytes, int64_t n, Word mask) {
    int64_t bad = 0;
    for (int64_t i = 0; i < n; ++i) {
        Word w;
        std::memcpy(&w, bytes + size_t(i) * sizeof(Word), sizeof(Word));
        bad += (w & mask) == mask;
    }
    return bad;
}

}  // namespace

int64_t TensorView::count_non_finite() const {
    switch (dtype) {
        case DType::F64: return count_all_ones_exponent<uint64_t>(bytes, numel(), 0x7ff0000000000000ull);
        case DType::F32: return count_all_ones_exponent<uint32_t>(bytes, numel(), 0x7f800000u);
        case DType::F16: return count_all_ones_exponent<uint16_t>(bytes, numel(), 0x7c00u);
        case DType::BF16: return count_all_ones_exponent<uint16_t>(bytes, numel(), 0x7f80u);
        case DType::F8_E4M3: return count_all_ones_exponent<uint8_t>(bytes, numel(), 0x7fu);  // (E4M3FN's only non-finite: NaN)
        default: return 0;
    }
}

bool all_finite(const float* x, int64_t n) {
    return count_all_ones_exponent<uint32_t>(reinterpret_cast<const uint8_t*>(x), n, 0x7f800000u) == 0;
}

}  // namespace sdref
