// clip_tokenizer.h: CLIP's byte-level BPE tokenizer (OpenAI clip/simple_tokenizer.py), the same ids for SD 1.x
// (Hugging Face CLIPTokenizer) and SD 2.x (OpenCLIP), which differ only in the padding id.
//
//   text --html.unescape x2, strip--> --collapse white space, strip--> --lower()--> --pre-tokenizer pattern-->
//   words --UTF-8 bytes as printable characters--> --BPE merges by rank--> subwords --vocabulary--> ids
//
// The prompt is then framed as [49406 <|startoftext|>] + ids[:75] + [49407 <|endoftext|>] and padded to 77.
// docs/tokenizer.md walks through each step.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

namespace sdref {

class ClipTokenizer {
public:
    static constexpr int kContextLength = 77;
    static constexpr int kStartOfText = 49406;
    static constexpr int kEndOfText = 49407;
    static constexpr int kPadSd1 = 49407;  // SD 1.x (CLIPTokenizer pads with <|endoftext|>)
    static constexpr int kPadSd2 = 0;      // SD 2.x (OpenCLIP pads with 0)

    // OpenAI's bpe_simple_vocab_16e6.txt.gz (a gzip file of merges; the vocabulary is derived from them).
    static ClipTokenizer from_bpe_gz(const std::string& path);
    // A diffusers/Hugging Face `tokenizer/` folder: vocab.json and merges.txt.
    static ClipTokenizer from_folder(const std::string& dir);
    // The pad id a Hugging Face tokenizer folder's tokenizer_config.json names: "<|endoftext|>" (kPadSd1) or "!" (kPadSd2,
    // OpenCLIP's 0); -1 when it names none. Any other pad token is an error naming the file.
    static int folder_pad_id(const std::string& dir);
    // The vocabulary built into sdref (data/clip/bpe_simple_vocab_16e6.txt.gz, embedded at build time).
    static const ClipTokenizer& builtin();

    // Raw BPE ids of a text, without start/end tokens or padding.
    std::vector<int> encode(const std::string& text) const;
    // [start] + encode(text)[:75] + [end], padded with pad_id to 77 ids.
    std::vector<int> encode_padded(const std::string& text, int pad_id) const;

    size_t vocab_size() const { return encoder_.size(); }

private:
    ClipTokenizer() = default;
    // The decompressed merges file; `source` names it in errors.
    static ClipTokenizer from_bpe_text(const std::string& text, const std::string& source);
    void set_merges(const std::vector<std::string>& merge_lines, const std::string& source);
    std::vector<std::string> bpe(const std::string& word) const;

    std::string byte_encoder_[256];                  // byte -> printable character (UTF-8)
    std::unordered_map<std::string, int> encoder_;   // subword -> id
    std::unordered_map<std::string, int> ranks_;     // "first second" -> merge rank (lower merges first)
};

}  // namespace sdref
