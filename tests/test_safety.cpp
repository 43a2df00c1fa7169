// Safety checker: safety_checker.safetensors — CLIP preprocessing within 2/255 of the pixel range, embeddings and
// cosine scores within the module tolerance, has_nsfw exact, returned images exact (flagged ones black).
#include <catch2/catch.hpp>

#include <cmath>

#include "golden.h"
#include "io/safetensors.h"
#include "pipeline/resize.h"
#include "safety/clip_preprocess.h"
#include "safety/safety_checker.h"

using namespace sdref;

TEST_CASE("the safety checker matches safety_checker.safetensors", "[safety][golden]") {
    const SafetyChecker checker = SafetyChecker::load(test::golden_path("tiny-safety-checker.safetensors"));
    const SafetensorsFile g(test::golden_path("safety_checker.safetensors"));
    const Tensor images = g.load_f32("images_u8"), images_out = g.load_f32("images_out_u8"), clip_input = g.load_f32("clip_input"),
                 embeds = g.load_f32("image_embeds"), cos_concept = g.load_f32("cos_concept"), cos_special = g.load_f32("cos_special"),
                 has_nsfw = g.load_f32("has_nsfw");
    const Json flags = Json::parse(g.meta("has_nsfw"), "has_nsfw metadata");
    const int64_t N = images.dim(0), C = images.dim(1), H = images.dim(2), W = images.dim(3), S = clip_input.dim(2);
    int flagged = 0;
    for (int64_t b = 0; b < N; ++b) {
        INFO("image " << b);
        Image img{int(W), int(H), int(C), std::vector<uint8_t>(size_t(C * H * W))};
        for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < H * W; ++i) img.pixels[size_t(i * C + c)] = uint8_t(images[(b * C + c) * H * W + i]);
        const SafetyResult r = checker.check(img);
        // clip_input: |difference| x std <= 2/255 (two 8-bit levels after the resize)
        static const float stdev[3] = {0.26862954f, 0.26130258f, 0.27577711f};
        double worst_levels = 0;
        for (int64_t c = 0; c < 3; ++c)
            for (int64_t i = 0; i < S * S; ++i)
                worst_levels = std::max(worst_levels, std::fabs(double(r.clip_input[c * S * S + i]) - clip_input[((b * 3 + c) * S * S) + i]) *
                                                          stdev[c] * 255.0);
        INFO("clip_input worst difference " << worst_levels << " levels");
        CHECK(worst_levels <= 2.0);
        const int64_t P = embeds.dim(1);
        test::check_close("image_embeds", r.image_embeds.data(), embeds.data() + b * P, size_t(P), 1e-4);
        test::check_close("cos_concept", r.cos_concept.data(), cos_concept.data() + b * cos_concept.dim(1), r.cos_concept.size(), 1e-4);
        test::check_close("cos_special", r.cos_special.data(), cos_special.data() + b * cos_special.dim(1), r.cos_special.size(), 1e-4);
        CHECK(r.has_nsfw == (has_nsfw[b] != 0));
        CHECK(r.has_nsfw == flags.items()[size_t(b)].as_bool());
        flagged += r.has_nsfw;
        // the returned image: black when flagged, else unchanged
        for (int64_t i = 0; i < C * H * W; ++i)
            REQUIRE(images_out[b * C * H * W + i] == (r.has_nsfw ? 0.0f : images[b * C * H * W + i]));
    }
    CHECK(flagged > 0);
    CHECK(flagged < N);
}

TEST_CASE("PIL bicubic resize: identity and constant images", "[safety]") {
    Image flat{13, 7, 3, std::vector<uint8_t>(13 * 7 * 3, 200)};
    const Image up = pil_resize(flat, 29, 17, ResizeFilter::Bicubic);
    for (uint8_t v : up.pixels) REQUIRE(v == 200);
    Image grad{8, 8, 1, std::vector<uint8_t>(64)};
    for (size_t i = 0; i < 64; ++i) grad.pixels[i] = uint8_t(i * 3);
    CHECK(pil_resize(grad, 8, 8, ResizeFilter::Bicubic).pixels == grad.pixels);
}
