// U-Net: one call (batch of 2, integer and fractional timesteps) against the unet_sd1, unet_sd1_inpaint and
// unet_sd2v goldens, within the module tolerance of tests/golden/v1/README.md.
#include <catch2/catch.hpp>

#include "golden.h"
#include "io/safetensors.h"
#include "models/unet.h"

using namespace sdref;

namespace {


// Every batch item of golden `file`: unet(x[b], t_key[b], context[b]) against out_key[b].
void check_unet(const UNet& unet, const std::string& file, const std::string& t_key, const std::string& out_key) {
    const SafetensorsFile g(test::golden_path(file));
    const Tensor x = g.load_f32("x"), t = g.load_f32(t_key), ctx = g.load_f32("context"), ref = g.load_f32(out_key);
    for (int64_t b = 0; b < x.dim(0); ++b)
        test::check_close(file + " " + out_key + " item " + std::to_string(b) + " (t = " + std::to_string(t[b]) + ")",
                          unet.forward(test::batch_item(x, b), t[b], {test::batch_item(ctx, b), {}}), test::batch_item(ref, b), 1e-4);
}

UNet load_single(const std::string& file) {
    auto w = std::make_shared<WeightStore>();
    w->add_file(test::golden_path(file));
    return UNet::load(w);
}

}  // namespace

TEST_CASE("U-Net SD 1.x matches unet_sd1 at integer and fractional timesteps", "[unet][golden]") {
    const UNet unet = load_single("tiny-sd1.safetensors");
    check_unet(unet, "unet_sd1.safetensors", "t", "eps");
    check_unet(unet, "unet_sd1.safetensors", "t_frac", "eps_frac");
}

TEST_CASE("U-Net with 9 input channels (inpainting) matches unet_sd1_inpaint", "[unet][golden]") {
    const UNet unet = load_single("tiny-sd1-inpaint.safetensors");
    CHECK(unet.config().in_channels == 9);
    check_unet(unet, "unet_sd1_inpaint.safetensors", "t", "eps");
}

TEST_CASE("U-Net SD 2.x (linear projections, per-level heads) matches unet_sd2v", "[unet][golden]") {
    const UNet unet = load_single("tiny-sd2v.safetensors");
    CHECK(unet.config().heads == std::vector<int64_t>{2, 4, 4, 4});
    check_unet(unet, "unet_sd2v.safetensors", "t", "out");
}
