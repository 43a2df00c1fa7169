// SDXL refiner: OpenCLIP ViT-bigG alone (conditioner.embedders.0.model.*), and an aesthetic score in place of
// the target size (Podell et al. 2023, section 2.5).
//
//   context = penultimate layer, no final LayerNorm                                     [77 k, 1280]
//   pooled  = text_projection(final_LN(last layer) at the end token)                     [1280]
//   y       = [pooled, sin(original h), sin(original w), sin(crop top), sin(crop left), sin(aesthetic score)]
//             (1280 + 5 x 256 = 2560); the unconditional side takes the negative aesthetic score
// A diffusers refiner folder's text_encoder_2/ loads at conditioner.embedders.0.transformer.* instead.
#include "core/error.h"
#include "models/conditioner.h"
#include "models/unet_denoiser.h"

namespace sdref {

namespace {

bool detect(const WeightStore& w) {
    return has_text_encoder(w, "conditioner.embedders.0.") && !has_text_encoder(w, "conditioner.embedders.1.");
}

class SdxlRefinerConditioner : public Conditioner {
public:
    explicit SdxlRefinerConditioner(const ConditionerSource& s)
        : meta_(text_config_metadata(*s.store)),
          clip_g_(ClipTextEncoder::load(s.store, encoder_settings(s, 0, meta_, "clip_g"), "conditioner.embedders.0.")),
          projection_(TextProjection::load(*s.store, "conditioner.embedders.0.", clip_g_.config().width)),
          tokenizer_(s.tokenizer),
          vector_width_(s.vector_width),
          source_(s.store->describe()) {
        words_ = add_embeddings(tokenizer_ ? *tokenizer_ : ClipTokenizer::builtin(), s.embeddings, {{&clip_g_, "clip_g"}});
    }

    Conditioning encode(const std::string& prompt, bool negative, const ConditioningOptions& o) const override {
        const ClipTokenizer& tok = tokenizer_ ? *tokenizer_ : ClipTokenizer::builtin();
        const int layer = o.clip_skip > 0 ? o.clip_skip : 2;
        const EncodedPrompt g = encode_weighted(tok, clip_g_, prompt, ClipTokenizer::kPadSd2, layer, /*final_norm=*/layer == 1, o.forward, words_);
        const MicroConditioning& m = o.micro;
        auto or_image = [](int64_t v, int64_t image) { return float(v > 0 ? v : image); };
        const float score = negative ? m.negative_aesthetic_score : m.aesthetic_score;
        Conditioning c;
        c.context = g.context;
        c.vector = micro_vector(projection_.apply(g.pooled),
                                {or_image(m.original_height, o.height), or_image(m.original_width, o.width), float(m.crop_top),
                                 float(m.crop_left), score},
                                vector_width_, source_);
        return c;
    }

private:
    Json meta_;
    ClipTextEncoder clip_g_;
    TextProjection projection_;
    std::shared_ptr<const ClipTokenizer> tokenizer_;
    int64_t vector_width_;
    std::string source_;
    std::vector<EmbeddingWord> words_;
};

std::unique_ptr<Conditioner> make(const ConditionerSource& s) { return std::make_unique<SdxlRefinerConditioner>(s); }

}  // namespace

// SDXL's, but for its one text encoder, its conditioner and no zeroed empty prompt.
const FamilySpec& sdxl_refiner_family() {
    static const FamilySpec spec = [] {
        FamilySpec f = sdxl_family();
        f.name = "SDXL refiner";
        f.detect = detect;
        f.diffusers_text_encoders = {{"text_encoder_2", "conditioner.embedders.0.transformer."}};
        f.text_embedders = {"conditioner.embedders.0."};
        f.make_conditioner = make;
        f.make_denoiser = make_unet_denoiser;
        f.add_diffusers_denoiser = add_diffusers_unet;
        f.force_zeros_for_empty_prompt = false;
        return f;
    }();
    return spec;
}

}  // namespace sdref
