// backend.h: the operations a model's forward pass is made of, behind one interface for every device.
//
// A model never calls a kernel itself: it calls these through the backend its ForwardContext names. The CPU
// backend (backend_cpu.cpp) runs this library's kernels and is the oracle another backend (CUDA) is tested
// against, op by op. Activations are fp32 and contiguous unless a view says otherwise; weights stay in their
// stored type (fp32, fp16, bf16) and are read through StridedMatrix views. Each op's contract is the kernel's
// (gemm.h, conv2d.h, attention.h, ops.h); the library still names no model.
#pragma once

#include <cstdint>
#include <memory>

#include "kernels/attention.h"
#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "kernels/weight_panels.h"

namespace sdref::kernels {

// One operand of a matrix product (gemm.h's K x W view) and whether it is a model's weight: the same on every call
// of a sampling loop, so a backend may keep it packed or resident on its device (weight_panels.h on the CPU).
struct Operand {
    StridedMatrix m;
    bool weight = false;
};

// fp32 activations: element (k, w) at x[k * k_stride + w * w_stride] (row-major [W, K]: k_stride 1, w_stride K).
inline Operand activations(const float* x, int64_t k_stride, int64_t w_stride) { return {{x, ElemType::F32, k_stride, w_stride}}; }
// A weight stored row-major [W, K] in its own type (PyTorch's [out, in]) as a K x W operand.
inline Operand weight_rows(const void* w, ElemType type, int64_t K) { return {{w, type, 1, K}, /*weight=*/true}; }

class Backend {
public:
    virtual ~Backend() = default;
    // "cpu", "cuda": what -v prints.
    virtual const char* name() const = 0;
    // This backend, but keeping the weights it multiplies packed in `panels` for a sampling loop's calls (the CPU's
    // panels: weight_panels.h; the store packs while its Scope lives), or nullptr where the device keeps its weights
    // its own way.
    virtual std::unique_ptr<Backend> packing_into(WeightPanels& panels) const = 0;

    // ---- products (precision: gemm.h) ----
    // C [M, N] (leading dimension ldc) = epilogue(A · B) for A M x K, B K x N.
    virtual void matmul(int64_t M, int64_t N, int64_t K, const Operand& a, const Operand& b, float* c, int64_t ldc,
                        const GemmEpilogue& epilogue, Precision precision) const = 0;
    // out [Cout, OH, OW] = epilogue(conv(in [Cin, H, W])).
    virtual void conv2d(const Conv2dShape& shape, const float* in, const void* weight, ElemType weight_type, float* out,
                        const GemmEpilogue& epilogue, Precision precision) const = 0;
    // o = softmax(scale q k^T) v per head.
    virtual void attention(const AttentionShape& shape, const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v,
                           int64_t ldv, float* o, int64_t ldo, float scale, Precision precision) const = 0;

    // ---- normalisations and activations (ops.h) ----
    virtual void group_norm(const float* x, float* y, int64_t channels, int64_t hw, int64_t groups, float eps, const float* gamma,
                            const float* beta, Activation activation, GroupMoments* shared) const = 0;
    virtual void layer_norm(const float* x, float* y, int64_t rows, int64_t cols, float eps, const float* gamma,
                            const float* beta) const = 0;
    virtual void rms_norm(const float* x, float* y, int64_t rows, int64_t cols, float eps, const float* gamma) const = 0;
    virtual void softmax_rows(float* x, int64_t rows, int64_t cols) const = 0;
    virtual void geglu(const float* x, float* y, int64_t rows, int64_t f) const = 0;
    virtual void activation(float* x, int64_t n, Activation act) const = 0;

    // ---- moving data (ops.h) ----
    virtual void upsample_nearest_2x(const float* x, float* y, int64_t channels, int64_t h, int64_t w) const = 0;
    virtual void resize_nearest(const float* x, float* y, int64_t channels, int64_t h, int64_t w, int64_t H, int64_t W) const = 0;
    virtual void concat_channels(const float* a, int64_t ca, const float* b, int64_t cb, int64_t hw, float* y) const = 0;

    // ---- element-wise (ops.h) ----
    virtual void add(const float* a, const float* b, float* y, int64_t n) const = 0;
    virtual void sub(const float* a, const float* b, float* y, int64_t n) const = 0;
    virtual void mul(const float* a, const float* b, float* y, int64_t n) const = 0;
    virtual void add_scaled(const float* a, float s, const float* b, float* y, int64_t n) const = 0;
    virtual void add_per_channel(float* x, const float* v, int64_t channels, int64_t hw) const = 0;
    virtual void prelu(float* x, const float* slope, int64_t channels, int64_t hw) const = 0;
    virtual void safety_guidance(const float* eps, const float* eps_uncond, const float* eps_concept, float* momentum, float* guidance,
                                 int64_t n, const SafetyGuidance& s, bool apply) const = 0;
};

// The CPU kernels of this library, the reference backend.
const Backend& cpu_backend();

}  // namespace sdref::kernels
