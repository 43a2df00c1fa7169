// SD 3 and 3.5: CLIP-L, CLIP-G and T5-XXL (models/conditioner_sd3.h), the MMDiT (mmdit_denoiser.cpp), flow matching.
#include "models/conditioner_sd3.h"

#include <algorithm>
#include <optional>

#include "core/error.h"
#include "models/conditioner.h"
#include "models/mmdit_denoiser.h"
#include "models/t5.h"
#include "text/t5_tokenizer.h"

namespace sdref {

namespace {

constexpr const char* kClipL = "text_encoders.clip_l.";
constexpr const char* kClipG = "text_encoders.clip_g.";
constexpr const char* kT5 = "text_encoders.t5xxl.transformer.";

bool detect(const WeightStore& w) { return w.has("model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight"); }

// A tokenized prompt with each token's A1111 weight.
struct WeightedIds {
    std::vector<int> ids;
    std::vector<float> weights;
};

// The prompt's fragments (A1111's syntax) tokenized one by one and joined; BREAK is dropped.
template <typename Encode>
WeightedIds tokens_of(const std::vector<PromptFragment>& fragments, Encode encode) {
    WeightedIds t;
    for (const PromptFragment& f : fragments) {
        if (f.weight < 0) continue;
        for (int id : encode(f.text)) t.ids.push_back(id), t.weights.push_back(f.weight);
    }
    return t;
}

// [first] + tokens cut to n - 2 + [last], padded with `pad` to n; weight 1 for the frame and the padding.
WeightedIds frame(WeightedIds t, int n, int first, int last, int pad) {
    const size_t keep = std::min(t.ids.size(), size_t(n - (first >= 0 ? 2 : 1)));
    WeightedIds out;
    if (first >= 0) out.ids.push_back(first), out.weights.push_back(1.0f);
    out.ids.insert(out.ids.end(), t.ids.begin(), t.ids.begin() + long(keep));
    out.weights.insert(out.weights.end(), t.weights.begin(), t.weights.begin() + long(keep));
    out.ids.push_back(last), out.weights.push_back(1.0f);
    out.ids.resize(size_t(n), pad);
    out.weights.resize(size_t(n), 1.0f);
    return out;
}

// A CLIP encoder's settings: the diffusers folder's config.json, else the file's "<key>_config" metadata, else the
// released encoder's activation (heads: its width / 64).
const Json* clip_settings(const ConditionerSource& s, int index, const char* key, const char* act, Json& holder) {
    if (s.text_config[index]) return s.text_config[index];
    const std::string meta = s.store->metadata(std::string(key) + "_config");
    holder = meta.empty() ? Json::parse(std::string("{\"hidden_act\": \"") + act + "\"}", key) : Json::parse(meta, s.store->describe() + " " + key + "_config metadata");
    return &holder;
}

class Sd3Conditioner : public Conditioner {
public:
    explicit Sd3Conditioner(const ConditionerSource& s)
        : clip_l_(load_clip(s, 0, kClipL, "clip_l", "quick_gelu", "--clip-l")),
          clip_g_(load_clip(s, 1, kClipG, "clip_g", "gelu", "--clip-g")),
          projection_g_(TextProjection::load(*s.store, kClipG, clip_g_.config().width)),
          tokenizer_(s.tokenizer),
          store_(s.store),
          width_(s.context_width) {
        // CLIP-L's pooled vector goes through the file's text_projection where it has one (diffusers' reading; set
        // v3's is the identity, SD 3 was trained on the unprojected vector); a CLIP-L file without one gives the
        // pooled vector as it is, as ComfyUI always does
        if (s.store->has(std::string(kClipL) + "transformer.text_projection.weight"))
            projection_l_ = TextProjection::load(*s.store, kClipL, clip_l_.config().width);
        if (!s.skip_t5 && s.store->has(std::string(kT5) + "shared.weight")) {
            t5_ = T5Encoder::load(s.store, kT5);
            if (t5_->width() != width_)
                fail(s.store->describe(), ": the T5 encoder is ", t5_->width(), " wide, the transformer reads ", width_,
                     "-wide text tokens (context_embedder): a T5 of another model");
        }
        if (clip_l_.config().width + clip_g_.config().width > width_)
            fail(s.store->describe(), ": CLIP-L (", clip_l_.config().width, ") and CLIP-G (", clip_g_.config().width,
                 ") are wider together than the transformer's text tokens (", width_, "): encoders of another model");
        if (!s.embeddings.empty()) fail(s.embeddings.front().path, ": textual-inversion embeddings are not supported for SD 3 in sdref");
    }

