#include "text/t5_tokenizer.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "core/base64.h"
#include "core/error.h"
#include "io/gzip.h"
#include "io/json.h"

// The gzip tokenizer.json linked into the binary by embedded_vocab.S (see CMakeLists.txt).
extern "C" const unsigned char sdref_t5_tokenizer_gz[];
extern "C" const unsigned char sdref_t5_tokenizer_gz_end[];

namespace sdref {

namespace {

const std::string kSpace = "\xe2\x96\x81";  // U+2581 "▁"

size_t utf8_length(unsigned char c) { return c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1; }

char32_t code_point(const std::string& s, size_t at) {
    const auto c = static_cast<unsigned char>(s[at]);
    const size_t n = std::min(utf8_length(c), s.size() - at);
    char32_t cp = n == 1 ? c : c & (0xff >> (n + 1));
    for (size_t i = 1; i < n; ++i) cp = (cp << 6) | (static_cast<unsigned char>(s[at + i]) & 0x3f);
    return cp;
}

// a code point that extends the grapheme before it (an approximation of Unicode's Grapheme_Extend and friends)
bool extends(char32_t cp) {
    return (cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x0483 && cp <= 0x0489) || (cp >= 0x0591 && cp <= 0x05BD) ||
           (cp >= 0x0610 && cp <= 0x061A) || (cp >= 0x064B && cp <= 0x065F) || (cp >= 0x0900 && cp <= 0x0903) ||
           (cp >= 0x093A && cp <= 0x094F) || (cp >= 0x1AB0 && cp <= 0x1AFF) || (cp >= 0x1DC0 && cp <= 0x1DFF) ||
           (cp >= 0x20D0 && cp <= 0x20FF) || (cp >= 0x3099 && cp <= 0x309A) || (cp >= 0xFE00 && cp <= 0xFE0F) ||
           (cp >= 0xFE20 && cp <= 0xFE2F) || (cp >= 0x1F3FB && cp <= 0x1F3FF) || cp == 0x200D || (cp >= 0xE0100 && cp <= 0xE01EF);
}

// darts-clone's unit fields
bool has_leaf(uint32_t u) { return (u >> 8) & 1; }
uint32_t value(uint32_t u) { return u & ((1u << 31) - 1); }
uint32_t label(uint32_t u) { return u & ((1u << 31) | 0xff); }
uint32_t offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

}  // namespace

T5Tokenizer T5Tokenizer::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, ": cannot read the tokenizer");
    return parse(std::string((std::istreambuf_iterator<char>(in)), {}), path);
}

const T5Tokenizer& T5Tokenizer::builtin() {
    static const T5Tokenizer tok = [] {
        const char* source = "built-in T5 vocabulary";
        return parse(gunzip(sdref_t5_tokenizer_gz, size_t(sdref_t5_tokenizer_gz_end - sdref_t5_tokenizer_gz), source), source);
    }();
    return tok;
}

