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
    switch (dtype) {
        case DType::F32: std::memcpy(out, bytes, size_t(n) * 4); break;
        case DType::F16: kernels::convert_f16_to_f32(reinterpret_cast<const uint16_t*>(bytes), out, size_t(n)); break;
        case DType::BF16: kernels::convert_bf16_to_f32(reinterpret_cast<const uint16_t*>(bytes), out, size_t(n)); break;
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

}  // namespace sdref
