// conditioner_one_clip.h: the conditioner of SD 1.x and 2.x: one CLIP text encoder at cond_stage_model., its
// chosen layer after the final LayerNorm as the context, no vector. Prompts are padded with the family's pad id,
// or a diffusers folder's own (an SD 2.x folder keeps OpenCLIP's 0 in a Hugging Face text encoder).
#pragma once

#include "models/conditioner.h"

namespace sdref {

class OneClipConditioner : public Conditioner {
public:
    OneClipConditioner(const ConditionerSource& s, int pad_id, int default_clip_skip)
        : encoder_(ClipTextEncoder::load(s.store, s.text_config[0], "cond_stage_model.")),
          tokenizer_(s.tokenizer),
          pad_id_(s.pad_id >= 0 ? s.pad_id : pad_id),
          default_clip_skip_(default_clip_skip) {
        words_ = add_embeddings(tokenizer_ ? *tokenizer_ : ClipTokenizer::builtin(), s.embeddings, {{&encoder_, ""}});
    }

    Conditioning encode(const std::string& prompt, bool /*negative*/, const ConditioningOptions& o) const override {
        const ClipTokenizer& tok = tokenizer_ ? *tokenizer_ : ClipTokenizer::builtin();
        const int layer = o.clip_skip > 0 ? o.clip_skip : default_clip_skip_;
        return {encode_weighted(tok, encoder_, prompt, pad_id_, layer, /*final_norm=*/true, o.forward, words_).context, Tensor()};
    }

private:
    ClipTextEncoder encoder_;
    std::shared_ptr<const ClipTokenizer> tokenizer_;
    int pad_id_, default_clip_skip_;
    std::vector<EmbeddingWord> words_;
};

}  // namespace sdref
