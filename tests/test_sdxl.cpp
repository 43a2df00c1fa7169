// SDXL modules against set v2's goldens: both text encoders and the conditioner (clip_text_sdxl), the U-Net with
// label_emb and micro-conditioning (unet_sdxl), model detection and its defaults. Whole generations are in
// test_pipeline.cpp. Tolerances: tests/golden/v1/README.md's module bound (1e-4 of the largest value).
#include <catch2/catch.hpp>

#include <algorithm>

#include "golden.h"
#include "io/safetensors.h"
#include "models/checkpoint.h"

using namespace sdref;

namespace {

constexpr double kModuleTol = 1e-4;

std::vector<int> ids_of(const SafetensorsFile& g, const std::string& name) {
    const Tensor t = g.load_f32(name);
    std::vector<int> ids;
    for (int64_t i = 0; i < t.numel(); ++i) ids.push_back(int(t[i]));
    return ids;
}

// The prompt the set's README quotes for a case (its line: "| `file` | both encoders on \"a photo of a cat\": ...").
std::string readme_prompt(const std::string& file) {
    const std::string readme = test::read_bytes(test::golden_v2_path("README.md"));
    const size_t line = readme.find("| `" + file + "`");
    REQUIRE(line != std::string::npos);
    const size_t a = readme.find('"', line), b = readme.find('"', a + 1);
    REQUIRE((b != std::string::npos && readme.find('\n', line) > b));
    return readme.substr(a + 1, b - a - 1);
}

}  // namespace

TEST_CASE("SDXL's two text encoders and its conditioner match clip_text_sdxl", "[sdxl][clip][golden]") {
    const SafetensorsFile g(test::golden_v2_path("clip_text_sdxl.safetensors"));
    const std::string prompt = readme_prompt("clip_text_sdxl.safetensors");
    const std::vector<int> ids_l = ids_of(g, "input_ids_l"), ids_g = ids_of(g, "input_ids_g");
    // the two tokenizations: the end token pads encoder 1 (CLIP-L), 0 pads encoder 2 (OpenCLIP-G)
    CHECK(ClipTokenizer::builtin().encode_padded(prompt, ClipTokenizer::kPadSd1) == ids_l);
    CHECK(ClipTokenizer::builtin().encode_padded(prompt, ClipTokenizer::kPadSd2) == ids_g);

    auto store = std::make_shared<WeightStore>();
    store->add_file(test::golden_v2_path("tiny-sdxl.safetensors"));
    const Json meta = text_config_metadata(*store);
    const ClipTextEncoder l = ClipTextEncoder::load(store, meta.find("clip_l"), "conditioner.embedders.0.");
    const ClipTextEncoder G = ClipTextEncoder::load(store, meta.find("clip_g"), "conditioner.embedders.1.");
    const ClipTextOutput ol = l.forward(ids_l), og = G.forward(ids_g);
    const Tensor pen_l = test::batch_item(g.load_f32("penultimate_l"), 0), pen_g = test::batch_item(g.load_f32("penultimate_g"), 0);
    const Tensor pooled = test::batch_item(g.load_f32("pooled_projected_g"), 0);
    test::check_close("penultimate_l", ol.hidden[ol.hidden.size() - 2], pen_l, kModuleTol);
    test::check_close("penultimate_g", og.hidden[og.hidden.size() - 2], pen_g, kModuleTol);
    test::check_close("pooled_projected_g", TextProjection::load(*store, "conditioner.embedders.1.", 64).apply(og.pooled), pooled, kModuleTol);

    // the conditioner: context = [penultimate_l | penultimate_g], y starts with the projected pooled vector
    const StableDiffusionModel model = StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl.safetensors"));
    CHECK(model.info().family == ModelFamily::SDXL);
    ConditioningOptions o;
    o.width = o.height = 1024;
    const Conditioning c = model.conditioner().encode(prompt, false, o);
    test::check_close("context", c.context, concat_features(pen_l, pen_g), kModuleTol);
    REQUIRE(c.vector.numel() == model.unet().config().adm_in_channels);
    test::check_close("y's pooled part", c.vector.data(), pooled.data(), size_t(pooled.numel()), kModuleTol);
    // an empty negative prompt is zeros (force_zeros_for_empty_prompt); a non-empty one is encoded
    const Conditioning empty = model.conditioner().encode("", true, o);
    for (int64_t i = 0; i < empty.context.numel(); ++i) REQUIRE(empty.context[i] == 0.0f);
    for (int64_t i = 0; i < pooled.numel(); ++i) REQUIRE(empty.vector[i] == 0.0f);
    CHECK(model.conditioner().encode("", false, o).context[0] != 0.0f);
}

