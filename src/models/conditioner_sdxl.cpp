// SDXL base: two text encoders side by side (Podell et al. 2023, section 2.1).
//
//   encoder 0  CLIP ViT-L/14       conditioner.embedders.0.transformer.text_model.*   pads with the end token
//   encoder 1  OpenCLIP ViT-bigG   conditioner.embedders.1.model.*                    pads with 0
//   context  = concat(penultimate_0, penultimate_1) along the features, no final LayerNorm   [77 k, 768 + 1280]
//   pooled   = text_projection(final_LN(last layer of encoder 1) at the end token)          [1280]
//   y        = [pooled, sin(original h), sin(original w), sin(crop top), sin(crop left), sin(target h), sin(target w)]
//              (each sinusoid 256 wide: 1280 + 6 x 256 = 2816, the U-Net's label_emb input)
// An empty negative prompt is all zeros, context and pooled (diffusers' force_zeros_for_empty_prompt).
// A diffusers folder's text_encoder_2/ (CLIPTextModelWithProjection, Hugging Face names) loads at
// conditioner.embedders.1.transformer.* instead.
#include "core/error.h"
#include "models/conditioner.h"
#include "models/unet_denoiser.h"

namespace sdref {

namespace {

constexpr int kPadL = ClipTokenizer::kPadSd1, kPadG = ClipTokenizer::kPadSd2;

bool detect(const WeightStore& w) {
    return has_text_encoder(w, "conditioner.embedders.0.") && has_text_encoder(w, "conditioner.embedders.1.");
}

class SdxlConditioner : public Conditioner {
public:
    explicit SdxlConditioner(const ConditionerSource& s)
        : meta_(text_config_metadata(*s.store)),
          clip_l_(ClipTextEncoder::load(s.store, encoder_settings(s, 0, meta_, "clip_l"), "conditioner.embedders.0.")),
          clip_g_(ClipTextEncoder::load(s.store, encoder_settings(s, 1, meta_, "clip_g"), "conditioner.embedders.1.")),
          projection_(TextProjection::load(*s.store, "conditioner.embedders.1.", clip_g_.config().width)),
          tokenizer_(s.tokenizer),
          vector_width_(s.vector_width),
          force_zeros_(s.force_zeros_for_empty_prompt),
          source_(s.store->describe()) {
        words_ = add_embeddings(tokenizer_ ? *tokenizer_ : ClipTokenizer::builtin(), s.embeddings, {{&clip_l_, "clip_l"}, {&clip_g_, "clip_g"}});
    }

    Conditioning encode(const std::string& prompt, bool negative, const ConditioningOptions& o) const override {
        const ClipTokenizer& tok = tokenizer_ ? *tokenizer_ : ClipTokenizer::builtin();
        const int layer = o.clip_skip > 0 ? o.clip_skip : 2;
        Conditioning c;
        Tensor pooled;
        if (negative && force_zeros_ && prompt.empty()) {
            c.context = Tensor({ClipTokenizer::kContextLength, clip_l_.config().width + clip_g_.config().width});
            pooled = Tensor({projection_.weight.dim(0)});
        } else {
            // the final LayerNorm is applied only when the last layer itself is asked for (--clip-skip 1)
            const EncodedPrompt l = encode_weighted(tok, clip_l_, prompt, kPadL, layer, /*final_norm=*/layer == 1, o.forward, words_);
            const EncodedPrompt g = encode_weighted(tok, clip_g_, prompt, kPadG, layer, /*final_norm=*/layer == 1, o.forward, words_);
            c.context = concat_features(l.context, g.context);
            pooled = projection_.apply(g.pooled);
        }
        const MicroConditioning& m = o.micro;
        auto or_image = [](int64_t v, int64_t image) { return float(v > 0 ? v : image); };
        c.vector = micro_vector(pooled,
                                {or_image(m.original_height, o.height), or_image(m.original_width, o.width), float(m.crop_top),
                                 float(m.crop_left), or_image(m.target_height, o.height), or_image(m.target_width, o.width)},
                                vector_width_, source_);
        return c;
    }

private:
    Json meta_;
    ClipTextEncoder clip_l_, clip_g_;
    TextProjection projection_;
    std::shared_ptr<const ClipTokenizer> tokenizer_;
    int64_t vector_width_;
    bool force_zeros_;
    std::string source_;
    std::vector<EmbeddingWord> words_;
};

std::unique_ptr<Conditioner> make(const ConditionerSource& s) { return std::make_unique<SdxlConditioner>(s); }

}  // namespace

// The SDXL VAE's latent-to-RGB factors (the base and the refiner share the VAE).
const float kSdxlPreviewFactors[4][3] = {{0.3920f, 0.4054f, 0.4549f}, {-0.2634f, -0.0196f, 0.0653f}, {0.0568f, 0.1687f, -0.0755f},
                                         {-0.3112f, -0.2359f, -0.2076f}};

const FamilySpec& sdxl_family() {
    static const FamilySpec spec = [] {
        FamilySpec f;
        f.name = "SDXL";
        f.detect = detect;
        f.diffusers_text_encoders = {{"text_encoder", "conditioner.embedders.0.transformer."}, {"text_encoder_2", "conditioner.embedders.1.transformer."}};
        f.text_prefix = "conditioner.";
        f.text_embedders = {"conditioner.embedders.0.", "conditioner.embedders.1."};
        f.make_conditioner = make;
        f.make_denoiser = make_unet_denoiser;
        f.add_diffusers_denoiser = add_diffusers_unet;
        f.native_size = 1024;
        f.vae_scale = 0.13025f;
        f.prediction_type = "epsilon";
        f.timestep_spacing = "leading";
        f.force_zeros_for_empty_prompt = true;
        f.preview_factors = kSdxlPreviewFactors;
        f.taesd = "taesdxl";
        return f;
    }();
    return spec;
}

}  // namespace sdref
