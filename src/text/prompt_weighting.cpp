#include "text/prompt_weighting.h"

#include <algorithm>

#include <cstdlib>

namespace sdref {

namespace {

constexpr int kChunk = 75;              // tokens per chunk between start and end
constexpr int kCommaBacktrack = 20;     // A1111's comma_padding_backtrack
constexpr int kComma = 267;             // ",</w>"

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Split plain text at the word BREAK (with the white space around it), as re_break does.
std::vector<std::string> split_break(const std::string& text) {
    std::vector<std::string> parts;
    size_t start = 0, from = 0;
    for (size_t at; (at = text.find("BREAK", from)) != std::string::npos;) {
        const bool word_start = at == 0 || !(std::isalnum(static_cast<unsigned char>(text[at - 1])) || text[at - 1] == '_');
        const size_t end = at + 5;
        const bool word_end = end == text.size() || !(std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_');
        if (!word_start || !word_end) {
            from = at + 1;
            continue;
        }
        size_t a = at, b = end;
        while (a > start && is_space(text[a - 1])) --a;
        while (b < text.size() && is_space(text[b])) ++b;
        parts.push_back(text.substr(start, a - start));
        start = from = b;
    }
    parts.push_back(text.substr(start));
    return parts;
}

}  // namespace

std::vector<PromptFragment> parse_prompt_attention(const std::string& text) {
    std::vector<PromptFragment> res;
    std::vector<size_t> round, square;
    auto multiply = [&](size_t from, float m) {
        for (size_t p = from; p < res.size(); ++p) res[p].weight *= m;
    };
    size_t i = 0;
    while (i < text.size()) {
        const char c = text[i];
        if (c == '\\') {  // \( \) \[ \] \\ are literals; a lone backslash is dropped
            if (i + 1 < text.size() && std::string("()[]\\").find(text[i + 1]) != std::string::npos) {
                res.push_back({std::string(1, text[i + 1]), 1.0f});
                i += 2;
            } else {
                res.push_back({"", 1.0f});
                i += 1;
            }
            continue;
        }
        if (c == '(') {
            round.push_back(res.size());
            ++i;
            continue;
        }
        if (c == '[') {
            square.push_back(res.size());
            ++i;
            continue;
        }
        if (c == ':') {
            // ":\s*([+-]?[.\d]+)\s*\)" closes a round bracket with an explicit weight
            size_t j = i + 1;
            while (j < text.size() && is_space(text[j])) ++j;
            const size_t num = j;
            if (j < text.size() && (text[j] == '+' || text[j] == '-')) ++j;
            const size_t digits = j;
            while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) ++j;
            size_t k = j;
            while (k < text.size() && is_space(text[k])) ++k;
            if (j > digits && k < text.size() && text[k] == ')') {
                if (!round.empty()) {
                    multiply(round.back(), float(std::atof(text.substr(num, j - num).c_str())));
                    round.pop_back();
                } else {
                    res.push_back({text.substr(i, k + 1 - i), 1.0f});
                }
                i = k + 1;
                continue;
            }
            res.push_back({":", 1.0f});
            ++i;
            continue;
        }
        if (c == ')' || c == ']') {
            std::vector<size_t>& stack = c == ')' ? round : square;
            if (!stack.empty()) {
                multiply(stack.back(), c == ')' ? 1.1f : 1.0f / 1.1f);
                stack.pop_back();
            } else {
                res.push_back({std::string(1, c), 1.0f});
            }
            ++i;
            continue;
        }
        // plain text up to the next special character
        size_t j = i;
        while (j < text.size() && std::string("\\()[]:").find(text[j]) == std::string::npos) ++j;
        const std::vector<std::string> parts = split_break(text.substr(i, j - i));
        for (size_t p = 0; p < parts.size(); ++p) {
            if (p > 0) res.push_back({"BREAK", -1.0f});
            res.push_back({parts[p], 1.0f});
        }
        i = j;
    }
    for (size_t pos : round) multiply(pos, 1.1f);
    for (size_t pos : square) multiply(pos, 1.0f / 1.1f);
    if (res.empty()) res.push_back({"", 1.0f});
    for (size_t k = 0; k + 1 < res.size();) {
        if (res[k].weight == res[k + 1].weight) {
            res[k].text += res[k + 1].text;
            res.erase(res.begin() + long(k) + 1);
        } else {
            ++k;
        }
    }
    return res;
}

std::vector<PromptChunk> tokenize_weighted(const ClipTokenizer& tok, const std::string& prompt, int pad_id,
                                           const std::vector<EmbeddingWord>& embeddings) {
    std::vector<PromptChunk> chunks;
    PromptChunk chunk;
    int last_comma = -1;
    auto next_chunk = [&]() {
        const size_t to_add = size_t(kChunk) - chunk.ids.size();
        chunk.ids.insert(chunk.ids.end(), to_add, ClipTokenizer::kEndOfText);
        chunk.weights.insert(chunk.weights.end(), to_add, 1.0f);
        chunk.ids.insert(chunk.ids.begin(), ClipTokenizer::kStartOfText);
        chunk.ids.push_back(ClipTokenizer::kEndOfText);
        chunk.weights.insert(chunk.weights.begin(), 1.0f);
        chunk.weights.push_back(1.0f);
        last_comma = -1;
        chunks.push_back(std::move(chunk));
        chunk = PromptChunk();
    };
    for (const PromptFragment& f : parse_prompt_attention(prompt)) {
        if (f.weight == -1.0f && f.text == "BREAK") {
            next_chunk();
            continue;
        }
        const std::vector<int> tokens = tok.encode(f.text);
        for (size_t i = 0; i < tokens.size(); ++i) {
            const int id = tokens[i];
            // an embedding's name here: its vectors instead of its tokens
            const EmbeddingWord* e = nullptr;
            for (const EmbeddingWord& c : embeddings)
                if (!c.word.empty() && i + c.word.size() <= tokens.size() && std::equal(c.word.begin(), c.word.end(), tokens.begin() + long(i)) &&
                    (!e || c.word.size() > e->word.size()))
                    e = &c;
            if (e) {
                if (chunk.ids.size() + e->ids.size() > size_t(kChunk)) next_chunk();
                chunk.ids.insert(chunk.ids.end(), e->ids.begin(), e->ids.end());
                chunk.weights.insert(chunk.weights.end(), e->ids.size(), f.weight);
                i += e->word.size() - 1;
                continue;
            }
            if (id == kComma) {
                last_comma = int(chunk.ids.size());
            } else if (int(chunk.ids.size()) == kChunk && last_comma != -1 && int(chunk.ids.size()) - last_comma <= kCommaBacktrack) {
                // move the words after the last comma to the next chunk
                const size_t at = size_t(last_comma) + 1;
                std::vector<int> ids(chunk.ids.begin() + long(at), chunk.ids.end());
                std::vector<float> ws(chunk.weights.begin() + long(at), chunk.weights.end());
                chunk.ids.resize(at);
                chunk.weights.resize(at);
                next_chunk();
                chunk.ids = ids;
                chunk.weights = ws;
            }
            if (int(chunk.ids.size()) == kChunk) next_chunk();
            chunk.ids.push_back(id);
            chunk.weights.push_back(f.weight);
        }
    }
    if (!chunk.ids.empty() || chunks.empty()) next_chunk();
    if (pad_id != ClipTokenizer::kEndOfText)
        for (PromptChunk& c : chunks) {
            size_t end = 1;
            while (c.ids[end] != ClipTokenizer::kEndOfText) ++end;
            for (size_t k = end + 1; k < c.ids.size(); ++k) c.ids[k] = pad_id;
        }
    return chunks;
}

}  // namespace sdref
