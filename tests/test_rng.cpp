// PyTorch-compatible generator: every tensor of torch_randn.safetensors, bit for bit.
#include <catch2/catch.hpp>

#include <cctype>

#include "core/rng.h"
#include "golden.h"
#include "io/safetensors.h"

using namespace sdref;

namespace {

uint64_t seed_of(const std::string& name) {
    const size_t at = name.find(".seed");
    REQUIRE(at != std::string::npos);
    return std::stoull(name.substr(at + 5));
}

// The draw sizes of a randn_seq case, as the file's `about` text states them: "randn_seq = randn(16), ..."
std::vector<size_t> sequence_sizes(const std::string& about) {
    const size_t at = about.find("randn_seq =");
    REQUIRE(at != std::string::npos);
    const std::string rest = about.substr(at, about.find(" drawn", at) - at);
    std::vector<size_t> sizes;
    for (size_t p = rest.find("randn("); p != std::string::npos; p = rest.find("randn(", p + 1))
        sizes.push_back(std::stoull(rest.substr(p + 6)));
    REQUIRE(!sizes.empty());
    return sizes;
}

}  // namespace

TEST_CASE("torch.randn matches PyTorch bit for bit, every golden case", "[rng][golden]") {
    const SafetensorsFile file(test::golden_path("torch_randn.safetensors"));
    const std::vector<size_t> seq = sequence_sizes(file.meta("about"));
    size_t cases = 0;
    for (const TensorView& view : file.tensors()) {
        const Tensor ref = view.to_f32();
        TorchGenerator gen(seed_of(view.name));
        std::vector<float> got(size_t(ref.numel()));
        if (view.name.rfind("randn_seq.", 0) == 0) {
            // several draws from one generator: the state (and the cached normal) carries over
            size_t offset = 0;
            for (size_t n : seq) {
                REQUIRE(offset + n <= got.size());
                gen.randn(got.data() + offset, n);
                offset += n;
            }
            REQUIRE(offset == got.size());
        } else {
            gen.randn(got.data(), got.size());
        }
        test::check_close(view.name, got.data(), ref.data(), got.size(), 0.0);
        ++cases;
    }
    CHECK(cases == file.tensors().size());
    CHECK(cases >= 8);
}

TEST_CASE("64-bit seeds keep only their low 32 bits, as PyTorch's mt19937 does", "[rng]") {
    TorchGenerator a(7), b((uint64_t(1) << 32) + 7);
    for (int i = 0; i < 100; ++i) REQUIRE(a.random() == b.random());
}

TEST_CASE("the scalar path caches the second Box-Muller value across calls", "[rng]") {
    TorchGenerator one(3), two(3);
    float x[2], y[2];
    one.randn(x, 2);         // one pair
    two.randn(&y[0], 1);     // first value of the pair
    two.randn(&y[1], 1);     // the cached second value: no new draw
    CHECK(x[0] == y[0]);
    CHECK(x[1] == y[1]);
    CHECK(one.random() == two.random());
}
