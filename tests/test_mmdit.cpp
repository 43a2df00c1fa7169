// The MMDiT (models/mmdit.h) against set v3's mmdit_sd3.safetensors: the tiny SD3 file's transformer (MMDiT-X blocks
// and a pre-only last context block) on each batch item of the square case, with and without the file's
// skip_layers, and on the non-square case b (154 context tokens), within 1e-4.
#include <catch2/catch.hpp>

#include "golden.h"
#include "io/safetensors.h"
#include "models/mmdit.h"

using namespace sdref;

TEST_CASE("MMDiT: the tiny SD3 transformer's velocity, with skipped layers and a non-square latent", "[mmdit][golden][sd3]") {
    auto w = std::make_shared<WeightStore>();
    w->add_file(test::golden_v3_path("tiny-sd3.safetensors"));
    const Mmdit m = Mmdit::load(w);
    const SafetensorsFile g(test::golden_v3_path("mmdit_sd3.safetensors"));
    std::set<int> skip;
    const Json layers = Json::parse(g.meta("skip_layers"), "skip_layers");
    for (const Json& l : layers.items()) skip.insert(int(l.as_int()));
    REQUIRE(!skip.empty());
    for (const std::string suffix : {"", "_b"}) {
        const Tensor x = g.load_f32("x" + suffix), t = g.load_f32("timestep" + suffix), context = g.load_f32("context" + suffix),
                     pooled = g.load_f32("pooled" + suffix), out = g.load_f32("out" + suffix);
        for (int64_t b = 0; b < x.dim(0); ++b) {
            INFO("case " << (suffix.empty() ? "a" : "b") << ", item " << b);
            const Tensor v = m.forward(test::batch_item(x, b), t[b], test::batch_item(context, b), test::batch_item(pooled, b));
            test::check_close("out" + suffix, v, test::batch_item(out, b), 1e-4);
            if (suffix.empty()) {
                const Tensor vs = m.forward(test::batch_item(x, b), t[b], test::batch_item(context, b), test::batch_item(pooled, b), skip);
                test::check_close("out_skip_layers", vs, test::batch_item(g.load_f32("out_skip_layers"), b), 1e-4);
            }
        }
    }
    CHECK_THROWS_WITH(m.forward(Tensor({4, 8, 8}), 1, Tensor({1, 64}), Tensor({56})), Catch::Contains("latents must be"));
}
