// TAESD (models/taesd.h) against taesd.safetensors (set v4): for every case its `cases` entry names (the variant, its
// original files and, where listed, its diffusers folder), the decode of its latent (taesd.py's raw output) and the
// encode of its image, within the README's bound (1e-4 of max(1, max |ref|)); the diffusers folder gives the
// original files' bits. Then the errors: an encoder given as the decoder, a file that is not TAESD, a wrong latent.
#include <catch2/catch.hpp>

#include <cmath>

#include "golden.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "models/taesd.h"

using namespace sdref;

namespace {

// The case's files: the decoder (a name with "_decoder."), and its diffusers folder (a name ending in "/"), or "".
std::string file_of(const Json& files, const std::string& marker) {
    for (const Json& f : files.items()) {
        const std::string name = f.as_string();
        if (marker == "/" ? !name.empty() && name.back() == '/' : name.find(marker) != std::string::npos) return name;
    }
    return "";
}

}  // namespace

TEST_CASE("TAESD decodes and encodes as taesd.py, from the original files and from a diffusers folder", "[taesd][golden]") {
    const SafetensorsFile g(test::golden_v4_path("taesd.safetensors"));
    const Json cases = Json::parse(g.meta("cases"), "taesd.safetensors cases");
    REQUIRE(!cases.members().empty());
    for (const auto& [name, c] : cases.members()) {
        INFO("case " << name);
        const std::string decoder = file_of(c.at("files"), "_decoder."), folder = file_of(c.at("files"), "/");
        REQUIRE(!decoder.empty());
        const Taesd taesd = Taesd::load(test::golden_v4_path(decoder));
        REQUIRE(taesd.has_encoder());  // (the _encoder file beside it)
        const Tensor latent = test::batch_item(g.load_f32(name + ".decode.latent"), 0);
        const Tensor decoded = taesd.decode(latent);
        test::check_close(name + ".decode.taesd_out", decoded, test::batch_item(g.load_f32(name + ".decode.taesd_out"), 0), 1e-4);
        const Tensor encoded = taesd.encode(test::batch_item(g.load_f32(name + ".encode.image01"), 0));
        test::check_close(name + ".encode.latent", encoded, test::batch_item(g.load_f32(name + ".encode.latent"), 0), 1e-4);
        if (folder.empty()) continue;
        const Taesd diffusers = Taesd::load(test::golden_v4_path(folder.substr(0, folder.size() - 1)));
        const Tensor again = diffusers.decode(latent);
        CHECK(std::memcmp(again.data(), decoded.data(), size_t(decoded.numel()) * 4) == 0);
        const Tensor encoded_again = diffusers.encode(test::batch_item(g.load_f32(name + ".encode.image01"), 0));
        CHECK(std::memcmp(encoded_again.data(), encoded.data(), size_t(encoded.numel()) * 4) == 0);
    }
}

TEST_CASE("TAESD: bad files and inputs are clear errors", "[taesd]") {
    const SafetensorsFile g(test::golden_v4_path("taesd.safetensors"));
    const Json cases = Json::parse(g.meta("cases"), "taesd.safetensors cases");
    const Json& files = cases.members().begin()->second.at("files");
    const std::string decoder = test::golden_v4_path(file_of(files, "_decoder.")), encoder = test::golden_v4_path(file_of(files, "_encoder."));
    CHECK_THROWS_WITH(Taesd::load(encoder), Catch::Contains("this is an encoder"));
    CHECK_THROWS_WITH(Taesd::load(test::golden_v4_path("philox_randn.safetensors")), Catch::Contains("not a TAESD decoder"));
    CHECK_THROWS_WITH(Taesd::load("/nonexistent/taesd_decoder.safetensors"), Catch::Contains("no such file"));
    const Taesd taesd = Taesd::load(decoder);
    CHECK_THROWS_WITH(taesd.decode(Tensor({taesd.latent_channels() + 1, 4, 4})), Catch::Contains("latents of"));
    CHECK_THROWS_WITH(taesd.encode(Tensor({4, 16, 16})), Catch::Contains("[3, H, W]"));
}
