// scratch.h: a grow-only, 64-byte aligned float buffer for the kernels' packed operands and tiles. The GEMM
// keeps one per purpose and thread (thread_local), so after the first calls it allocates nothing; attention
// holds its larger packed K and V only for the duration of a call.
#pragma once

#include <cstddef>
#include <new>

namespace sdref::kernels {

class ScratchFloats {
public:
    ScratchFloats() = default;
    ScratchFloats(const ScratchFloats&) = delete;
    ScratchFloats& operator=(const ScratchFloats&) = delete;
    ~ScratchFloats() { ::operator delete(p_, std::align_val_t(64)); }

    // At least n floats; the contents are not kept when the buffer grows.
    float* get(size_t n) {
        if (n > size_) {
            ::operator delete(p_, std::align_val_t(64));
            p_ = nullptr;  // (if the allocation below throws, the destructor must not free it again)
            p_ = static_cast<float*>(::operator new(n * sizeof(float), std::align_val_t(64)));
            size_ = n;
        }
        return p_;
    }

private:
    float* p_ = nullptr;
    size_t size_ = 0;
};

}  // namespace sdref::kernels
