// tensor.h: the tensor core. Two types, nothing more:
//   Tensor     an owned, contiguous, row-major fp32 array with a shape (activations, golden references);
//   TensorView a read-only window on stored bytes of any dtype (weights in a memory-mapped checkpoint).
// Weights stay in their file precision; the kernels read F16/BF16 views directly and convert while packing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace sdref {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[2, 4, 16, 16]"

// 64-byte aligned storage, so SIMD loads of a tensor's start never split a cache line. Elements made without a
// value (vector(n)) are left as the memory holds them: Tensor::uninitialized's outputs are written in full by a
// kernel, and zeroing 134 MB of a VAE activation first would be a wasted pass over it.
template <typename T>
struct AlignedAllocator {
    using value_type = T;
    AlignedAllocator() = default;
    template <typename U>
    AlignedAllocator(const AlignedAllocator<U>&) {}
    T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
    void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
    template <typename U>
    void construct(U* p) noexcept { ::new (static_cast<void*>(p)) U; }
    template <typename U, typename... Args>
    void construct(U* p, Args&&... args) { ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...); }
    bool operator==(const AlignedAllocator&) const { return true; }
    bool operator!=(const AlignedAllocator&) const { return false; }
};

class Tensor {
public:
    Tensor() = default;
    explicit Tensor(Shape shape);                 // zero-filled
    static Tensor uninitialized(Shape shape);     // values undefined: for an output a kernel writes in full
    Tensor(Shape shape, std::vector<float> values);  // values.size() must equal the shape's element count

    const Shape& shape() const { return shape_; }
    int64_t dim(size_t i) const { return shape_.at(i); }
    int64_t numel() const { return int64_t(data_.size()); }
    float* data() { return data_.data(); }
    const float* data() const { return data_.data(); }
    float& operator[](int64_t i) { return data_[size_t(i)]; }
    float operator[](int64_t i) const { return data_[size_t(i)]; }

    // Same values, new shape with the same element count.
    void reshape(Shape shape);

private:
    Shape shape_;
    std::vector<float, AlignedAllocator<float>> data_;
};

struct TensorView {
    std::string name;               // the tensor's name in its file
    DType dtype = DType::F32;
    Shape shape;
    const uint8_t* bytes = nullptr;  // dtype_size(dtype) * numel() bytes, little-endian
    size_t nbytes = 0;

    int64_t numel() const { return shape_numel(shape); }
    // Exact conversion to fp32 (F64 and 64-bit integers are rounded to nearest, as PyTorch's .float()).
    void copy_to_f32(float* out) const;
    // How many stored values are NaN or +-Inf (0 for integer dtypes), read from the bits.
    int64_t count_non_finite() const;
    Tensor to_f32() const;
};

// True when no x[i] (i < n) is NaN or +-Inf: one pass over the exponent bits, which the compiler vectorises.
bool all_finite(const float* x, int64_t n);

}  // namespace sdref
