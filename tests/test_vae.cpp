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
