// CLIP text encoder: clip_text_sd1 (from the single-file checkpoint and from the diffusers folder) and
// clip_text_sd2 goldens, every output, within the module tolerance of tests/golden/v1/README.md.
#include <catch2/catch.hpp>

#include "golden.h"
#include "io/safetensors.h"
#include "models/clip_text.h"
#include "text/clip_tokenizer.h"

using namespace sdref;

namespace {

constexpr double kModuleTol = 1e-4;

std::vector<std::vector<int>> golden_ids(const SafetensorsFile& g) {
    const Tensor ids = g.load_f32("input_ids");
    std::vector<std::vector<int>> out;
    for (int64_t b = 0; b < ids.dim(0); ++b) {
        std::vector<int> row;
        for (int64_t t = 0; t < ids.dim(1); ++t) row.push_back(int(ids[b * ids.dim(1) + t]));
        out.push_back(row);
    }
    return out;
}


void check_sd1(std::shared_ptr<const WeightStore> w, const Json* config, const std::string& embedder) {
    const ClipTextEncoder enc = ClipTextEncoder::load(w, config, embedder);
    const SafetensorsFile g(test::golden_path("clip_text_sd1.safetensors"));
    const std::vector<std::vector<int>> ids = golden_ids(g);
    const Tensor last = g.load_f32("last_hidden_state"), pen = g.load_f32("penultimate_normed"),
                 raw = g.load_f32("penultimate_raw"), pooled = g.load_f32("pooled");
    for (size_t b = 0; b < ids.size(); ++b) {
        const ClipTextOutput o = enc.forward(ids[b]);
        const std::string tag = "prompt " + std::to_string(b) + " ";
        test::check_close(tag + "last_hidden_state", o.last_hidden, test::batch_item(last, int64_t(b)), kModuleTol);
        test::check_close(tag + "penultimate_normed", enc.encode(ids[b], 2), test::batch_item(pen, int64_t(b)), kModuleTol);
        test::check_close(tag + "penultimate_raw", o.hidden[o.hidden.size() - 2], test::batch_item(raw, int64_t(b)), kModuleTol);
        test::check_close(tag + "pooled", o.pooled, test::batch_item(pooled, int64_t(b)), kModuleTol);
    }
}

}  // namespace

TEST_CASE("the golden input ids are what our tokenizer gives for the golden prompts", "[clip][golden]") {
    const SafetensorsFile g(test::golden_path("clip_text_sd1.safetensors"));
    const Json prompts = Json::parse(g.meta("prompts"), "prompts");
    const std::vector<std::vector<int>> ids = golden_ids(g);
    REQUIRE(prompts.items().size() == ids.size());
    for (size_t b = 0; b < ids.size(); ++b)
        CHECK(ClipTokenizer::builtin().encode_padded(prompts.items()[b].as_string(), ClipTokenizer::kPadSd1) == ids[b]);
}

TEST_CASE("CLIP text encoder (SD 1.x) from the single-file checkpoint matches clip_text_sd1", "[clip][golden]") {
    auto w = std::make_shared<WeightStore>();
    w->add_file(test::golden_path("tiny-sd1.safetensors"));
    check_sd1(w, nullptr, "cond_stage_model.");
}

TEST_CASE("CLIP text encoder (SD 1.x) from the diffusers folder matches clip_text_sd1", "[clip][golden]") {
    auto w = std::make_shared<WeightStore>();
    w->add_file(test::golden_path("tiny-sd1-diffusers/text_encoder/model.safetensors"));
    const Json config = test::load_json_file(test::golden_path("tiny-sd1-diffusers/text_encoder/config.json"));
    check_sd1(w, &config, "");
}

TEST_CASE("OpenCLIP text encoder (SD 2.x) matches clip_text_sd2", "[clip][golden]") {
    auto w = std::make_shared<WeightStore>();
    w->add_file(test::golden_path("tiny-sd2v.safetensors"));
    const ClipTextEncoder enc = ClipTextEncoder::load(w);
    const SafetensorsFile g(test::golden_path("clip_text_sd2.safetensors"));
    const std::vector<std::vector<int>> ids = golden_ids(g);
    const Tensor last = g.load_f32("last_hidden_state"), pen = g.load_f32("penultimate_normed");
    for (size_t b = 0; b < ids.size(); ++b) {
        const std::string tag = "prompt " + std::to_string(b) + " ";
        test::check_close(tag + "last_hidden_state", enc.encode(ids[b], 1), test::batch_item(last, int64_t(b)), kModuleTol);
        test::check_close(tag + "penultimate_normed", enc.encode(ids[b], 2), test::batch_item(pen, int64_t(b)), kModuleTol);
    }
}

TEST_CASE("text encoder loading is strict: a wrong shape or missing tensor names it", "[clip]") {
    const std::string dir = test::scratch_dir("clip-bad");
    const SafetensorsFile src(test::golden_path("tiny-sd1-diffusers/text_encoder/model.safetensors"));
    std::vector<TensorRecord> records;
    for (const TensorView& v : src.tensors()) {
        if (v.name == "text_model.encoder.layers.1.mlp.fc2.bias") continue;  // drop one
        TensorRecord r{v.name, v.dtype, v.shape, std::string(reinterpret_cast<const char*>(v.bytes), v.nbytes)};
        if (v.name == "text_model.encoder.layers.0.self_attn.k_proj.weight") {  // and reshape another
            r.shape = {v.shape[1], v.shape[0]};
            r.shape[0] = 16;
            r.shape[1] = v.shape[0] * v.shape[1] / 16;
        }
        records.push_back(r);
    }
    write_safetensors(dir + "/te.safetensors", records);
    auto w = std::make_shared<WeightStore>();
    w->add_file(dir + "/te.safetensors");
    CHECK_THROWS_WITH(ClipTextEncoder::load(w, nullptr, ""), Catch::Contains("text_model.encoder.layers.0.self_attn.k_proj.weight") &&
                                                    Catch::Contains("[16, 64]") && Catch::Contains("expected [32, 32]"));
}
