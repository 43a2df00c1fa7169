#include "loader/checkpoint.h"

#include <cstdio>
#include <optional>

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

// What the files say beyond their tensors: a diffusers folder's configs, a single file's metadata.
struct FileSettings {
    std::string prediction_type;           // "": the family's
    std::optional<float> vae_scale, vae_shift;  // unset: the family's
    bool scheduler_config = false;         // DenoiserInfo::scheduler was read from the folder's scheduler config
    Json denoiser_config, text_configs[3], model_index;
    std::shared_ptr<const ClipTokenizer> tokenizer;  // a folder's CLIP tokenizer (nullptr: the built-in one)
    int pad_id = -1;                       // its pad token (-1: the family's)

    void read_vae_config(const Json& vae_config, const std::string& source) {
        if (const Json* v = vae_config.find("scaling_factor")) vae_scale = float(v->as_number(source + ": scaling_factor"));
        if (const Json* v = vae_config.find("shift_factor"); v && !v->is_null()) vae_shift = float(v->as_number(source + ": shift_factor"));
    }
};

// Parts given on their own (--vae; SD 3's --clip-l, --clip-g, --t5xxl), added first: their tensors shadow the
// checkpoint's own.
void add_separate_parts(WeightStore& w, const CheckpointOverrides& o) {
    const std::string token_embedding = "text_model.embeddings.token_embedding.weight";
    if (!o.vae.empty()) add_vae(w, o.vae);
    if (!o.clip_l.empty()) add_text_encoder(w, o.clip_l, "text_encoders.clip_l.transformer.", token_embedding, "--clip-l");
    if (!o.clip_g.empty()) add_text_encoder(w, o.clip_g, "text_encoders.clip_g.transformer.", token_embedding, "--clip-g");
    if (!o.t5xxl.empty()) add_text_encoder(w, o.t5xxl, "text_encoders.t5xxl.transformer.", "shared.weight", "--t5xxl");
}

// A diffusers folder: the denoiser, VAE and text encoders of the family whose layout it has, renamed to the
// original names; its tokenizer, scheduler and VAE configs.
void read_folder(const std::string& path, const CheckpointOverrides& o, WeightStore& w, SchedulerConfig& scheduler, FileSettings& s) {
    if (o.use_ema) fail(path, ": --use-ema: a diffusers folder holds one set of weights (no EMA copy)");
    if (!path_exists(path + "/model_index.json")) fail(path, ": not a diffusers model folder (no model_index.json)");
    s.model_index = load_json(path + "/model_index.json");
    const FamilySpec& layout = folder_layout_family(path);
    s.denoiser_config = layout.add_diffusers_denoiser(w, path + "/" + layout.diffusers_denoiser, layout.denoiser_prefix);
    const Json vae_config = load_json(path + "/vae/config.json");
    const int64_t levels = int64_t(vae_config.at("block_out_channels").items().size());
    for (const std::string& f : diffusers_weight_files(path + "/vae", "diffusion_pytorch_model"))
        w.add_file(f, "first_stage_model.", [levels](const std::string& n) { return diffusers_vae_name(n, levels); });
    s.read_vae_config(vae_config, path + "/vae/config.json");
    // text encoders (Hugging Face names) at the canonical prefixes of the family whose layout the folder has
    const std::vector<std::pair<std::string, std::string>>& encoders = layout.diffusers_text_encoders;
    for (size_t i = 0; i < encoders.size(); ++i) {
        const std::string dir = path + "/" + encoders[i].first;
        s.text_configs[i] = load_json(dir + "/config.json");
        for (const std::string& f : diffusers_weight_files(dir, "model")) w.add_file(f, encoders[i].second);
    }
    for (const char* tok : {"tokenizer", "tokenizer_2"})
        if (!s.tokenizer && path_exists(path + "/" + tok + "/vocab.json"))
            s.tokenizer = std::make_shared<ClipTokenizer>(ClipTokenizer::from_folder(path + "/" + tok));
    if (path_exists(path + "/tokenizer/tokenizer_config.json")) s.pad_id = ClipTokenizer::folder_pad_id(path + "/tokenizer");
    if (path_exists(path + "/scheduler/scheduler_config.json")) {
        const Json config = load_json(path + "/scheduler/scheduler_config.json");
        scheduler.update_from_json(config, path + "/scheduler/scheduler_config.json");
        if (config.find("prediction_type")) s.prediction_type = scheduler.prediction_type;  // (flow matching's has none)
        s.scheduler_config = true;
    }
}

