// prompt_weighting.h: AUTOMATIC1111's prompt syntax, so prompts written for it mean the same here.
//
//   (word)        weight x 1.1        ((word)) x 1.21, nesting multiplies
//   (word:1.3)    weight 1.3          [word]   weight / 1.1
//   \( \) \[ \]   literal brackets    BREAK    start a new 77-token chunk
//
// Long prompts: the tokens are cut into chunks of 75 (moving the words after the last comma within the final 20
// tokens to the next chunk, as A1111 does), each framed as [start] + 75 + [end] and encoded separately; the
// U-Net attends to all chunks' 77-token contexts concatenated. Weights scale each token's embedding, then the
// chunk is rescaled to keep its original mean (A1111's "emphasis").
#pragma once

#include <string>
#include <vector>

#include "text/clip_tokenizer.h"

namespace sdref {

struct PromptFragment {
    std::string text;
    float weight;  // -1 marks BREAK
};

// A1111's parse_prompt_attention: fragments with their weights, neighbours of equal weight merged.
std::vector<PromptFragment> parse_prompt_attention(const std::string& prompt);

struct PromptChunk {
    std::vector<int> ids;        // 77 ids: start, 75 tokens (padded), end
    std::vector<float> weights;  // 77 weights (1 for start, end and padding)
};

// A textual-inversion embedding as the tokenizer sees it: where the BPE ids of its name occur in a prompt, they
// are replaced by the ids of its vectors (ids past the vocabulary, which the text encoder maps to the vectors).
struct EmbeddingWord {
    std::vector<int> word;  // BPE ids of the embedding's name
    std::vector<int> ids;   // one id per vector
};

// The chunks of a prompt; SD 2.x's padding (pad_id 0) replaces everything after the first end token. An
// embedding's vectors never straddle two chunks (A1111: a chunk that cannot take them all is closed first).
std::vector<PromptChunk> tokenize_weighted(const ClipTokenizer& tok, const std::string& prompt, int pad_id,
                                           const std::vector<EmbeddingWord>& embeddings = {});

}  // namespace sdref