    Conditioning encode(const std::string& prompt, bool /*negative*/, const ConditioningOptions& o) const override {
        const ClipTokenizer& tok = tokenizer_ ? *tokenizer_ : ClipTokenizer::builtin();
        if (o.max_sequence_length < 1 || o.max_sequence_length > 512)
            fail("max_sequence_length must be between 1 and 512 (T5's tokens), got ", o.max_sequence_length);
        const int layer = o.clip_skip > 0 ? o.clip_skip : 2;  // (A1111 numbering: SD 3 reads the penultimate layer)
        const std::vector<PromptFragment> fragments = parse_prompt_attention(prompt);
        const WeightedIds clip = tokens_of(fragments, [&](const std::string& text) { return tok.encode(text); });
        const int T = ClipTokenizer::kContextLength, start = ClipTokenizer::kStartOfText, end = ClipTokenizer::kEndOfText;
        const Encoded l = encode_clip(clip_l_, projection_l_, frame(clip, T, start, end, ClipTokenizer::kPadSd1), layer, o.forward);
        const Encoded g = encode_clip(clip_g_, projection_g_, frame(clip, T, start, end, ClipTokenizer::kPadSd2), layer, o.forward);
        Tensor t5;
        if (t5_) {
            // the encoders take turns: CLIP's weights go before T5's come in, and T5's before the next prompt's CLIP
            // (11 GB of text encoders at full size, never resident together; T5 is read again from the page cache)
            store_->release(kClipL);
            store_->release(kClipG);
            const T5Tokenizer& t5_tok = T5Tokenizer::builtin();
            const WeightedIds ids = frame(tokens_of(fragments, [&](const std::string& text) { return t5_tok.encode(text); }),
                                          o.max_sequence_length, -1, t5_tok.eos_id(), t5_tok.pad_id());
            t5 = t5_->forward(ids.ids, o.forward);
            store_->release(kT5);
            emphasize(t5, ids.weights);
        }
        Sd3Conditioning c = assemble_sd3_conditioning(l.states, g.states, l.pooled, g.pooled, t5, width_);
        return {std::move(c.context), std::move(c.pooled)};
    }

private:
    struct Encoded {
        Tensor states, pooled;
    };

    static ClipTextEncoder load_clip(const ConditionerSource& s, int index, const char* embedder, const char* key, const char* act,
                                     const char* flag) {
        if (!has_text_encoder(*s.store, embedder))
            fail(s.store->describe(), ": an SD 3 transformer without its ", key == std::string("clip_l") ? "CLIP-L" : "CLIP-G",
                 " text encoder (", embedder, "transformer.*): give it with ", flag,
                 " FILE (and --clip-g / --t5xxl for the others), as ComfyUI and stable-diffusion.cpp take them");
        Json holder;
        return ClipTextEncoder::load(s.store, clip_settings(s, index, key, act, holder), embedder);
    }

    // The chosen layer's token states (no final LayerNorm) with the prompt's weights, and the projected pooled vector.
    static Encoded encode_clip(const ClipTextEncoder& encoder, const std::optional<TextProjection>& projection, const WeightedIds& ids,
                               int layer, const ForwardContext& ctx) {
        const int64_t L = encoder.config().layers;
        if (layer < 1 || layer > L) fail("--clip-skip must be between 1 and ", L, " for this text encoder, got ", layer);
        const ClipTextOutput o = encoder.forward(ids.ids, ctx);
        Encoded e{o.hidden[size_t(L - layer + 1)], projection ? projection->apply(o.pooled) : o.pooled};
        emphasize(e.states, ids.weights);
        return e;
    }

