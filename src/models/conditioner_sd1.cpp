// SD 1.x: OpenAI's CLIP ViT-L/14 text tower (Hugging Face names under cond_stage_model.transformer.), conditioning
// on its last layer after the final LayerNorm ("clip skip 1"); prompts padded with the end token.
#include "models/conditioner.h"
#include "models/conditioner_one_clip.h"
#include "models/unet_denoiser.h"

namespace sdref {

namespace {

bool detect(const WeightStore& w) { return w.has("cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"); }

std::unique_ptr<Conditioner> make(const ConditionerSource& s) {
    return std::make_unique<OneClipConditioner>(s, ClipTokenizer::kPadSd1, /*default_clip_skip=*/1);
}

}  // namespace

// The SD VAE's latent-to-RGB factors (SD 1.x and 2.x share the VAE).
const float kSdPreviewFactors[4][3] = {{0.3512f, 0.2297f, 0.3227f}, {0.3250f, 0.4974f, 0.2350f}, {-0.2829f, 0.1762f, 0.2721f},
                                       {-0.2120f, -0.2616f, -0.7177f}};

const FamilySpec& sd1_family() {
    static const FamilySpec spec = [] {
        FamilySpec f;
        f.name = "SD 1.x";
        f.detect = detect;
        f.diffusers_text_encoders = {{"text_encoder", "cond_stage_model.transformer."}};
        f.text_prefix = "cond_stage_model.";
        f.text_embedders = {"cond_stage_model."};
        f.make_conditioner = make;
        f.make_denoiser = make_unet_denoiser;
        f.add_diffusers_denoiser = add_diffusers_unet;
        f.native_size = 512;
        f.vae_scale = 0.18215f;
        f.prediction_type = "epsilon";
        f.preview_factors = kSdPreviewFactors;
        return f;
    }();
    return spec;
}

}  // namespace sdref