T5Tokenizer T5Tokenizer::parse(const std::string& text, const std::string& path) {
    const Json json = Json::parse(text, path);
    T5Tokenizer t;
    t.path_ = path;
    const Json& model = json.at("model");
    if (model.at("type").as_string(path + ": model.type") != "Unigram") fail(path, ": model.type is not Unigram (a T5 tokenizer.json has one)");
    double min_score = std::numeric_limits<double>::max();  // (scores and path sums in double, as tokenizers keeps them)
    for (const Json& entry : model.at("vocab").items(path + ": model.vocab")) {
        const std::vector<Json>& pair = entry.items(path + ": model.vocab entry");
        if (pair.size() != 2) fail(path, ": model.vocab entries are [piece, score]");
        t.ids_.emplace(pair[0].as_string(), int(t.pieces_.size()));
        t.pieces_.push_back(pair[0].as_string());
        t.scores_.push_back(pair[1].as_number());
        t.longest_piece_ = std::max(t.longest_piece_, t.pieces_.back().size());
        min_score = std::min(min_score, t.scores_.back());
    }
    if (t.pieces_.empty()) fail(path, ": an empty vocabulary");
    t.unk_score_ = min_score - 10.0;  // (tokenizers' kUnkPenalty)
    if (const Json* unk = model.find("unk_id"); unk && !unk->is_null()) t.unk_id_ = int(unk->as_int());
    for (const Json& a : json.at("added_tokens").items(path + ": added_tokens")) {
        const std::string& content = a.at("content").as_string();
        const int id = int(a.at("id").as_int());
        t.added_.emplace_back(content, id);
        if (content == "<pad>") t.pad_id_ = id;
        if (content == "</s>") t.eos_id_ = id;
    }
    std::sort(t.added_.begin(), t.added_.end(), [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    // the normalizer's precompiled charsmap: [u32 trie bytes][trie units][replacements, NUL-terminated]
    for (const Json& n : json.at("normalizer").at("normalizers").items(path + ": normalizer.normalizers")) {
        if (n.at("type").as_string() != "Precompiled") continue;
        const std::vector<uint8_t> blob = base64_decode(n.at("precompiled_charsmap").as_string(), path + ": precompiled_charsmap");
        if (blob.size() < 4) fail(path, ": precompiled_charsmap is too short");
        uint32_t trie_bytes;
        std::memcpy(&trie_bytes, blob.data(), 4);
        if (trie_bytes % 4 || 4 + size_t(trie_bytes) > blob.size()) fail(path, ": precompiled_charsmap's trie size is wrong");
        t.trie_.resize(trie_bytes / 4);
        std::memcpy(t.trie_.data(), blob.data() + 4, trie_bytes);
        t.normalized_.assign(reinterpret_cast<const char*>(blob.data()) + 4 + trie_bytes, blob.size() - 4 - trie_bytes);
    }
    if (t.trie_.empty()) fail(path, ": no Precompiled normalizer (the T5 tokenizer's nmt_nfkc charsmap)");
    return t;
}

// darts-clone's commonPrefixSearch, first result only
const char* T5Tokenizer::charsmap_match(const std::string& s) const {
    uint32_t pos = 0;
    uint32_t unit = trie_[0];
    pos ^= offset(unit);
    for (unsigned char c : s) {
        pos ^= c;
        if (pos >= trie_.size()) return nullptr;
        unit = trie_[pos];
        if (label(unit) != c) return nullptr;
        pos ^= offset(unit);
        if (pos >= trie_.size()) return nullptr;
        if (has_leaf(unit)) {
            const uint32_t at = value(trie_[pos]);
            return at < normalized_.size() ? normalized_.c_str() + at : nullptr;
        }
    }
    return nullptr;
}

std::string T5Tokenizer::normalize(const std::string& text) const {
    // the charsmap, grapheme by grapheme (graphemes of 6 bytes or more character by character)
    std::string out;
    for (size_t at = 0; at < text.size();) {
        size_t end = at + utf8_length(static_cast<unsigned char>(text[at]));
        if (text[at] == '\r' && end < text.size() && text[end] == '\n') ++end;
        bool joined = end <= text.size() && code_point(text, at) == 0x200D;
        while (end < text.size()) {
            const char32_t next = code_point(text, end);
            if (!extends(next) && !joined) break;
            joined = next == 0x200D;
            end += utf8_length(static_cast<unsigned char>(text[end]));
        }
        end = std::min(end, text.size());
        const std::string grapheme = text.substr(at, end - at);
        const char* whole = grapheme.size() < 6 ? charsmap_match(grapheme) : nullptr;
        if (whole) out += whole;
        else
            for (size_t c = 0; c < grapheme.size();) {
                const size_t n = std::min(utf8_length(static_cast<unsigned char>(grapheme[c])), grapheme.size() - c);
                const std::string ch = grapheme.substr(c, n);
                const char* m = charsmap_match(ch);
                out += m ? std::string(m) : ch;
                c += n;
            }
        at = end;
    }
    // Strip (right), then Replace(" {2,}", "▁")
    while (!out.empty() && (out.back() == ' ' || out.back() == '\t' || out.back() == '\n' || out.back() == '\r')) out.pop_back();
    std::string replaced;
    for (size_t i = 0; i < out.size();) {
        if (out[i] == ' ' && i + 1 < out.size() && out[i + 1] == ' ') {
            while (i < out.size() && out[i] == ' ') ++i;
            replaced += kSpace;
        } else {
            replaced += out[i++];
        }
    }
    return replaced;
}

// Viterbi over the pieces (tokenizers' encode_optimized: ties keep the first path found)
void T5Tokenizer::unigram(const std::string& word, std::vector<int>& ids) const {
    struct Node {
        int id = -1;
        size_t start = 0;
        double score = 0;
        bool reached = false;
    };
    std::vector<Node> best(word.size() + 1);
    best[0].reached = true;
    for (size_t start = 0; start < word.size();) {
        const size_t char_len = std::min(utf8_length(static_cast<unsigned char>(word[start])), word.size() - start);
        const double here = best[start].score;
        bool single = false;
        for (size_t len = 1; len <= longest_piece_ && start + len <= word.size(); ++len) {
            const auto it = ids_.find(word.substr(start, len));
            if (it == ids_.end()) continue;
            Node& target = best[start + len];
            const double candidate = here + scores_[size_t(it->second)];
            if (!target.reached || candidate > target.score) target = {it->second, start, candidate, true};
            single = single || len == char_len;
        }
        if (!single) {
            Node& target = best[start + char_len];
            const double candidate = here + unk_score_;
            if (!target.reached || candidate > target.score) target = {unk_id_, start, candidate, true};
        }
        start += char_len;
    }
    std::vector<int> path;
    for (size_t end = word.size(); end > 0; end = best[end].start) path.push_back(best[end].id);
    const size_t first = ids.size();
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
        if (*it == unk_id_ && ids.size() > first && ids.back() == unk_id_) continue;  // (neighbouring <unk>s fused)
        ids.push_back(*it);
    }
}

std::vector<int> T5Tokenizer::encode(const std::string& text) const {
    std::vector<int> ids;
    bool first = true;
    for (size_t at = 0; at <= text.size();) {
        // the next added token written in the text
        size_t next = text.size();
        const std::pair<std::string, int>* token = nullptr;
        for (const auto& a : added_) {
            const size_t p = text.find(a.first, at);
            if (p != std::string::npos && (p < next || (p == next && token && a.first.size() > token->first.size()))) next = p, token = &a;
        }
        // the text before it: normalized, split into words at "▁", each through the Unigram model
        std::string s = normalize(text.substr(at, next - at));
        if (!s.empty()) {
            std::string spaced;
            for (char c : s) spaced += c == ' ' ? kSpace : std::string(1, c);
            if (first && spaced.compare(0, kSpace.size(), kSpace) != 0) spaced = kSpace + spaced;
            size_t w = 0;
            while (w < spaced.size()) {
                size_t e = spaced.find(kSpace, w + kSpace.size());
                if (spaced.compare(w, kSpace.size(), kSpace) != 0) e = spaced.find(kSpace, w);
                if (e == std::string::npos) e = spaced.size();
                unigram(spaced.substr(w, e - w), ids);
                w = e;
            }
        }
        first = false;
        if (!token) break;
        ids.push_back(token->second);
        at = next + token->first.size();
    }
    return ids;
}

std::vector<int> T5Tokenizer::encode_padded(const std::string& text, int n) const {
    std::vector<int> ids = encode(text);
    if (int(ids.size()) > n - 1) ids.resize(size_t(std::max(n - 1, 0)));
    ids.push_back(eos_id_);
    ids.resize(size_t(std::max<int>(n, int(ids.size()))), pad_id_);
    return ids;
}

}  // namespace sdref
