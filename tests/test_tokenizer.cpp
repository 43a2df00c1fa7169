// CLIP tokenizer: every case of tokenizer.json, from the built-in vocabulary and from a diffusers tokenizer/ folder.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "golden.h"
#include "text/clip_tokenizer.h"
#include "text/unicode.h"

using namespace sdref;

namespace {

std::vector<int> ints(const Json& array) {
    std::vector<int> v;
    for (const Json& x : array.items()) v.push_back(int(x.as_int()));
    return v;
}

// The padding id a case shows: whatever follows <|endoftext|> when the prompt is short enough to be padded.
bool padding_of(const std::vector<int>& ids, const std::vector<int>& bpe, int* pad) {
    if (bpe.size() + 2 >= ids.size()) return false;
    *pad = ids.back();
    return true;
}

void check_all_cases(const ClipTokenizer& tok) {
    const Json golden = test::load_json_file(test::golden_path("tokenizer.json"));
    const auto& cases = golden.at("cases").items();
    REQUIRE(cases.size() > 0);
    int padded_sd1 = 0, padded_sd2 = 0;
    for (const Json& c : cases) {
        const std::string text = c.at("text").as_string();
        INFO("prompt: " << text);
        const std::vector<int> bpe = ints(c.at("bpe"));
        CHECK(tok.encode(text) == bpe);
        for (const char* key : {"sd1_ids", "sd2_ids"}) {
            const std::vector<int> ids = ints(c.at(key));
            int pad = ClipTokenizer::kEndOfText;  // unused when the case is not padded
            if (padding_of(ids, bpe, &pad)) ++(key[2] == '1' ? padded_sd1 : padded_sd2);
            INFO(key << " padded with " << pad);
            CHECK(tok.encode_padded(text, pad) == ids);
        }
    }
    CHECK(padded_sd1 > 0);
    CHECK(padded_sd2 > 0);
}

}  // namespace

TEST_CASE("built-in CLIP vocabulary: every tokenizer.json case", "[tokenizer][golden]") {
    check_all_cases(ClipTokenizer::builtin());
}

TEST_CASE("diffusers tokenizer/ folder: every tokenizer.json case", "[tokenizer][golden]") {
    check_all_cases(ClipTokenizer::from_folder(test::golden_path("tiny-sd1-diffusers/tokenizer")));
}

TEST_CASE("the vocabulary file in data/clip gives the built-in tokenizer's ids", "[tokenizer]") {
    const ClipTokenizer file = ClipTokenizer::from_bpe_gz(std::string(SDREF_SOURCE_DIR) + "/data/clip/bpe_simple_vocab_16e6.txt.gz");
    CHECK(file.vocab_size() == 49408);
    CHECK(file.encode("a photo of an astronaut") == ClipTokenizer::builtin().encode("a photo of an astronaut"));
}

TEST_CASE("html.unescape, strip and lower follow Python", "[tokenizer]") {
    using text::html_unescape;
    using text::utf8_decode;
    using text::utf8_encode;
    auto un = [](const char* s) { return utf8_encode(html_unescape(utf8_decode(s))); };
    CHECK(un("&amp;") == "&");
    CHECK(un("&amp") == "&");             // legacy name without ';'
    CHECK(un("&ampx") == "&x");           // longest known prefix
    CHECK(un("&#65;&#x42;&#X43") == "ABC");
    CHECK(un("&#0;") == "\xEF\xBF\xBD");  // U+FFFD
    CHECK(un("&#128;") == "\xE2\x82\xAC");  // Windows-1252 fix-up: euro sign
    CHECK(un("&#1;") == "");              // dropped control character
    CHECK(un("&#xD800;") == "\xEF\xBF\xBD");
    CHECK(un("&nosuchentity;") == "&nosuchentity;");
    CHECK(un("& amp") == "& amp");
    CHECK(un("&#x;") == "&#x;");
    CHECK(utf8_encode(text::to_lower(utf8_decode("\xC4\xB0"))) == "i\xCC\x87");  // U+0130 -> i + combining dot
    CHECK(utf8_encode(text::strip(utf8_decode("\xE3\x80\x80 x \t"))) == "x");  // ideographic space
}

TEST_CASE("special tokens typed in a prompt are kept whole", "[tokenizer]") {
    const ClipTokenizer& tok = ClipTokenizer::builtin();
    const std::vector<int> ids = tok.encode("a <|endoftext|> b");
    REQUIRE(ids.size() == 3);
    CHECK(ids[1] == ClipTokenizer::kEndOfText);
}

TEST_CASE("invalid UTF-8 in a prompt is a clear error", "[tokenizer]") {
    CHECK_THROWS_WITH(ClipTokenizer::builtin().encode("bad \xFF byte"), Catch::Contains("prompt") && Catch::Contains("UTF-8"));
}

TEST_CASE("a missing tokenizer folder is an error naming the file", "[tokenizer]") {
    CHECK_THROWS_WITH(ClipTokenizer::from_folder("/nonexistent/tokenizer"), Catch::Contains("/nonexistent/tokenizer/vocab.json"));
}
