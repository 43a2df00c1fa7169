// t5_tokenizer.h: T5's SentencePiece Unigram tokenizer, as Hugging Face's T5TokenizerFast runs it from a
// tokenizer.json (what diffusers' SD 3 pipelines and ComfyUI use):
//
//   added tokens   <pad>, </s>, <unk>, <extra_id_N> written in the text are taken out first, as their ids
//   normalize      the precompiled charsmap (nmt_nfkc: NFKC and a few fixes), grapheme by grapheme, each looked up
//                  in its double-array trie (the first, shortest match replaces the grapheme); the right end
//                  stripped; runs of 2+ spaces become one "▁"
//   pre-tokenize   Metaspace: spaces become "▁", a "▁" is put in front of the first piece unless it starts with
//                  one, and the text splits before every "▁"
//   Unigram        per piece, the Viterbi path of vocabulary pieces with the highest sum of log-probabilities; a
//                  character no piece covers is <unk> at (lowest score - 10), and neighbouring <unk>s fuse into one
// Graphemes are approximated: a character and the combining marks, variation selectors, ZWJ-joined characters and
// skin-tone modifiers after it, and CR LF (no Unicode segmentation tables are shipped).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace sdref {

class T5Tokenizer {
public:
    // From a tokenizer.json of a Unigram model with a Precompiled normalizer; errors name the file and field.
    static T5Tokenizer load(const std::string& path);
    // The same from the file's text; `source` names it in errors.
    static T5Tokenizer parse(const std::string& json_text, const std::string& source);
    // The T5 v1.1 vocabulary built into the binary (data/t5/tokenizer.json.gz).
    static const T5Tokenizer& builtin();

    // The ids of `text`, without special tokens added.
    std::vector<int> encode(const std::string& text) const;
    // T5TokenizerFast(padding="max_length", max_length=n, truncation=True): ids[:n-1] + </s>, padded with <pad>.
    std::vector<int> encode_padded(const std::string& text, int n) const;
    const std::string& piece(int id) const { return pieces_.at(size_t(id)); }
    int pad_id() const { return pad_id_; }
    int eos_id() const { return eos_id_; }

private:
    std::string normalize(const std::string& text) const;
    void unigram(const std::string& word, std::vector<int>& ids) const;
    // the precompiled charsmap: the first (shortest) prefix of `s` with a replacement, as its replacement, or nullptr
    const char* charsmap_match(const std::string& s) const;

    std::vector<std::string> pieces_;
    std::vector<double> scores_;
    std::unordered_map<std::string, int> ids_;
    size_t longest_piece_ = 0;
    std::vector<std::pair<std::string, int>> added_;  // (content, id), longest first
    int unk_id_ = 2, pad_id_ = 0, eos_id_ = 1;
    double unk_score_ = 0;
    std::vector<uint32_t> trie_;    // darts-clone double array
    std::string normalized_;        // the replacements, each ending in a NUL
    std::string path_;
};

}  // namespace sdref
