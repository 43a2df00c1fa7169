// SD 2.x: OpenCLIP ViT-H/14's text tower (OpenCLIP names under cond_stage_model.model.), conditioning on its
// penultimate layer after the final LayerNorm ("clip skip 2"); prompts padded with 0; v-prediction by default.
#include "models/conditioner.h"
#include "models/conditioner_one_clip.h"
#include "models/unet_denoiser.h"

namespace sdref {

namespace {

bool detect(const WeightStore& w) { return w.has("cond_stage_model.model.token_embedding.weight"); }

std::unique_ptr<Conditioner> make(const ConditionerSource& s) {
    return std::make_unique<OneClipConditioner>(s, ClipTokenizer::kPadSd2, /*default_clip_skip=*/2);
}

}  // namespace

// SD 1.x's, but for its text encoder, its conditioner and v-prediction.
const FamilySpec& sd2_family() {
    static const FamilySpec spec = [] {
        FamilySpec f = sd1_family();
        f.name = "SD 2.x";
        f.detect = detect;
        f.make_conditioner = make;
        f.make_denoiser = make_unet_denoiser;
        f.add_diffusers_denoiser = add_diffusers_unet;
        f.prediction_type = "v_prediction";
        return f;
    }();
    return spec;
}

}  // namespace sdref
