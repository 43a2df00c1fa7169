// The T5 encoder (models/t5.h) against set v3's text_sd3.safetensors: the tiny SD3 file's T5 on every prompt's
// input_ids_t5 gives t5_last_hidden_state within 1e-4; and the T5 tokenizer gives those ids from the prompts.
#include <catch2/catch.hpp>

#include "golden.h"
#include "io/safetensors.h"
#include "models/clip_text.h"
#include "models/conditioner_sd3.h"
#include "models/t5.h"
#include "text/clip_tokenizer.h"
#include "text/t5_tokenizer.h"

using namespace sdref;

TEST_CASE("T5 encoder: the last hidden state of every golden prompt", "[t5][golden][sd3]") {
    auto w = std::make_shared<WeightStore>();
    w->add_file(test::golden_v3_path("tiny-sd3.safetensors"));
    const T5Encoder t5 = T5Encoder::load(w, "text_encoders.t5xxl.transformer.");
    const SafetensorsFile g(test::golden_v3_path("text_sd3.safetensors"));
    const Tensor ids = g.load_f32("input_ids_t5"), want = g.load_f32("t5_last_hidden_state");
    const Json prompts = Json::parse(g.meta("prompts"), "prompts");
    const T5Tokenizer tokenizer = T5Tokenizer::load(test::golden_v3_path("t5_tokenizer.json"));
    REQUIRE(int64_t(prompts.items().size()) == ids.dim(0));
    for (int64_t b = 0; b < ids.dim(0); ++b) {
        INFO("prompt " << b);
        std::vector<int> row;
        for (int64_t i = 0; i < ids.dim(1); ++i) row.push_back(int(ids[b * ids.dim(1) + i]));
        CHECK(tokenizer.encode_padded(prompts.items()[size_t(b)].as_string(), int(ids.dim(1))) == row);
        test::check_close("t5_last_hidden_state", t5.forward(row), test::batch_item(want, b), 1e-4);
    }
}

// SD 3's conditioning (models/conditioner_sd3.h) against text_sd3.safetensors: CLIP-L and CLIP-G of the tiny SD3 file
// (heads and activations from its diffusers folder's configs, as a loader reads them) on the built-in tokenizer's ids
// (pads 49407 and 0), their penultimate states and projected pooled vectors, then the assembly with and without T5.
TEST_CASE("SD3 conditioning: CLIP-L and CLIP-G penultimate states and pooled projections, joined with T5", "[sd3][golden]") {
    auto w = std::make_shared<WeightStore>();
    w->add_file(test::golden_v3_path("tiny-sd3.safetensors"));
    const Json l_config = test::load_json_file(test::golden_v3_path("tiny-sd3-diffusers/text_encoder/config.json"));
    const Json g_config = test::load_json_file(test::golden_v3_path("tiny-sd3-diffusers/text_encoder_2/config.json"));
    const ClipTextEncoder clip_l = ClipTextEncoder::load(w, &l_config, "text_encoders.clip_l.");
    const ClipTextEncoder clip_g = ClipTextEncoder::load(w, &g_config, "text_encoders.clip_g.");
    const TextProjection proj_l = TextProjection::load(*w, "text_encoders.clip_l.", clip_l.config().width);
    const TextProjection proj_g = TextProjection::load(*w, "text_encoders.clip_g.", clip_g.config().width);
    const T5Encoder t5 = T5Encoder::load(w, "text_encoders.t5xxl.transformer.");
    const SafetensorsFile g(test::golden_v3_path("text_sd3.safetensors"));
    const Json prompts = Json::parse(g.meta("prompts"), "prompts");
    const Tensor ids_t5 = g.load_f32("input_ids_t5");
    for (int64_t b = 0; b < int64_t(prompts.items().size()); ++b) {
        const std::string prompt = prompts.items()[size_t(b)].as_string();
        INFO("prompt " << b);
        const std::vector<int> ids_l = ClipTokenizer::builtin().encode_padded(prompt, ClipTokenizer::kPadSd1);
        const std::vector<int> ids_g = ClipTokenizer::builtin().encode_padded(prompt, ClipTokenizer::kPadSd2);
        for (size_t i = 0; i < ids_l.size(); ++i) {
            CHECK(ids_l[i] == int(g.load_f32("input_ids_l")[b * 77 + int64_t(i)]));
            CHECK(ids_g[i] == int(g.load_f32("input_ids_g")[b * 77 + int64_t(i)]));
        }
        const ClipTextOutput l = clip_l.forward(ids_l), gg = clip_g.forward(ids_g);
        const Tensor& l_pen = l.hidden[l.hidden.size() - 2];
        const Tensor& g_pen = gg.hidden[gg.hidden.size() - 2];
        test::check_close("clip_l_penultimate", l_pen, test::batch_item(g.load_f32("clip_l_penultimate"), b), 1e-4);
        test::check_close("clip_g_penultimate", g_pen, test::batch_item(g.load_f32("clip_g_penultimate"), b), 1e-4);
        const Tensor l_pooled = proj_l.apply(l.pooled), g_pooled = proj_g.apply(gg.pooled);
        test::check_close("clip_l_pooled", l_pooled, test::batch_item(g.load_f32("clip_l_pooled"), b), 1e-4);
        test::check_close("clip_g_pooled_projected", g_pooled, test::batch_item(g.load_f32("clip_g_pooled_projected"), b), 1e-4);
        std::vector<int> row;
        for (int64_t i = 0; i < ids_t5.dim(1); ++i) row.push_back(int(ids_t5[b * ids_t5.dim(1) + i]));
        const Sd3Conditioning c = assemble_sd3_conditioning(l_pen, g_pen, l_pooled, g_pooled, t5.forward(row), t5.width());
        test::check_close("prompt_embeds", c.context, test::batch_item(g.load_f32("prompt_embeds"), b), 1e-4);
        test::check_close("pooled_prompt_embeds", c.pooled, test::batch_item(g.load_f32("pooled_prompt_embeds"), b), 1e-4);
        const Sd3Conditioning no_t5 = assemble_sd3_conditioning(l_pen, g_pen, l_pooled, g_pooled, Tensor(), t5.width());
        test::check_close("prompt_embeds_no_t5", no_t5.context, test::batch_item(g.load_f32("prompt_embeds_no_t5"), b), 1e-4);
        test::check_close("pooled_prompt_embeds_no_t5", no_t5.pooled, test::batch_item(g.load_f32("pooled_prompt_embeds_no_t5"), b), 1e-4);
    }
}
