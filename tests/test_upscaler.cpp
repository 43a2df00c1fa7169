// Real-ESRGAN upscalers (models/upscaler.h) against realesrgan.safetensors (set v4): every network case its `cases`
// entry names, from each of its files (the released .pth and the .safetensors), on the case's input: the network
// output within the README's bound (1e-4 relative), the cropped output of the x2 model's padded input; every
// A1111 tiled case (`tiled_cases`: model, tile, overlap) 8-bit, within 1 level with at least 99% identical; then the
// errors: a file that is not an upscaler, a missing file.
#include <catch2/catch.hpp>

#include <cmath>

#include "golden.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "models/upscaler.h"

using namespace sdref;

namespace {

Image image_u8(const TensorView& v) {  // [H, W, 3] U8
    REQUIRE(v.shape.size() == 3);
    return {int(v.shape[1]), int(v.shape[0]), 3, std::vector<uint8_t>(v.bytes, v.bytes + v.nbytes)};
}

}  // namespace

TEST_CASE("Real-ESRGAN RRDBNet x4 and x2, SRVGGNetCompact: the networks' outputs from .pth and .safetensors", "[upscaler][golden]") {
    const SafetensorsFile g(test::golden_v4_path("realesrgan.safetensors"));
    const Json cases = Json::parse(g.meta("cases"), "realesrgan.safetensors cases");
    REQUIRE(!cases.members().empty());
    for (const auto& [name, c] : cases.members()) {
        for (const Json& file : c.at("files").items()) {
            INFO("case " << name << " file " << file.as_string());
            const Upscaler u = Upscaler::load(test::golden_v4_path(file.as_string()));
            CHECK(u.arch_name() == c.at("arch").as_string());
            const Json& config = c.at("config");
            CHECK(u.scale() == (config.find("scale") ? config.at("scale") : config.at("upscale")).as_int());
            const Tensor input = test::batch_item(g.load_f32(name + ".model_input"), 0);
            const Tensor out = u.upscale(input);
            test::check_close(name + ".model_output", out, test::batch_item(g.load_f32(name + ".model_output"), 0), 1e-4);
            // RealESRGANer: the case's own input, padded as the model needs, the output cropped back
            test::check_close(name + ".output", u.upscale(test::batch_item(g.load_f32("input"), 0)), test::batch_item(g.load_f32(name + ".output"), 0), 1e-4);
        }
    }
}

TEST_CASE("A1111's tiled upscale (upscale_with_model): 8-bit tiles blended along their overlaps", "[upscaler][golden]") {
    const SafetensorsFile g(test::golden_v4_path("realesrgan.safetensors"));
    const Json cases = Json::parse(g.meta("cases"), "realesrgan.safetensors cases");
    const Json tiled = Json::parse(g.meta("tiled_cases"), "realesrgan.safetensors tiled_cases");
    REQUIRE(!tiled.members().empty());
    for (const auto& [name, c] : tiled.members()) {
        INFO("tiled case " << name);
        const std::string model = c.at("model").as_string();
        const Upscaler u = Upscaler::load(test::golden_v4_path(cases.at(model).at("files").items().back().as_string()));
        const Image in = image_u8(g.get("a1111_tiled." + name + ".input_u8"));
        for (const auto& [suffix, tile] : {std::pair<std::string, int>{".output_u8", int(c.at("tile_size").as_int())}, std::pair<std::string, int>{".untiled_u8", 0}}) {
            const TensorView* ref = g.find("a1111_tiled." + name + suffix);
            if (!ref) continue;
            INFO(suffix);
            const Image want = image_u8(*ref);
            const Image got = upscale_tiled(u, in, tile, int(c.at("tile_overlap").as_int()));
            REQUIRE(got.width == want.width);
            REQUIRE(got.height == want.height);
            size_t same = 0, worst = 0;
            for (size_t i = 0; i < want.pixels.size(); ++i) {
                const int d = std::abs(int(got.pixels[i]) - int(want.pixels[i]));
                same += d == 0;
                worst = std::max<size_t>(worst, size_t(d));
            }
            INFO("identical " << same << " of " << want.pixels.size() << ", largest difference " << worst);
            CHECK(worst <= 1);
            CHECK(same >= want.pixels.size() * 99 / 100);
        }
    }
}

TEST_CASE("upscalers: a file that is not one, a missing file, a bad tiling are clear errors", "[upscaler]") {
    CHECK_THROWS_WITH(Upscaler::load(test::golden_v4_path("philox_randn.safetensors")), Catch::Contains("not a Real-ESRGAN upscaler"));
    CHECK_THROWS_WITH(Upscaler::load("/nonexistent/x4.pth"), Catch::Contains("no such file"));
    const SafetensorsFile g(test::golden_v4_path("realesrgan.safetensors"));
    const Json cases = Json::parse(g.meta("cases"), "realesrgan.safetensors cases");
    const Upscaler u = Upscaler::load(test::golden_v4_path(cases.members().begin()->second.at("files").items().back().as_string()));
    const Image in{8, 8, 3, std::vector<uint8_t>(192, 7)};
    CHECK_THROWS_WITH(upscale_tiled(u, in, 16, 16), Catch::Contains("overlap"));
    CHECK_THROWS_WITH(u.upscale(Tensor({4, 8, 8})), Catch::Contains("[3, H, W]"));
}
