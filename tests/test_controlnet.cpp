// ControlNet against set v2's goldens: the 12 down residuals and the mid residual of one call, from the original
// layout and from the diffusers folder (same weights), at the module tolerance.
#include <catch2/catch.hpp>

#include <cmath>

#include "golden.h"
#include "io/safetensors.h"
#include "models/controlnet.h"

using namespace sdref;

TEST_CASE("ControlNet residuals match the golden, from both layouts", "[controlnet][golden]") {
    const SafetensorsFile g(test::golden_v2_path("controlnet.safetensors"));
    const Tensor x = test::batch_item(g.load_f32("x"), 0), ctx = test::batch_item(g.load_f32("context"), 0),
                 hint = test::batch_item(g.load_f32("hint"), 0);
    const float t = g.load_f32("t")[0];
    for (const std::string& path : {test::golden_v2_path("tiny-controlnet.safetensors"), test::golden_v2_path("tiny-controlnet-diffusers")}) {
        INFO(path);
        const ControlNet cn = ControlNet::load(path);
        const ControlResiduals r = cn.forward(x, t, {ctx, {}}, hint, 1.0f);
        REQUIRE(r.down.size() == 12);
        for (size_t i = 0; i < r.down.size(); ++i)
            test::check_close("down." + std::to_string(i), r.down[i], test::batch_item(g.load_f32("down." + std::to_string(i)), 0), 1e-4);
        // The set's "mid" tensor holds 256 NaNs (a defect of the golden file, not of a reference computation: the
        // whole pipeline golden, which adds the mid residual at every step, is finite). Then the mid residual is
        // checked by pipe_controlnet_ddim (test_pipeline.cpp) instead; any other golden value is compared.
        const Tensor mid = test::batch_item(g.load_f32("mid"), 0);
        int64_t nan = 0;
        for (int64_t i = 0; i < mid.numel(); ++i) nan += std::isnan(mid[i]);
        CHECK((nan == 0 || nan == mid.numel()));
        if (nan == 0) test::check_close("mid", r.mid, mid, 1e-4);
        else WARN("controlnet.safetensors: the golden mid residual is all NaN; pipe_controlnet_ddim checks it");
        CHECK(all_finite(r.mid.data(), r.mid.numel()));
    }
}
