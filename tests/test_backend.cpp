// The op layer (kernels/backend.h): every model reaches the kernels through the backend its ForwardContext names.
// A backend that records each op it is asked for and hands it to the CPU backend must see the ops of a U-Net, a VAE
// decode and a CLIP text encoder, and give the CPU's bits.
#include <catch2/catch.hpp>

#include <cstring>
#include <set>
#include <string>

#include "golden.h"
#include "core/rng.h"
#include "io/safetensors.h"
#include "loader/checkpoint.h"

using namespace sdref;
using namespace sdref::kernels;

namespace {

class RecordingBackend final : public Backend {
public:
    mutable std::set<std::string> seen;
    const Backend& cpu = cpu_backend();

    const char* name() const override { return "recording"; }
    std::unique_ptr<Backend> packing_into(WeightPanels&) const override { return nullptr; }  // (keeps no weights)
    void matmul(int64_t M, int64_t N, int64_t K, const Operand& a, const Operand& b, float* c, int64_t ldc, const GemmEpilogue& ep,
                Precision p) const override {
        seen.insert(a.weight || b.weight ? "matmul with a weight" : "matmul");
        cpu.matmul(M, N, K, a, b, c, ldc, ep, p);
    }
    void conv2d(const Conv2dShape& s, const float* in, const void* w, ElemType t, float* out, const GemmEpilogue& ep, Precision p) const override {
        seen.insert("conv2d");
        cpu.conv2d(s, in, w, t, out, ep, p);
    }
    void attention(const AttentionShape& s, const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv, float* o,
                   int64_t ldo, float scale, Precision p) const override {
        seen.insert(s.causal ? "causal attention" : "attention");
        cpu.attention(s, q, ldq, k, ldk, v, ldv, o, ldo, scale, p);
    }
    void group_norm(const float* x, float* y, int64_t c, int64_t hw, int64_t g, float eps, const float* gamma, const float* beta,
                    Activation act, GroupMoments* shared) const override {
        seen.insert("group_norm");
        cpu.group_norm(x, y, c, hw, g, eps, gamma, beta, act, shared);
    }
    void rms_norm(const float* x, float* y, int64_t rows, int64_t cols, float eps, const float* gamma) const override {
        seen.insert("rms_norm");
        cpu.rms_norm(x, y, rows, cols, eps, gamma);
    }
    void softmax_rows(float* x, int64_t rows, int64_t cols) const override {
        seen.insert("softmax_rows");
        cpu.softmax_rows(x, rows, cols);
    }
    void layer_norm(const float* x, float* y, int64_t rows, int64_t cols, float eps, const float* gamma, const float* beta) const override {
        seen.insert("layer_norm");
        cpu.layer_norm(x, y, rows, cols, eps, gamma, beta);
    }
    void geglu(const float* x, float* y, int64_t rows, int64_t f) const override {
        seen.insert("geglu");
        cpu.geglu(x, y, rows, f);
    }
    void activation(float* x, int64_t n, Activation act) const override {
        seen.insert("activation");
        cpu.activation(x, n, act);
    }
    void upsample_nearest_2x(const float* x, float* y, int64_t c, int64_t h, int64_t w) const override {
        seen.insert("upsample_nearest_2x");
        cpu.upsample_nearest_2x(x, y, c, h, w);
    }
    void resize_nearest(const float* x, float* y, int64_t c, int64_t h, int64_t w, int64_t H, int64_t W) const override {
        seen.insert("resize_nearest");
        cpu.resize_nearest(x, y, c, h, w, H, W);
    }
    void concat_channels(const float* a, int64_t ca, const float* b, int64_t cb, int64_t hw, float* y) const override {
        seen.insert("concat_channels");
        cpu.concat_channels(a, ca, b, cb, hw, y);
    }
    void add(const float* a, const float* b, float* y, int64_t n) const override {
        seen.insert("add");
        cpu.add(a, b, y, n);
    }
    void sub(const float* a, const float* b, float* y, int64_t n) const override {
        seen.insert("sub");
        cpu.sub(a, b, y, n);
    }
    void mul(const float* a, const float* b, float* y, int64_t n) const override {
        seen.insert("mul");
        cpu.mul(a, b, y, n);
    }
    void add_scaled(const float* a, float s, const float* b, float* y, int64_t n) const override {
        seen.insert("add_scaled");
        cpu.add_scaled(a, s, b, y, n);
    }
    void add_per_channel(float* x, const float* v, int64_t c, int64_t hw) const override {
        seen.insert("add_per_channel");
        cpu.add_per_channel(x, v, c, hw);
    }
    void prelu(float* x, const float* slope, int64_t c, int64_t hw) const override {
        seen.insert("prelu");
        cpu.prelu(x, slope, c, hw);
    }
    void safety_guidance(const float* eps, const float* u, const float* c, float* m, float* g, int64_t n, const SafetyGuidance& s,
                         bool apply) const override {
        seen.insert("safety_guidance");
        cpu.safety_guidance(eps, u, c, m, g, n, s, apply);
    }
};

bool same_bits(const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), size_t(a.numel()) * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("models run their ops through the ForwardContext's backend, with the CPU backend's bits", "[backend][golden]") {
    const StableDiffusionModel m = StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"));
    const SafetensorsFile u(test::golden_path("unet_sd1.safetensors"));
    const Tensor x = test::batch_item(u.load_f32("x"), 0), context = test::batch_item(u.load_f32("context"), 0);
    RecordingBackend recording;
    ForwardContext ctx;
    ctx.backend = &recording;
    CHECK(std::string(ForwardContext().ops().name()) == "cpu");

    CHECK(same_bits(m.unet().forward(x, 500.0f, {context, {}}, ctx), m.unet().forward(x, 500.0f, {context, {}})));
    for (const char* op : {"matmul with a weight", "conv2d", "attention", "group_norm", "layer_norm", "geglu", "activation",
                           "concat_channels", "upsample_nearest_2x", "add_per_channel"})
        CHECK(recording.seen.count(op) == 1);

    recording.seen.clear();
    TorchGenerator g(5);
    const Tensor latent = g.randn({m.denoiser().info().latent_channels, 4, 4});
    CHECK(same_bits(m.vae().decode(latent, ctx), m.vae().decode(latent)));
    CHECK(recording.seen.count("conv2d") == 1);
    CHECK(recording.seen.count("attention") == 1);

    recording.seen.clear();
    ConditioningOptions o;
    o.forward = ctx;
    CHECK(same_bits(m.conditioner().encode("a photo of a cat", false, o).context, m.conditioner().encode("a photo of a cat", false, {}).context));
    CHECK(recording.seen.count("causal attention") == 1);
    CHECK(recording.seen.count("layer_norm") == 1);
}
