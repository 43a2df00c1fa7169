// backend_cpu.cpp: the Backend interface on this library's CPU kernels, one call each. A weight operand goes
// through WeightSource, so a sampling loop's packed panels (weight_panels.h) serve it when the backend packs.
#include "kernels/backend.h"

namespace sdref::kernels {

namespace {

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(WeightPanels* panels) : panels_(panels) {}
    const char* name() const override { return "cpu"; }
    std::unique_ptr<Backend> packing_into(WeightPanels& panels) const override { return std::make_unique<CpuBackend>(&panels); }

    void matmul(int64_t M, int64_t N, int64_t K, const Operand& a, const Operand& b, float* c, int64_t ldc,
                const GemmEpilogue& epilogue, Precision precision) const override {
        const StridedSource sa(a.m), sb(b.m);
        const WeightSource wa(a.m, K, M, panels_), wb(b.m, K, N, panels_);
        gemm(M, N, K, a.weight ? static_cast<const PanelSource&>(wa) : sa, b.weight ? static_cast<const PanelSource&>(wb) : sb, c,
             ldc, epilogue, precision);
    }
    void conv2d(const Conv2dShape& shape, const float* in, const void* weight, ElemType weight_type, float* out,
                const GemmEpilogue& epilogue, Precision precision) const override {
        kernels::conv2d(shape, in, weight, weight_type, out, epilogue, precision, panels_);
    }
    void attention(const AttentionShape& shape, const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
                   float* o, int64_t ldo, float scale, Precision precision) const override {
        kernels::attention(shape, q, ldq, k, ldk, v, ldv, o, ldo, scale, precision);
    }

    void group_norm(const float* x, float* y, int64_t channels, int64_t hw, int64_t groups, float eps, const float* gamma,
                    const float* beta, Activation activation, GroupMoments* shared) const override {
        kernels::group_norm(x, y, channels, hw, groups, eps, gamma, beta, activation, shared);
    }
    void rms_norm(const float* x, float* y, int64_t rows, int64_t cols, float eps, const float* gamma) const override {
        kernels::rms_norm(x, y, rows, cols, eps, gamma);
    }
    void softmax_rows(float* x, int64_t rows, int64_t cols) const override { kernels::softmax_rows(x, rows, cols); }
    void layer_norm(const float* x, float* y, int64_t rows, int64_t cols, float eps, const float* gamma, const float* beta) const override {
        kernels::layer_norm(x, y, rows, cols, eps, gamma, beta);
    }
    void geglu(const float* x, float* y, int64_t rows, int64_t f) const override { kernels::geglu(x, y, rows, f); }
    void activation(float* x, int64_t n, Activation act) const override { kernels::activation(x, n, act); }

    void upsample_nearest_2x(const float* x, float* y, int64_t channels, int64_t h, int64_t w) const override {
        kernels::upsample_nearest_2x(x, y, channels, h, w);
    }
    void resize_nearest(const float* x, float* y, int64_t channels, int64_t h, int64_t w, int64_t H, int64_t W) const override {
        kernels::resize_nearest(x, y, channels, h, w, H, W);
    }
    void concat_channels(const float* a, int64_t ca, const float* b, int64_t cb, int64_t hw, float* y) const override {
        kernels::concat_channels(a, ca, b, cb, hw, y);
    }

    void add(const float* a, const float* b, float* y, int64_t n) const override { kernels::add(a, b, y, n); }
    void sub(const float* a, const float* b, float* y, int64_t n) const override { kernels::sub(a, b, y, n); }
    void mul(const float* a, const float* b, float* y, int64_t n) const override { kernels::mul(a, b, y, n); }
    void add_scaled(const float* a, float s, const float* b, float* y, int64_t n) const override { kernels::add_scaled(a, s, b, y, n); }
    void add_per_channel(float* x, const float* v, int64_t channels, int64_t hw) const override {
        kernels::add_per_channel(x, v, channels, hw);
    }
    void prelu(float* x, const float* slope, int64_t channels, int64_t hw) const override { kernels::prelu(x, slope, channels, hw); }
    void safety_guidance(const float* eps, const float* eps_uncond, const float* eps_concept, float* momentum, float* guidance, int64_t n,
                         const SafetyGuidance& s, bool apply) const override {
        kernels::safety_guidance(eps, eps_uncond, eps_concept, momentum, guidance, n, s, apply);
    }

private:
    WeightPanels* panels_;  // nullptr: weights packed on every call
};

}  // namespace

const Backend& cpu_backend() {
    static const CpuBackend backend(nullptr);
    return backend;
}

}  // namespace sdref::kernels
