#include "text/clip_tokenizer.h"

#include <climits>

#include "core/error.h"
#include "io/gzip.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "text/unicode.h"

// The gzip vocabulary linked into the binary by embedded_vocab.S (see CMakeLists.txt).
extern "C" const unsigned char sdref_clip_vocab_gz[];
extern "C" const unsigned char sdref_clip_vocab_gz_end[];

namespace sdref {

namespace {

// simple_tokenizer.py keeps merges[1 : 49152 - 256 - 2 + 1]: 48894 merges after the version line.
constexpr size_t kMergeCount = 49152 - 256 - 2;

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t end = text.find('\n', start);
        if (end == std::string::npos) {
            lines.push_back(text.substr(start));
            break;
        }
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

// GPT-2's reversible byte -> character map: printable Latin-1 bytes stand for themselves, the other 68 bytes
// for U+0100 onwards. Returned in the order the vocabulary lists them.
std::vector<std::pair<int, char32_t>> bytes_to_unicode() {
    std::vector<std::pair<int, char32_t>> map;
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    for (int b = 0; b < 256; ++b)
        if (printable(b)) map.emplace_back(b, char32_t(b));
    int n = 0;
    for (int b = 0; b < 256; ++b)
        if (!printable(b)) map.emplace_back(b, char32_t(256 + n++));
    return map;
}

// The pre-tokenizer: CLIP's pattern
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// applied left to right; text between matches (white space) is dropped.
std::vector<std::u32string> pre_tokenize(const std::u32string& s) {
    static const std::u32string kSpecial[] = {U"<|startoftext|>", U"<|endoftext|>"};
    static const std::u32string kContractions[] = {U"'s", U"'t", U"'re", U"'ve", U"'m", U"'ll", U"'d"};
    std::vector<std::u32string> words;
    size_t i = 0;
    auto starts_with = [&](const std::u32string& w) { return s.compare(i, w.size(), w) == 0; };
    auto other = [](char32_t c) { return !text::is_space(c) && !text::is_letter(c) && !text::is_number(c); };
    while (i < s.size()) {
        size_t len = 0;
        for (const auto& w : kSpecial)
            if (!len && starts_with(w)) len = w.size();
        for (const auto& w : kContractions)
            if (!len && starts_with(w)) len = w.size();
        if (!len && text::is_letter(s[i]))
            while (i + len < s.size() && text::is_letter(s[i + len])) ++len;
        if (!len && text::is_number(s[i])) len = 1;
        if (!len && other(s[i]))
            while (i + len < s.size() && other(s[i + len])) ++len;
        if (len) {
            words.push_back(s.substr(i, len));
            i += len;
        } else {
            ++i;  // white space
        }
    }
    return words;
}

// whitespace_clean(basic_clean(text)).lower()
std::u32string normalise(const std::string& text) {
    using namespace text;
    const std::u32string cleaned = strip(html_unescape(html_unescape(utf8_decode(text, "prompt"))));
    std::u32string collapsed;
    for (char32_t c : cleaned) {
        if (is_space(c)) {
            if (collapsed.empty() || collapsed.back() != U' ') collapsed += U' ';
        } else {
            collapsed += c;
        }
    }
    return to_lower(strip(collapsed));
}

}  // namespace

void ClipTokenizer::set_merges(const std::vector<std::string>& merge_lines, const std::string& source) {
    for (size_t rank = 0; rank < merge_lines.size(); ++rank) {
        const std::string& line = merge_lines[rank];
        const size_t space = line.find(' ');
        if (space == std::string::npos || space == 0 || space + 1 >= line.size() ||
            line.find(' ', space + 1) != std::string::npos)
            fail(source, ": merge ", rank + 1, " is not two symbols separated by one space: \"", line, "\"");
        ranks_.emplace(line, int(rank));
    }
}

ClipTokenizer ClipTokenizer::from_bpe_gz(const std::string& path) {
    MappedFile file(path);
    return from_bpe_text(gunzip(file.data(), file.size(), path), path);
}

ClipTokenizer ClipTokenizer::from_bpe_text(const std::string& text, const std::string& path) {
    ClipTokenizer tok;
    const std::vector<std::string> lines = split_lines(text);
    if (lines.size() < kMergeCount + 1) fail(path, ": has ", lines.size(), " lines, expected at least ", kMergeCount + 1);
    const std::vector<std::string> merges(lines.begin() + 1, lines.begin() + 1 + kMergeCount);
    tok.set_merges(merges, path);

    // vocabulary = 256 byte characters, the same with "</w>", one entry per merge, then the two specials.
    std::vector<std::string> vocab;
    for (const auto& [byte, ch] : bytes_to_unicode()) {
        std::string s;
        text::utf8_append(s, ch);
        tok.byte_encoder_[byte] = s;
        vocab.push_back(s);
    }
    for (size_t i = 0; i < 256; ++i) vocab.push_back(vocab[i] + "</w>");
    for (const std::string& m : merges) vocab.push_back(m.substr(0, m.find(' ')) + m.substr(m.find(' ') + 1));
    vocab.push_back("<|startoftext|>");
    vocab.push_back("<|endoftext|>");
    for (size_t i = 0; i < vocab.size(); ++i) tok.encoder_.emplace(vocab[i], int(i));
    return tok;
}

int ClipTokenizer::folder_pad_id(const std::string& dir) {
    const std::string where = dir + "/tokenizer_config.json";
    const Json tc = Json::parse(read_text_file(where), where);
    const Json* pad = tc.find("pad_token");
    if (!pad || pad->is_null()) return -1;
    const Json* content = pad->is_object() ? pad->find("content") : pad;
    const std::string text = content ? content->as_string(where + ": pad_token") : "";
    if (text == "!") return kPadSd2;
    if (text == "<|endoftext|>") return kPadSd1;
    fail(where, ": pad_token \"", text, "\" is neither <|endoftext|> nor ! (the two CLIP paddings)");
}

ClipTokenizer ClipTokenizer::from_folder(const std::string& dir) {
    const std::string vocab_path = dir + "/vocab.json";
    const std::string merges_path = dir + "/merges.txt";
    ClipTokenizer tok;
    for (const auto& [byte, ch] : bytes_to_unicode()) text::utf8_append(tok.byte_encoder_[byte], ch);

    const Json vocab = Json::parse(read_text_file(vocab_path), vocab_path);
    for (const auto& [token, id] : vocab.members(vocab_path)) tok.encoder_[token] = int(id.as_int(vocab_path + ": id of \"" + token + "\""));

    std::vector<std::string> lines = split_lines(read_text_file(merges_path));
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    if (lines.empty()) fail(merges_path, ": empty");
    const size_t count = std::min(lines.size() - 1, kMergeCount);  // line 0 is "#version: ..."
    tok.set_merges(std::vector<std::string>(lines.begin() + 1, lines.begin() + 1 + long(count)), merges_path);
    for (const char* special : {"<|startoftext|>", "<|endoftext|>"})
        if (!tok.encoder_.count(special)) fail(vocab_path, ": no entry for ", special);
    return tok;
}

const ClipTokenizer& ClipTokenizer::builtin() {
    static const ClipTokenizer tok = [] {
        const char* source = "built-in CLIP vocabulary";
        const size_t size = size_t(sdref_clip_vocab_gz_end - sdref_clip_vocab_gz);
        return from_bpe_text(gunzip(sdref_clip_vocab_gz, size, source), source);
    }();
    return tok;
}

std::vector<std::string> ClipTokenizer::bpe(const std::string& word_utf8) const {
    // Split into characters; the last one carries the end-of-word marker.
    std::vector<std::string> word;
    for (char32_t c : text::utf8_decode(word_utf8)) {
        word.emplace_back();
        text::utf8_append(word.back(), c);
    }
    word.back() += "</w>";
    while (word.size() > 1) {
        // The adjacent pair with the lowest merge rank.
        int best_rank = INT_MAX;
        size_t best = 0;
        for (size_t i = 0; i + 1 < word.size(); ++i) {
            const auto it = ranks_.find(word[i] + " " + word[i + 1]);
            if (it != ranks_.end() && it->second < best_rank) {
                best_rank = it->second;
                best = i;
            }
        }
        if (best_rank == INT_MAX) break;
        // Merge every occurrence of that pair, left to right.
        const std::string first = word[best], second = word[best + 1];
        std::vector<std::string> merged;
        for (size_t i = 0; i < word.size(); ++i) {
            if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
                merged.push_back(first + second);
                ++i;
            } else {
                merged.push_back(word[i]);
            }
        }
        word = std::move(merged);
    }
    return word;
}

std::vector<int> ClipTokenizer::encode(const std::string& text) const {
    std::vector<int> ids;
    for (const std::u32string& word : pre_tokenize(normalise(text))) {
        std::string bytes_as_chars;
        for (unsigned char b : text::utf8_encode(word)) bytes_as_chars += byte_encoder_[b];
        if (bytes_as_chars == "<|startoftext|>" || bytes_as_chars == "<|endoftext|>") {
            ids.push_back(encoder_.at(bytes_as_chars));
            continue;
        }
        for (const std::string& piece : bpe(bytes_as_chars)) {
            const auto it = encoder_.find(piece);
            if (it == encoder_.end()) fail("CLIP vocabulary has no entry for subword \"", piece, "\"");
            ids.push_back(it->second);
        }
    }
    return ids;
}

std::vector<int> ClipTokenizer::encode_padded(const std::string& text, int pad_id) const {
    const std::vector<int> body = encode(text);
    std::vector<int> ids = {kStartOfText};
    ids.insert(ids.end(), body.begin(), body.begin() + long(std::min<size_t>(body.size(), kContextLength - 2)));
    ids.push_back(kEndOfText);
    ids.resize(kContextLength, pad_id);
    return ids;
}

}  // namespace sdref