    ClipTextEncoder clip_l_, clip_g_;
    std::optional<TextProjection> projection_l_;
    TextProjection projection_g_;
    std::optional<T5Encoder> t5_;
    std::shared_ptr<const ClipTokenizer> tokenizer_;
    std::shared_ptr<const WeightStore> store_;
    int64_t width_;
};

std::unique_ptr<Conditioner> make(const ConditionerSource& s) { return std::make_unique<Sd3Conditioner>(s); }

}  // namespace

// The SD 3 VAE's latent-to-RGB factors (ComfyUI's latent_formats.SD3), for the scaled latents.
const float kSd3PreviewFactors[16][3] = {
    {-0.0645f, 0.0177f, 0.1052f}, {0.0028f, 0.0312f, 0.0650f},   {0.1848f, 0.0762f, 0.0360f},   {0.0944f, 0.0360f, 0.0889f},
    {0.0897f, 0.0506f, -0.0364f}, {-0.0020f, 0.1203f, 0.0284f},  {0.0855f, 0.0118f, 0.0283f},   {-0.0539f, 0.0658f, 0.1047f},
    {-0.0057f, 0.0116f, 0.0700f}, {-0.0412f, 0.0281f, -0.0039f}, {0.1106f, 0.1171f, 0.1220f},   {-0.0248f, 0.0682f, -0.0481f},
    {0.0815f, 0.0846f, 0.1207f},  {-0.0120f, -0.0055f, -0.0867f}, {-0.0749f, -0.0634f, -0.0456f}, {-0.1418f, -0.1457f, -0.1259f}};

const FamilySpec& sd3_family() {
    static const FamilySpec spec = [] {
        FamilySpec f;
        f.name = "SD 3";
        f.detect = detect;
        f.diffusers_text_encoders = {{"text_encoder", "text_encoders.clip_l.transformer."},
                                     {"text_encoder_2", "text_encoders.clip_g.transformer."},
                                     {"text_encoder_3", kT5}};
        f.text_prefix = "text_encoders.";
        f.text_embedders = {kClipL, kClipG};
        f.make_conditioner = make;
        f.make_denoiser = make_mmdit_denoiser;
        f.diffusers_denoiser = "transformer";
        f.diffusers_modules = diffusers_mmdit_modules;
        f.add_diffusers_denoiser = add_diffusers_mmdit;
        f.native_size = 1024;
        f.vae_scale = 1.5305f;
        f.vae_shift = 0.0609f;
        f.prediction_type = "flow";
        f.flow_shift = 3.0;
        f.default_steps = 28;
        f.default_cfg = 3.5f;
        f.default_sampler = "euler";
        f.preview_factors = kSd3PreviewFactors;
        f.latent_channels = 16;
        f.taesd = "taesd3";
        return f;
    }();
    return spec;
}

Sd3Conditioning assemble_sd3_conditioning(const Tensor& l, const Tensor& g, const Tensor& l_pooled, const Tensor& g_pooled,
                                          const Tensor& t5, int64_t width) {
    const int64_t n = l.dim(0), dl = l.dim(1), dg = g.dim(1);
    if (g.dim(0) != n) fail("SD3 conditioning: CLIP-L gives ", n, " tokens, CLIP-G ", g.dim(0));
    if (dl + dg > width) fail("SD3 conditioning: the CLIP widths ", dl, " + ", dg, " exceed T5's ", width);
    if (t5.numel() && t5.dim(1) != width) fail("SD3 conditioning: the T5 states are ", t5.dim(1), " wide, expected ", width);
    const int64_t t = t5.numel() ? t5.dim(0) : n;  // (no T5: zeros of the CLIP length)
    Sd3Conditioning c{Tensor({n + t, width}), Tensor({l_pooled.numel() + g_pooled.numel()})};
    for (int64_t i = 0; i < n; ++i) {
        std::copy_n(l.data() + i * dl, dl, c.context.data() + i * width);
        std::copy_n(g.data() + i * dg, dg, c.context.data() + i * width + dl);  // (the rest of the row stays zero)
    }
    if (t5.numel()) std::copy_n(t5.data(), t5.numel(), c.context.data() + n * width);
    std::copy_n(l_pooled.data(), l_pooled.numel(), c.pooled.data());
    std::copy_n(g_pooled.data(), g_pooled.numel(), c.pooled.data() + l_pooled.numel());
    return c;
}

}  // namespace sdref
