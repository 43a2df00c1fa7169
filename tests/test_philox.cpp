// A1111's GPU-compatible seeds (core/philox.h) against philox_randn.safetensors (set v4): the raw Philox words,
// every randn case (seed, shape, generator offset: successive draws), within the README's bound (1e-5 absolute;
// the double-precision Box-Muller reaches the reference exactly).
#include <catch2/catch.hpp>

#include "core/philox.h"
#include "golden.h"
#include "io/safetensors.h"

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
