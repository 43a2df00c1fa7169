#include "loader/checkpoint.h"

#include <cstdio>

#include "addons/textual_inversion.h"
#include "core/error.h"
#include "core/limits.h"
#include "io/mapped_file.h"
#include "models/key_names.h"
#include "models/unet_denoiser.h"

namespace sdref {

namespace {

Json load_json(const std::string& path) { return Json::parse(read_text_file(path), path); }

// "WxH" (ModelSpec's modelspec.resolution) -> width, height: positive multiples of 8.
void parse_resolution(const std::string& text, const std::string& source, int64_t* w, int64_t* h) {
    long long a = 0, b = 0;
    char x = 0, rest = 0;
    if (std::sscanf(text.c_str(), "%lld%c%lld%c", &a, &x, &b, &rest) != 3 || x != 'x' || a < 8 || b < 8 || a > kMaxImageSide ||
        b > kMaxImageSide || a % 8 || b % 8)
        fail(source, ": modelspec.resolution \"", text, "\" is not WIDTHxHEIGHT in multiples of 8 (8 to ", kMaxImageSide, ")");
    *w = a, *h = b;
}

// A separate VAE ahead of the checkpoint's: a diffusers vae/ folder, or one file in the original names (with or
// without the first_stage_model. prefix, as vae-ft-mse-840000-ema-pruned) or in diffusers' names.
void add_vae(WeightStore& w, const std::string& path) {
    if (is_directory(path)) {
        const Json config = load_json(path + "/config.json");
        const int64_t levels = int64_t(config.at("block_out_channels").items(path + "/config.json: block_out_channels").size());
        for (const std::string& f : diffusers_weight_files(path, "diffusion_pytorch_model"))
            w.add_file_claiming(f, "first_stage_model.", [levels](const std::string& n) { return diffusers_vae_name(n, levels); });
        return;
    }
    const std::unique_ptr<TensorFile> probe = open_tensor_file(path);
    if (probe->find("first_stage_model.encoder.conv_in.weight")) {
        w.add_file_claiming(path, "first_stage_model.", [](const std::string& n) { return "first_stage_model." + n; });
    } else if (probe->find("encoder.conv_in.weight") && probe->find("encoder.down.0.block.0.conv1.weight")) {
        w.add_file_claiming(path, "first_stage_model.");
    } else if (probe->find("encoder.down_blocks.0.resnets.0.conv1.weight")) {
        int64_t levels = 0;
        while (probe->find("encoder.down_blocks." + std::to_string(levels) + ".resnets.0.conv1.weight")) ++levels;
        w.add_file_claiming(path, "first_stage_model.", [levels](const std::string& n) { return diffusers_vae_name(n, levels); });
    } else {
        fail(path, ": --vae: not a VAE sdref knows (no encoder.conv_in.weight in the original or diffusers names, with or "
                   "without first_stage_model.)");
    }
}

// A separate text encoder ahead of the checkpoint's (SD 3's --clip-l, --clip-g, --t5xxl), claiming `prefix`
// ("text_encoders.clip_l.transformer."): a file in Hugging Face names, bare (ComfyUI's clip_l.safetensors,
// t5xxl_fp16.safetensors) or under transformer. `probe` is a tensor every such file has, in the bare names.
void add_text_encoder(WeightStore& w, const std::string& path, const std::string& prefix, const std::string& probe, const char* flag) {
    const std::unique_ptr<TensorFile> file = open_tensor_file(path);
    if (file->find(probe)) return w.add_file_claiming(path, prefix);
    const std::string outer = prefix.substr(0, prefix.size() - std::string("transformer.").size());
    if (file->find("transformer." + probe)) return w.add_file_claiming(path, outer);
    // (a T5 whose embedding is stored only as the tied encoder.embed_tokens.weight)
    if (probe == "shared.weight" && file->find("encoder.embed_tokens.weight"))
        return w.add_file_claiming(path, prefix, [](const std::string& n) { return n == "shared.weight" ? "encoder.embed_tokens.weight" : n; });
    fail(path, ": ", flag, ": not the text encoder it names (no ", probe, " in Hugging Face names, bare or under transformer.)");
}

}  // namespace

StableDiffusionModel StableDiffusionModel::load(const std::string& path, const CheckpointOverrides& overrides) {
    StableDiffusionModel m;
    DenoiserSource ds;  // what the family's denoiser is made from: filled on the way
    DenoiserInfo& d = ds.info;
    m.info_.source = path;
    m.weights_ = std::make_shared<WeightStore>();
    WeightStore& w = *m.weights_;
    Json denoiser_config, text_configs[3], model_index;
    ConditionerSource cs;
    std::string prediction_type;
    float vae_scale = 0, vae_shift = 0;  // 0: the family's
    bool has_vae_shift = false;
    bool has_scheduler_config = false;
    // separate parts first: their tensors shadow the checkpoint's own
    if (!overrides.vae.empty()) add_vae(w, overrides.vae);
    if (!overrides.clip_l.empty()) add_text_encoder(w, overrides.clip_l, "text_encoders.clip_l.transformer.", "text_model.embeddings.token_embedding.weight", "--clip-l");
    if (!overrides.clip_g.empty()) add_text_encoder(w, overrides.clip_g, "text_encoders.clip_g.transformer.", "text_model.embeddings.token_embedding.weight", "--clip-g");
    if (!overrides.t5xxl.empty()) add_text_encoder(w, overrides.t5xxl, "text_encoders.t5xxl.transformer.", "shared.weight", "--t5xxl");
    auto read_vae_config = [&](const Json& vae_config, const std::string& source) {
        if (const Json* s = vae_config.find("scaling_factor")) vae_scale = float(s->as_number(source + ": scaling_factor"));
        if (const Json* s = vae_config.find("shift_factor"); s && !s->is_null())
            vae_shift = float(s->as_number(source + ": shift_factor")), has_vae_shift = true;
    };

    if (is_directory(path)) {
        if (overrides.use_ema) fail(path, ": --use-ema: a diffusers folder holds one set of weights (no EMA copy)");
        if (!path_exists(path + "/model_index.json")) fail(path, ": not a diffusers model folder (no model_index.json)");
        model_index = load_json(path + "/model_index.json");
        const FamilySpec& layout = folder_layout_family(path);
        denoiser_config = layout.add_diffusers_denoiser(w, path + "/" + layout.diffusers_denoiser, layout.denoiser_prefix);
        ds.config = &denoiser_config;
        const Json vae_config = load_json(path + "/vae/config.json");
        const int64_t levels = int64_t(vae_config.at("block_out_channels").items().size());
        for (const std::string& f : diffusers_weight_files(path + "/vae", "diffusion_pytorch_model"))
            w.add_file(f, "first_stage_model.", [levels](const std::string& n) { return diffusers_vae_name(n, levels); });
        // text encoders (Hugging Face names) at the canonical prefixes of the family whose layout the folder has
        const std::vector<std::pair<std::string, std::string>>& encoders = layout.diffusers_text_encoders;
        for (size_t i = 0; i < encoders.size(); ++i) {
            const std::string dir = path + "/" + encoders[i].first;
            text_configs[i] = load_json(dir + "/config.json");
            cs.text_config[i] = &text_configs[i];
            for (const std::string& f : diffusers_weight_files(dir, "model")) w.add_file(f, encoders[i].second);
        }
        for (const char* tok : {"tokenizer", "tokenizer_2"})
            if (!m.tokenizer_ && path_exists(path + "/" + tok + "/vocab.json"))
                m.tokenizer_ = std::make_shared<ClipTokenizer>(ClipTokenizer::from_folder(path + "/" + tok));
        if (path_exists(path + "/tokenizer/tokenizer_config.json")) cs.pad_id = ClipTokenizer::folder_pad_id(path + "/tokenizer");
        if (path_exists(path + "/scheduler/scheduler_config.json")) {
            const Json scheduler_config = load_json(path + "/scheduler/scheduler_config.json");
            d.scheduler.update_from_json(scheduler_config, path + "/scheduler/scheduler_config.json");
            if (scheduler_config.find("prediction_type")) prediction_type = d.scheduler.prediction_type;  // (flow matching's has none)
            has_scheduler_config = true;
        }
        read_vae_config(vae_config, path + "/vae/config.json");
    } else {
        w.add_file(path);
        if (overrides.use_ema) w.use_ema_weights();
        if (const std::string p = w.metadata("prediction_type"); !p.empty())
            prediction_type = Json::parse(p, path + " prediction_type metadata").as_string();
        if (const std::string v = w.metadata("vae_config"); !v.empty()) read_vae_config(Json::parse(v, path + " vae_config metadata"), path + " vae_config");
    }

    // what kind of model this is: its tensors tell
    const FamilySpec& family = detect_family(w);
    m.info_.family = &family;
    d.default_width = d.default_height = family.native_size;
    d.default_steps = family.default_steps;
    d.default_cfg = family.default_cfg;
    d.default_sampler = family.default_sampler;
    if (!is_directory(path)) {
        if (const std::string r = w.metadata("modelspec.resolution"); !r.empty())
            parse_resolution(r, path, &d.default_width, &d.default_height);
        d.scheduler.timestep_spacing = family.timestep_spacing;  // a single file has no scheduler config
    }
    if (!has_scheduler_config) {
        d.scheduler.shift = family.flow_shift;
        if (const std::string c = w.metadata("scheduler_config"); !c.empty())
            d.scheduler.update_from_json(Json::parse(c, path + " scheduler_config metadata"), path + " scheduler_config metadata");
    }
    d.vae_scale = vae_scale > 0 ? vae_scale : family.vae_scale;
    d.vae_shift = has_vae_shift ? vae_shift : family.vae_shift;
    if (!overrides.prediction_type.empty()) prediction_type = overrides.prediction_type;
    if (prediction_type.empty()) prediction_type = family.prediction_type;
    const bool flow = std::string(family.prediction_type) == "flow";
    if (flow ? prediction_type != "flow" : prediction_type != "epsilon" && prediction_type != "v_prediction")
        fail("--prediction-type: \"", prediction_type, "\" is not ", flow ? "flow (a " + std::string(family.name) + " model predicts the flow velocity)" : "epsilon or v_prediction");
    d.scheduler.prediction_type = prediction_type;
    m.lora_ = apply_loras(w, overrides.loras, family);

    // its parts: the denoiser, the conditioner, the VAE
    ds.store = m.weights_;
    ds.prefix = family.denoiser_prefix;
    ds.hypernetworks = overrides.hypernetworks;
    ds.source = path;
    m.denoiser_ = family.make_denoiser(ds);
    cs.store = m.weights_;
    cs.tokenizer = m.tokenizer_;
    cs.vector_width = m.denoiser_->info().vector_width;
    cs.context_width = m.denoiser_->info().context_width;
    cs.force_zeros_for_empty_prompt = family.force_zeros_for_empty_prompt;
    if (const Json* f = model_index.is_object() ? model_index.find("force_zeros_for_empty_prompt") : nullptr)
        cs.force_zeros_for_empty_prompt = f->as_bool(path + "/model_index.json: force_zeros_for_empty_prompt");
    for (const std::string& e : overrides.embeddings) cs.embeddings.push_back(load_textual_inversion(e));
    cs.skip_t5 = overrides.skip_t5;
    m.conditioner_ = family.make_conditioner(cs);
    m.vae_ = std::make_shared<Vae>(Vae::load(m.weights_));
    if (m.vae_->latent_channels() != m.denoiser_->info().latent_channels)
        fail(w.describe(), ": the VAE has ", m.vae_->latent_channels(), " latent channels, the ", m.denoiser_->name(), " reads ",
             m.denoiser_->info().latent_channels, ": a VAE of another model family");
    return m;
}

const UNet& StableDiffusionModel::unet() const {
    const auto* u = dynamic_cast<const UNetDenoiser*>(denoiser_.get());
    if (!u) fail(info_.source, ": a ", info_.family->name, " model has no U-Net (its denoiser is the ", denoiser_->name(), ")");
    return u->unet();
}

std::string StableDiffusionModel::prefix(Part part) const {
    const FamilySpec& f = *info_.family;
    return part == Part::TextEncoder ? f.text_prefix : part == Part::Denoiser ? f.denoiser_prefix : f.vae_prefix;
}

std::vector<std::string> StableDiffusionModel::unused_tensors() const {
    std::vector<std::string> out = weights_->unused();
    out.insert(out.end(), lora_.unused.begin(), lora_.unused.end());
    return out;
}

}  // namespace sdref
