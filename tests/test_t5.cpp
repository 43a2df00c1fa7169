// The T5 encoder (models/t5.h) against set v3's text_sd3.safetensors: the tiny SD3 file's T5 on every prompt's
// input_ids_t5 gives t5_last_hidden_state within 1e-4; and the T5 tokenizer gives those ids from the prompts.
#include <catch2/catch.hpp>

#include "golden.h"
#include "io/safetensors.h"
#include "models/t5.h"
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
