// gemm.h: C = epilogue(A · B), the one matrix multiply every model layer goes through.
//
// BLIS structure: the driver (gemm.cpp) cuts the problem into blocks that fit the caches, asks the operands to
// pack those blocks into contiguous fp32 panels (converting fp16/bf16 weights on the way, so weights stay
// 16-bit in memory), and runs a register-blocked micro-kernel over the panels. The micro-kernel for this CPU
// is chosen once from a table (ukernel.h). Threads (OpenMP) share the M blocks or the N chunks; every
// element of C is summed by one thread in the same order (a chain of fused multiply-adds over k = 0..K-1), so
// the result has the same bits for any thread count, block size or ISA.
//
// Shapes: A is M x K, B is K x N, C is M x N row-major with leading dimension ldc.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sdref::kernels {

enum class Precision { FP32, BF16 };
// How a weight is stored: fp32, fp16, bf16, or FP8 E4M3FN (1 sign, 4 exponent bits biased by 7, 3 mantissa bits;
// no infinities, S.1111.111 is NaN: t5xxl_fp8_e4m3fn.safetensors); every one converts to fp32 exactly.
enum class ElemType { F32, F16, BF16, F8E4M3 };
inline int64_t elem_bytes(ElemType t) { return t == ElemType::F32 ? 4 : t == ElemType::F8E4M3 ? 1 : 2; }

// A K x W view of a matrix in memory ("K" is the reduction dimension): element (k, w) is at
// data[k * k_stride + w * w_stride], stored as `type`. Both GEMM operands are described this way:
//   A (M x K):  W = M;  a row-major activation [M, K] has k_stride 1, w_stride K
//   B (K x N):  W = N;  a PyTorch weight [N, K] (out, in) has k_stride 1, w_stride K;
//                       a row-major [K, N] matrix has k_stride N, w_stride 1
struct StridedMatrix {
    const void* data = nullptr;
    ElemType type = ElemType::F32;
    int64_t k_stride = 1;
    int64_t w_stride = 1;
};

// Something that can fill packed panels: pack() packs columns w0 .. w0 + w - 1 (w >= 1) of K rows k0 .. k0 + kc - 1
// as ceil(w / width) panels of kc x width floats, one after the other:
//   dst[q * kc * width + k * width + p] = operand(k0 + k, w0 + q * width + p)
// and zeros in the columns at or past w. width is MR for A and NR for B. Packing several panels in one call
// lets a source walk its memory in its own best order (Im2colSource reads each image row once per k).
struct MicroKernelInfo;
// Which operand of a product a panel belongs to: A (M x K, panels MR wide) or B (K x N, panels NR wide).
enum class Side { A, B };
class PanelSource {
public:
    virtual ~PanelSource() = default;
    virtual void pack(float* dst, int64_t k0, int64_t kc, int64_t w0, int64_t w, int width) const = 0;
    // The operand already packed for micro-kernel uk as operand `side` (panels MR or NR wide): K block kb's first
    // panel, laid out as weight_panels.h says; nullptr (the default) when it is not, and gemm() packs it with pack().
    virtual const float* packed_block(const MicroKernelInfo& uk, Side side, int64_t kb) const {
        (void)uk, (void)side, (void)kb;
        return nullptr;
    }
};

// The strided-matrix source, fp32/fp16/bf16.
class StridedSource : public PanelSource {
public:
    explicit StridedSource(const StridedMatrix& m) : m_(m) {}
    void pack(float* dst, int64_t k0, int64_t kc, int64_t w0, int64_t w, int width) const override;

private:
    void pack_panel(float* dst, int64_t k0, int64_t kc, int64_t w0, int64_t w, int width) const;  // w <= width
    template <int W>
    void convert_gather_rows(float* dst, int64_t k0, int64_t kc, int64_t w0, int64_t w) const;  // k-contiguous fp16/bf16
    StridedMatrix m_;
};

// activation.h defines each; LeakyRelu's negative slope is 0.2 (ESRGAN's).
enum class Activation { None, Silu, Gelu, QuickGelu, Relu, LeakyRelu, GeluTanh };

// Applied to each finished element, in this order: + bias, activation, + residual.
struct GemmEpilogue {
    const float* row_bias = nullptr;  // [M], added along rows (a conv's per-output-channel bias)
    const float* col_bias = nullptr;  // [N], added along columns (a linear layer's bias)
    Activation activation = Activation::None;
    const float* residual = nullptr;  // [M, N] with leading dimension ldc, added last; must not alias c (the
                                      // kernel may write parts of c before it reads their residual)
};

// `precision`: the products' (below). The caller says which: a model's forward pass passes its ForwardContext's.
void gemm(int64_t M, int64_t N, int64_t K, const PanelSource& a, const PanelSource& b, float* c, int64_t ldc,
          const GemmEpilogue& epilogue = {}, Precision precision = Precision::FP32);

// Linear layer: y[M, N] = x[M, K] · w[N, K]^T (+ bias) with x fp32 row-major (leading dimension ldx) and
// w in its stored type, row-major (PyTorch's [out_features, in_features]).
void linear(int64_t M, int64_t N, int64_t K, const float* x, int64_t ldx, const void* w, ElemType w_type,
            float* y, int64_t ldy, const GemmEpilogue& epilogue = {}, Precision precision = Precision::FP32);

// Threads used by the kernels the calling thread runs (OpenMP teams); 0 means OpenMP's default. A setting of the
// calling thread, not of the process: two generations on two threads each keep their own.
void set_num_threads(int n);
int num_threads();
// The threads worth waking for a kernel of `work` units (elements of a memory-bound loop, or flops / 64): one per
// 64K units, at least one, at most num_threads(). Starting and ending a parallel region costs microseconds (more
// when the threads sleep between regions, or another process holds a core): a small kernel runs faster on the
// calling thread alone. The results do not depend on it (every kernel's bits are the same for any thread count).
int threads_for(int64_t work);

// set_num_threads(n) for the scope's lifetime when n > 0 (a generation's ForwardContext::threads), the calling
// thread's previous count again after.
class ThreadScope {
public:
    explicit ThreadScope(int n);
    ~ThreadScope();
    ThreadScope(const ThreadScope&) = delete;
    ThreadScope& operator=(const ThreadScope&) = delete;

private:
    int previous_;
    bool set_;
};

// The precision of a product (ukernel.h), given with each call: FP32, or BF16, which rounds both operands to bf16
// as they are packed and accumulates in fp32; on a CPU without bf16 instructions (precision_supported() false) a
// BF16 product runs in fp32. Everything that is not a product stays fp32.
bool precision_supported(Precision p);
// Why --precision bf16 runs in fp32 on this CPU (a sentence, for a one-time notice), or nullptr where it does not.
const char* bf16_fallback_reason();
// The micro-kernel a precision runs on, by name ("amx_32x32"), for -v.
const char* micro_kernel_name(Precision p);

}  // namespace sdref::kernels

namespace sdref::kernels {
// gemm() with a given micro-kernel (tests hold every ISA's kernel against the scalar oracle through this).
void gemm_with_kernel(const MicroKernelInfo& uk, int64_t M, int64_t N, int64_t K, const PanelSource& a,
                      const PanelSource& b, float* c, int64_t ldc, const GemmEpilogue& epilogue = {});
}  // namespace sdref::kernels
