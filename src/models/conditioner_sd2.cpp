// SD 2.x: OpenCLIP ViT-H/14's text tower (OpenCLIP names under cond_stage_model.model.), conditioning on its
// penultimate layer after the final LayerNorm ("clip skip 2"); prompts padded with 0; v-prediction by default.
#include "models/conditioner.h"
#include "models/conditioner_one_clip.h"

namespace sdref {

namespace {

bool detect(const WeightStore& w) { return w.has("cond_stage_model.model.token_embedding.weight"); }

std::unique_ptr<Conditioner> make(const ConditionerSource& s) {
    return std::make_unique<OneClipConditioner>(s, ClipTokenizer::kPadSd2, /*default_clip_skip=*/2);
}

}  // namespace

const FamilySpec& sd2_family() {
    static const FamilySpec spec{ModelFamily::SD2, "SD 2.x", "cond_stage_model.", detect, make, 512, 0.18215f, "v_prediction", "", false,
                                 {"cond_stage_model."}};
    return spec;
}

}  // namespace sdref
