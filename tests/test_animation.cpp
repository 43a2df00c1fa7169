// Deforum's animation pieces against warp2d.safetensors (set v4): every keyframe schedule of `keyframe_cases` (its
// string, max_frames from the file) within 1e-6 relative; every warp of `warp_cases` (its angle, zoom, translation,
// centre and border): the matrix, the float picture within float rounding (exact with the 1/32 positions) and the
// 8-bit one within 1 level with at least 99% identical; colour coherence in LAB: the histogram matching exact on the
// golden's own Lab intermediates, the conversions within 2 levels, the result within 1 level on average. Then the
// errors of bad schedules.
#include <catch2/catch.hpp>

#include <cmath>

#include "golden.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "pipeline/keyframes.h"
#include "pipeline/warp.h"

using namespace sdref;

namespace {

// An [H, W, 3] tensor of 8-bit values as an Image (or as its floats).
Image image_of(const Tensor& t) {
    Image im{int(t.dim(1)), int(t.dim(0)), 3, std::vector<uint8_t>(size_t(t.numel()))};
    for (int64_t i = 0; i < t.numel(); ++i) im.pixels[size_t(i)] = uint8_t(t[i]);
    return im;
}

struct Difference {
    int worst = 0;
    double same = 0, mean = 0;  // the share of identical values, the mean |difference|
};
Difference compare(const Image& got, const Image& want) {
    REQUIRE(got.pixels.size() == want.pixels.size());
    Difference d;
    for (size_t i = 0; i < got.pixels.size(); ++i) {
        const int x = std::abs(int(got.pixels[i]) - int(want.pixels[i]));
        d.worst = std::max(d.worst, x);
        d.same += x == 0;
        d.mean += x;
    }
    d.same /= double(got.pixels.size());
    d.mean /= double(got.pixels.size());
    return d;
}

}  // namespace

TEST_CASE("keyframe schedules as Deforum parses them: numbers, expressions in t, linear in between", "[animation][golden]") {
    const SafetensorsFile g(test::golden_v4_path("warp2d.safetensors"));
    const int64_t frames = std::stoll(g.meta("max_frames"));
    const Json cases = Json::parse(g.meta("keyframe_cases"), "keyframe_cases");
    REQUIRE(!cases.items().empty());
    for (const Json& c : cases.items()) {
        const std::string schedule = c.at("schedule").as_string();
        INFO("schedule " << schedule);
        const std::vector<double> got = parse_keyframes(schedule, frames, "--zoom");
        const Json& want = c.at("values_f64");
        REQUIRE(got.size() == want.items().size());
        for (size_t i = 0; i < got.size(); ++i) {
            INFO("frame " << i);
            CHECK(std::fabs(got[i] - want.items()[i].as_number()) <= 1e-6 * std::max(1.0, std::fabs(want.items()[i].as_number())));
        }
    }
    CHECK(evaluate_expression("-2**2 + 7 % 3 + abs(-1) * pi / pi", 0, 0, 0, "x") == -4 + 1 + 1);
    CHECK_THROWS_WITH(parse_keyframes("0:(1.0), 10", 20, "--zoom"), Catch::Contains("--zoom") && Catch::Contains("FRAME:(VALUE)"));
    CHECK_THROWS_WITH(parse_keyframes("0:(1.0 + foo(t))", 20, "--angle"), Catch::Contains("unknown name \"foo\""));
    CHECK_THROWS_WITH(parse_keyframes("0:(1.0 + (t)", 20, "--angle"), Catch::Contains("without its"));
    CHECK_THROWS_WITH(parse_keyframes("", 20, "--angle"), Catch::Contains("no FRAME:(VALUE)"));
}

TEST_CASE("Deforum's 2D warp: rotation and zoom about a centre, translation, replicate and wrap borders", "[animation][golden]") {
    const SafetensorsFile g(test::golden_v4_path("warp2d.safetensors"));
    const Tensor input = g.load_f32("input_u8valued");
    const int H = int(input.dim(0)), W = int(input.dim(1));
    const Json cases = Json::parse(g.meta("warp_cases"), "warp_cases");
    REQUIRE(!cases.items().empty());
    for (const Json& c : cases.items()) {
        const std::string i = std::to_string(c.at("index").as_int());
        INFO("warp case " << i);
        Warp2D w;
        w.angle = c.at("angle").as_number(), w.zoom = c.at("zoom").as_number();
        w.tx = c.at("translation_x").as_number(), w.ty = c.at("translation_y").as_number();
        w.center_x = c.at("transform_center_x").as_number(), w.center_y = c.at("transform_center_y").as_number();
        w.border = c.at("border").as_string() == "wrap" ? WarpBorder::Wrap : WarpBorder::Replicate;
        const std::array<double, 9> m = w.matrix(W, H);
        for (size_t k = 0; k < 9; ++k) CHECK(std::fabs(m[k] - c.at("matrix").items()[k / 3].items()[k % 3].as_number()) <= 1e-9);
        const std::vector<float> floats = warp_2d(std::vector<float>(input.data(), input.data() + input.numel()), W, H, w);
        const Tensor want_float = g.load_f32("warp." + i + ".output_from_float_input");
        double worst = 0;
        for (int64_t k = 0; k < want_float.numel(); ++k) worst = std::max(worst, std::fabs(double(floats[size_t(k)]) - want_float[k]));
        CHECK(worst <= 1e-3);
        const Difference d = compare(warp_2d(image_of(input), w), image_of(g.load_f32("warp." + i + ".output_u8valued")));
        INFO("8-bit: largest difference " << d.worst << ", identical " << d.same);
        CHECK(d.worst <= 1);
        CHECK(d.same >= 0.99);
    }
}

TEST_CASE("colour coherence in LAB: OpenCV's 8-bit Lab, scikit-image's histogram matching", "[animation][golden]") {
    const SafetensorsFile g(test::golden_v4_path("warp2d.safetensors"));
    const Image prev = image_of(g.load_f32("color.prev_u8valued")), sample = image_of(g.load_f32("color.sample_u8valued"));
    const Image prev_lab = image_of(g.load_f32("color.LAB.prev_lab_u8valued")), sample_lab = image_of(g.load_f32("color.LAB.sample_lab_u8valued"));
    // the matching, exact on the golden's own Lab pictures
    CHECK(match_histograms(prev_lab, sample_lab).pixels == image_of(g.load_f32("color.LAB.matched_lab_u8valued")).pixels);
    // the conversions, within 2 levels of OpenCV's fixed-point ones
    CHECK(compare(rgb_to_lab8(prev), prev_lab).worst <= 2);
    CHECK(compare(rgb_to_lab8(sample), sample_lab).worst <= 2);
    // the whole, within 1 level on average (the matching amplifies a level's difference in the conversion)
    const Difference d = compare(match_colors_lab(prev, sample), image_of(g.load_f32("color.LAB.output_u8valued")));
    INFO("largest difference " << d.worst << ", mean " << d.mean);
    CHECK(d.mean <= 1.0);
}