// A single file (any parts, original names) and what its metadata says.
void read_single_file(const std::string& path, const CheckpointOverrides& o, WeightStore& w, FileSettings& s) {
    w.add_file(path);
    if (o.use_ema) w.use_ema_weights();
    if (const std::string p = w.metadata("prediction_type"); !p.empty())
        s.prediction_type = Json::parse(p, path + " prediction_type metadata").as_string();
    if (const std::string v = w.metadata("vae_config"); !v.empty()) s.read_vae_config(Json::parse(v, path + " vae_config metadata"), path + " vae_config");
}

// What the pipeline needs to know of the model: the files' settings, the family's defaults for what they leave unsaid.
void settle_info(const FamilySpec& family, const FileSettings& s, const CheckpointOverrides& o, const WeightStore& w,
                 const std::string& path, DenoiserInfo& d) {
    d.default_width = d.default_height = family.native_size;
    d.default_steps = family.default_steps;
    d.default_cfg = family.default_cfg;
    d.default_sampler = family.default_sampler;
    if (!is_directory(path)) {
        if (const std::string r = w.metadata("modelspec.resolution"); !r.empty()) parse_resolution(r, path, &d.default_width, &d.default_height);
        d.scheduler.timestep_spacing = family.timestep_spacing;  // a single file has no scheduler config
    }
    if (!s.scheduler_config) {
        d.scheduler.shift = family.flow_shift;
        if (const std::string c = w.metadata("scheduler_config"); !c.empty())
            d.scheduler.update_from_json(Json::parse(c, path + " scheduler_config metadata"), path + " scheduler_config metadata");
    }
    d.vae_scale = s.vae_scale.value_or(family.vae_scale);
    d.vae_shift = s.vae_shift.value_or(family.vae_shift);
    const std::string p = !o.prediction_type.empty() ? o.prediction_type : !s.prediction_type.empty() ? s.prediction_type : family.prediction_type;
    const bool flow = std::string(family.prediction_type) == "flow";
    if (flow ? p != "flow" : p != "epsilon" && p != "v_prediction")
        fail("--prediction-type: \"", p, "\" is not ", flow ? "flow (a " + std::string(family.name) + " model predicts the flow velocity)" : "epsilon or v_prediction");
    d.scheduler.prediction_type = p;
}

}  // namespace

StableDiffusionModel StableDiffusionModel::load(const std::string& path, const CheckpointOverrides& overrides) {
    StableDiffusionModel m;
    m.info_.source = path;
    m.weights_ = std::make_shared<WeightStore>();
    WeightStore& w = *m.weights_;

    // 1. the files: the separate parts, then the checkpoint (a diffusers folder or a single file)
    add_separate_parts(w, overrides);
    DenoiserSource ds;  // what the family's denoiser is made from
    FileSettings s;
    if (is_directory(path)) read_folder(path, overrides, w, ds.info.scheduler, s);
    else read_single_file(path, overrides, w, s);

    // 2. what kind of model this is (its tensors tell), what the pipeline needs to know of it, the LoRAs merged in
    const FamilySpec& family = detect_family(w);
    m.info_.family = &family;
    settle_info(family, s, overrides, w, path, ds.info);
    m.lora_ = apply_loras(w, overrides.loras, family);

    // 3. its parts: the denoiser, the conditioner, the VAE
    ds.store = m.weights_;
    ds.prefix = family.denoiser_prefix;
    ds.config = s.denoiser_config.is_object() ? &s.denoiser_config : nullptr;
    ds.hypernetworks = overrides.hypernetworks;
    ds.source = path;
    m.denoiser_ = family.make_denoiser(ds);
    ConditionerSource cs;
    cs.store = m.weights_;
    m.tokenizer_ = s.tokenizer;
    cs.tokenizer = s.tokenizer;
    for (int i = 0; i < 3; ++i) cs.text_config[i] = s.text_configs[i].is_object() ? &s.text_configs[i] : nullptr;
    cs.pad_id = s.pad_id;
    cs.vector_width = m.denoiser_->info().vector_width;
    cs.context_width = m.denoiser_->info().context_width;
    cs.force_zeros_for_empty_prompt = family.force_zeros_for_empty_prompt;
    if (const Json* f = s.model_index.is_object() ? s.model_index.find("force_zeros_for_empty_prompt") : nullptr)
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
