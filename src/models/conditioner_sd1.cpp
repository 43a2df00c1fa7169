// SD 1.x: OpenAI's CLIP ViT-L/14 text tower (Hugging Face names under cond_stage_model.transformer.), conditioning
// on its last layer after the final LayerNorm ("clip skip 1"); prompts padded with the end token.
#include "models/conditioner.h"
#include "models/conditioner_one_clip.h"

namespace sdref {

namespace {

bool detect(const WeightStore& w) { return w.has("cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"); }

std::unique_ptr<Conditioner> make(const ConditionerSource& s) {
    return std::make_unique<OneClipConditioner>(s, ClipTokenizer::kPadSd1, /*default_clip_skip=*/1);
}

}  // namespace

const FamilySpec& sd1_family() {
    static const FamilySpec spec{ModelFamily::SD1, "SD 1.x", "cond_stage_model.", detect, make, 512, 0.18215f, "epsilon", "", false,
                                 {"cond_stage_model."}};
    return spec;
}

}  // namespace sdref
