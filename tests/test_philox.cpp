// A1111's GPU-compatible seeds (core/philox.h, pipeline/seed_noise.h) against philox_randn.safetensors (set v4): the raw Philox words,
// every randn case (seed, shape, generator offset: successive draws), within the README's bound (1e-5 absolute;
// the double-precision Box-Muller reaches the reference exactly).
#include <catch2/catch.hpp>

#include "core/philox.h"
#include "golden.h"
#include "io/safetensors.h"
#include "pipeline/seed_noise.h"

using namespace sdref;

TEST_CASE("Philox4x32-10 gives the reference's words and randn for every case, draw after draw", "[rng][philox][golden]") {
    const SafetensorsFile g(test::golden_v4_path("philox_randn.safetensors"));
    // philox_words.<seed>: [16, 4] words of offset 0, counters i = 0..15
    int word_cases = 0;
    for (const TensorView& v : g.tensors()) {
        const std::string prefix = "philox_words.";
        if (v.name.rfind(prefix, 0) != 0) continue;
        const uint64_t seed = std::stoull(v.name.substr(prefix.size()));
        INFO(v.name);
        REQUIRE(v.shape.size() == 2);
        REQUIRE(v.dtype == DType::I64);
        const int64_t* raw = reinterpret_cast<const int64_t*>(v.bytes);
        for (int64_t i = 0; i < v.shape[0]; ++i) {
            const std::array<uint32_t, 4> w = PhiloxGenerator::philox({0u, 0u, uint32_t(i), 0u}, {uint32_t(seed), uint32_t(seed >> 32)});
            for (int64_t k = 0; k < 4; ++k) REQUIRE(int64_t(w[size_t(k)]) == raw[i * 4 + k]);
        }
        ++word_cases;
    }
    CHECK(word_cases > 0);
    // every randn case: a fresh generator of its seed, drawn `offset` times before
    const Json cases = Json::parse(g.meta("cases"), "philox_randn cases");
    REQUIRE(!cases.members().empty());
    for (const auto& [name, c] : cases.members()) {
        INFO(name);
        Shape shape;
        for (const Json& d : c.at("shape").items()) shape.push_back(d.as_int());
        PhiloxGenerator gen(uint64_t(c.at("seed").as_number()));
        for (int64_t o = 0; o < c.at("offset").as_int(); ++o) (void)gen.randn(shape);
        const Tensor got = gen.randn(shape), ref = g.load_f32(name);
        REQUIRE(got.shape() == ref.shape());
        double worst = 0;
        for (int64_t i = 0; i < ref.numel(); ++i) worst = std::max(worst, std::fabs(double(got[i]) - double(ref[i])));
        CHECK(worst <= 1e-5);
    }
}

// A1111's seed variation through the picture's own generator (pipeline/seed_noise.h): every variation case of
// philox_randn.safetensors, per picture of its batch: the slerp's two inputs, the starting noise and the next draw.
TEST_CASE("variation seeds, seed resize-from and ENSD give A1111's starting noise and next draw", "[rng][philox][golden]") {
    const SafetensorsFile g(test::golden_v4_path("philox_randn.safetensors"));
    const Json cases = Json::parse(g.meta("variation_cases"), "philox_randn variation_cases");
    REQUIRE(!cases.members().empty());
    auto close = [](const std::string& what, const Tensor& got, const float* ref, int64_t n) {
        INFO(what);
        REQUIRE(got.numel() == n);
        double worst = 0, top = 1;
        for (int64_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(double(got[i]) - ref[i])), top = std::max(top, std::fabs(double(ref[i])));
        CHECK(worst <= 1e-5 * top);
    };
    for (const auto& [name, c] : cases.members()) {
        INFO(name);
        Shape shape;
        for (const Json& d : c.at("shape").items()) shape.push_back(d.as_int());
        const std::vector<Json>& seeds = c.at("seeds").items();
        const Json* subseeds = c.find("subseeds");
        const Tensor x = g.load_f32("variation." + name + ".x"), next = g.load_f32("variation." + name + ".next1");
        const int64_t per = shape_numel(shape);
        for (size_t b = 0; b < seeds.size(); ++b) {
            const uint64_t seed = uint64_t(seeds[b].as_number());
            SeedVariation v;
            v.strength = float(c.at("strength").as_number());
            if (subseeds && !subseeds->is_null()) v.subseed = uint64_t(subseeds->items().at(b).as_number());
            if (const Json* h = c.find("resize_h")) v.resize_height = h->as_int(), v.resize_width = c.at("resize_w").as_int();
            if (const Json* e = c.find("ensd")) v.eta_noise_seed_delta = uint64_t(e->as_int());
            std::unique_ptr<NoiseSource> gen = make_noise_source(NoiseRng::Cuda, seed);
            close("x of picture " + std::to_string(b), seed_noise(gen, NoiseRng::Cuda, seed, v, shape), x.data() + int64_t(b) * per, per);
            close("next draw of picture " + std::to_string(b), gen->randn(shape), next.data() + int64_t(b) * per, per);
            if (const TensorView* sn = g.find("variation." + name + ".seed_noise")) {  // the slerp's inputs, as drawn
                const Tensor seed_in = g.load_f32(sn->name), sub_in = g.load_f32("variation." + name + ".subseed_noise");
                const int64_t small = seed_in.numel() / int64_t(seeds.size());
                const Shape small_shape(seed_in.shape().begin() + 1, seed_in.shape().end());
                close("seed noise", make_noise_source(NoiseRng::Cuda, seed)->randn(small_shape), seed_in.data() + int64_t(b) * small, small);
                close("subseed noise", make_noise_source(NoiseRng::Cuda, v.subseed)->randn(small_shape), sub_in.data() + int64_t(b) * small, small);
            }
        }
    }
}
