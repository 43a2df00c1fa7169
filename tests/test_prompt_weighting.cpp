// A1111 prompt syntax: attention weights, escapes, BREAK, and long prompts cut into 77-token chunks.
#include <catch2/catch.hpp>

#include <cmath>

#include "text/prompt_weighting.h"

using namespace sdref;

namespace {

void check_fragments(const std::string& prompt, const std::vector<std::pair<std::string, float>>& expected) {
    INFO("prompt: " << prompt);
    const std::vector<PromptFragment> got = parse_prompt_attention(prompt);
    REQUIRE(got.size() == expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].text == expected[i].first);
        CHECK(got[i].weight == Approx(expected[i].second).epsilon(1e-6));
    }
}

}  // namespace

TEST_CASE("parse_prompt_attention follows A1111's examples", "[prompt]") {
    // the examples in A1111's prompt_parser.py
    check_fragments("normal text", {{"normal text", 1.0f}});
    check_fragments("an (important) word", {{"an ", 1.0f}, {"important", 1.1f}, {" word", 1.0f}});
    check_fragments("(unbalanced", {{"unbalanced", 1.1f}});
    check_fragments("\\(literal\\]", {{"(literal]", 1.0f}});
    check_fragments("(unnecessary)(parens)", {{"unnecessaryparens", 1.1f}});
    check_fragments("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
                    {{"a ", 1.0f}, {"house", 1.5730f}, {" ", 1.1f}, {"on", 1.0f}, {" a ", 1.1f}, {"hill", 0.55f},
                     {", sun, ", 1.1f}, {"sky", 1.4641f}, {".", 1.1f}});
    check_fragments("[dim]", {{"dim", 1.0f / 1.1f}});
    check_fragments("a BREAK b", {{"a", 1.0f}, {"BREAK", -1.0f}, {"b", 1.0f}});
    check_fragments("", {{"", 1.0f}});
}

TEST_CASE("short plain prompts give the plain 77 ids, long ones split into chunks", "[prompt]") {
    const ClipTokenizer& tok = ClipTokenizer::builtin();
    const std::vector<PromptChunk> plain = tokenize_weighted(tok, "a photo of a cat", ClipTokenizer::kPadSd1);
    REQUIRE(plain.size() == 1);
    CHECK(plain[0].ids == tok.encode_padded("a photo of a cat", ClipTokenizer::kPadSd1));
    const std::vector<PromptChunk> sd2 = tokenize_weighted(tok, "a photo of a cat", ClipTokenizer::kPadSd2);
    CHECK(sd2[0].ids == tok.encode_padded("a photo of a cat", ClipTokenizer::kPadSd2));

    std::string long_prompt;
    for (int i = 0; i < 40; ++i) long_prompt += "red cat, ";  // 3 tokens each: 120 tokens
    const std::vector<PromptChunk> chunks = tokenize_weighted(tok, long_prompt, ClipTokenizer::kPadSd1);
    REQUIRE(chunks.size() == 2);
    for (const PromptChunk& c : chunks) {
        CHECK(c.ids.size() == 77);
        CHECK(c.ids.front() == ClipTokenizer::kStartOfText);
        CHECK(c.ids.back() == ClipTokenizer::kEndOfText);
    }
    // the first chunk ends right after a comma: 75 = 25 x "red cat ,"
    CHECK(chunks[0].ids[75] == 267);

    const std::vector<PromptChunk> weighted = tokenize_weighted(tok, "a (cat:1.5)", ClipTokenizer::kPadSd1);
    CHECK(weighted[0].weights[1] == 1.0f);
    CHECK(weighted[0].weights[2] == 1.5f);
    CHECK(tokenize_weighted(tok, "a BREAK b", ClipTokenizer::kPadSd1).size() == 2);
}
