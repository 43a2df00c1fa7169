// VAE: encoder (mean, logvar) and decoder against the vae golden, from the single-file checkpoint.
#include <catch2/catch.hpp>

#include "golden.h"
#include "io/safetensors.h"
#include "models/vae.h"

using namespace sdref;

namespace {

Tensor first_item(const Tensor& t) {
    Shape s(t.shape().begin() + 1, t.shape().end());
    return Tensor(s, std::vector<float>(t.data(), t.data() + shape_numel(s)));
}

}  // namespace

TEST_CASE("VAE encoder and decoder match the vae golden", "[vae][golden]") {
    auto w = std::make_shared<WeightStore>();
    w->add_file(test::golden_path("tiny-sd1.safetensors"));
    const Vae vae = Vae::load(w);
    const SafetensorsFile g(test::golden_path("vae.safetensors"));
    const VaeOutput enc = vae.encode(first_item(g.load_f32("image")));
    test::check_close("mean", enc.mean, first_item(g.load_f32("mean")), 1e-4);
    test::check_close("logvar", enc.logvar, first_item(g.load_f32("logvar")), 1e-4);
    test::check_close("decoded", vae.decode(first_item(g.load_f32("latent"))), first_item(g.load_f32("decoded")), 1e-4);
}

// SD 3.x's VAE (set v3): 16 latent channels and no quant_conv / post_quant_conv, read from the tiny SD3 file's
// first_stage_model; the golden's z is latent / scaling_factor + shift_factor (both in its metadata, as the pipeline
// computes them), its encode of image gives mean and logvar.
TEST_CASE("SD 3.x's 16-channel VAE without quant convs matches the vae_sd3 golden", "[vae][golden][sd3]") {
    auto w = std::make_shared<WeightStore>();
    w->add_file(test::golden_v3_path("tiny-sd3.safetensors"));
    const Vae vae = Vae::load(w);
    const SafetensorsFile g(test::golden_v3_path("vae_sd3.safetensors"));
    CHECK(vae.latent_channels() == g.get("latent").shape[1]);
    const float scale = std::stof(g.meta("scaling_factor")), shift = std::stof(g.meta("shift_factor"));
    Tensor z = first_item(g.load_f32("latent"));
    for (int64_t i = 0; i < z.numel(); ++i) z[i] = z[i] / scale + shift;
    test::check_close("z", z, first_item(g.load_f32("z")), 1e-6);
    test::check_close("decoded", vae.decode(z), first_item(g.load_f32("decoded")), 1e-4);
    const VaeOutput enc = vae.encode(first_item(g.load_f32("image")));
    test::check_close("mean", enc.mean, first_item(g.load_f32("mean")), 1e-4);
    test::check_close("logvar", enc.logvar, first_item(g.load_f32("logvar")), 1e-4);
}
