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
    static const FamilySpec spec = [] {
        FamilySpec f;
        f.name = "SD 2.x";
        f.detect = detect;
        f.diffusers_text_encoders = {{"text_encoder", "cond_stage_model.transformer."}};  // (SD 1.x's layout: the tensors tell)
        f.text_prefix = "cond_stage_model.";
        f.text_embedders = {"cond_stage_model."};
        f.make_conditioner = make;
        f.native_size = 512;
        f.vae_scale = 0.18215f;
        f.prediction_type = "v_prediction";
        f.preview_factors = kSdPreviewFactors;
        return f;
    }();
    return spec;
}

}  // namespace sdref