TEST_CASE("the SDXL U-Net with label_emb and micro-conditioning matches unet_sdxl", "[sdxl][unet][golden]") {
    const SafetensorsFile g(test::golden_v2_path("unet_sdxl.safetensors"));
    const StableDiffusionModel model = StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl.safetensors"));
    const UNetConfig& c = model.unet().config();
    CHECK(c.channels.size() == 3);
    CHECK_FALSE(c.attention[0]);
    const Tensor x = g.load_f32("x"), t = g.load_f32("t"), ctx = g.load_f32("context"), pooled = g.load_f32("text_embeds"),
                 ids = g.load_f32("time_ids"), eps = g.load_f32("eps");
    for (int64_t b = 0; b < x.dim(0); ++b) {
        const Tensor time_ids = test::batch_item(ids, b);
        const std::vector<float> values(time_ids.data(), time_ids.data() + time_ids.numel());
        const Conditioning cond{test::batch_item(ctx, b), micro_vector(test::batch_item(pooled, b), values, c.adm_in_channels, "unet_sdxl")};
        test::check_close("eps " + std::to_string(b), model.unet().forward(test::batch_item(x, b), t[b], cond), test::batch_item(eps, b), kModuleTol);
    }
    // a vector of the wrong width is an error naming label_emb
    CHECK_THROWS_WITH(model.unet().forward(test::batch_item(x, 0), t[0], {test::batch_item(ctx, 0), {}}), Catch::Contains("label_emb"));
}

TEST_CASE("SDXL checkpoints: family, refiner and defaults are detected from the tensors", "[sdxl][checkpoint][golden]") {
    const StableDiffusionModel base = StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl.safetensors"));
    CHECK(base.info().family_name == "SDXL");
    CHECK(base.info().default_width == 1024);
    CHECK(base.info().default_height == 1024);
    CHECK(base.info().vae_scale == 0.13025f);
    CHECK(base.info().scheduler.timestep_spacing == "leading");
    // unused: logit_scale (only CLIP's contrastive training uses it), nothing of the models
    const std::vector<std::string> unused = base.unused_tensors();
    CHECK(std::any_of(unused.begin(), unused.end(), [](const std::string& u) { return u.find("logit_scale") != std::string::npos; }));
    for (const std::string& u : unused) CHECK(u.find("model.diffusion_model.") == std::string::npos);
    const StableDiffusionModel refiner = StableDiffusionModel::load(test::golden_v2_path("tiny-sdxl-refiner.safetensors"));
    CHECK(refiner.info().family == ModelFamily::SDXLRefiner);
    CHECK(refiner.unet().config().channels.size() == 4);
    // the refiner's unconditional side takes the negative aesthetic score
    ConditioningOptions o;
    o.width = o.height = 128;
    const Conditioning pos = refiner.conditioner().encode("a cat", false, o), neg = refiner.conditioner().encode("a cat", true, o);
    CHECK(pos.context.shape() == neg.context.shape());
    const int64_t last = pos.vector.numel() - 1;
    CHECK(pos.vector[last] != neg.vector[last]);
}
