// T5's tokenizer (text/t5_tokenizer.h) against set v3's tokenizer_t5.json: every case's ids (no special tokens), with
// </s>, and padded to 77 and 256 as T5TokenizerFast makes them, on the real T5 vocabulary (t5_tokenizer.json), exact.
#include <catch2/catch.hpp>

#include "golden.h"
#include "text/t5_tokenizer.h"

using namespace sdref;

namespace {

std::vector<int> ints(const Json& a) {
    std::vector<int> v;
    for (const Json& x : a.items()) v.push_back(int(x.as_int()));
    return v;
}

}  // namespace

TEST_CASE("T5 tokenizer: Hugging Face's T5TokenizerFast ids for every golden prompt", "[t5][tokenizer][golden]") {
    const T5Tokenizer t = T5Tokenizer::load(test::golden_v3_path("t5_tokenizer.json"));
    const Json g = test::load_json_file(test::golden_v3_path("tokenizer_t5.json"));
    CHECK(t.pad_id() == g.at("pad_id").as_int());
    CHECK(t.eos_id() == g.at("eos_id").as_int());
    const std::vector<Json>& cases = g.at("cases").items();
    REQUIRE(!cases.empty());
    int exact = 0;
    for (const Json& c : cases) {
        const std::string text = c.at("text").as_string();
        INFO("text \"" << text << "\"");
        const std::vector<int> ids = t.encode(text);
        CHECK(ids == ints(c.at("ids")));
        CHECK(t.encode_padded(text, 77) == ints(c.at("ids_77")));
        CHECK(t.encode_padded(text, 256) == ints(c.at("ids_256")));
        exact += ids == ints(c.at("ids"));
    }
    CHECK(exact == int(cases.size()));
}

TEST_CASE("T5 tokenizer: a file that is not a T5 tokenizer.json is a clear error", "[t5][tokenizer]") {
    CHECK_THROWS_WITH(T5Tokenizer::load(test::golden_v3_path("tokenizer_t5.json")), Catch::Contains("model"));
    CHECK_THROWS_WITH(T5Tokenizer::load("/nonexistent/tokenizer.json"), Catch::Contains("cannot read"));
}
