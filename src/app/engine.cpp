#include "app/engine.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <cstdio>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "core/memory.h"
#include "core/sha256.h"
#include "io/mapped_file.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "pipeline/canny.h"
#include "pipeline/outpaint.h"
#include "text/extra_networks.h"

namespace sdref {

namespace {

// "name.safetensors [0123abcd]" (A1111's model titles) -> "name.safetensors"
std::string without_hash(const std::string& name) {
    const size_t open = name.rfind(" [");
    return open != std::string::npos && name.back() == ']' ? name.substr(0, open) : name;
}

// A1111's "fill": the masked pixels take the mean colour of the rest of the image.
void fill_masked(Image& image, const Image& mask) {
    double sum[3] = {0, 0, 0};
    size_t kept = 0;
    for (size_t i = 0; i < mask.pixels.size(); ++i)
        if (mask.pixels[i] < 128) {
            for (int c = 0; c < 3; ++c) sum[c] += image.pixels[i * 3 + size_t(c)];
            ++kept;
        }
    if (kept == 0) return;
    for (size_t i = 0; i < mask.pixels.size(); ++i)
        if (mask.pixels[i] >= 128)
            for (int c = 0; c < 3; ++c) image.pixels[i * 3 + size_t(c)] = uint8_t(std::nearbyint(sum[c] / double(kept)));
}

// Whether any Safe Latent Diffusion value is given beside (or instead of) a preset.
bool sld_values_given(const GenerationRequest& r) {
    return !std::isnan(r.sld_guidance_scale) || !std::isnan(r.sld_threshold) || !std::isnan(r.sld_momentum_scale) ||
           !std::isnan(r.sld_mom_beta) || r.sld_warmup_steps >= 0;
}

}  // namespace

LoraSpec parse_lora(const std::string& text, const std::string& what) {
    LoraSpec spec{text, 1.0f};
    const size_t colon = text.rfind(':');
    if (colon != std::string::npos && colon + 1 < text.size()) {
        char* end = nullptr;
        const float w = std::strtof(text.c_str() + colon + 1, &end);
        if (*end == '\0' && std::isfinite(w)) spec = {text.substr(0, colon), w};
    }
    if (spec.path.empty()) fail(what, ": \"", text, "\" names no file");
    return spec;
}

Engine::Engine(EngineOptions options) : options_(std::move(options)) {}

Engine::Listing Engine::listing(const std::string& folder, bool with_folders) {
    Listing out;
    if (folder.empty()) return out;
    std::error_code ec;
    std::filesystem::directory_iterator it(folder, ec);
    if (ec) fail("cannot read the folder ", folder, " (", ec.message(), ")");
    for (const auto& e : it) {
        const std::filesystem::path& p = e.path();
        if (p.filename().string().empty() || p.filename().string()[0] == '.') continue;
        if ((e.is_regular_file() && has_weight_extension(p.string())) || (with_folders && e.is_directory()))
            out.emplace_back(model_name_of(p.string()), p.string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string Engine::resolve(const std::string& given, const std::string& folder, const char* folder_flag, const std::string& what,
                            bool with_folders) const {
    const std::string name = without_hash(given);
    if (options_.origin == Origin::Cli && path_exists(name)) return name;
    if (folder.empty()) {
        if (options_.origin == Origin::Cli) fail(what, ": no such file or folder: ", name, " (nor a ", folder_flag, " to look the name up in)");
        fail(what, ": \"", name, "\": the server has no ", folder_flag, " to look it up in");
    }
    const Listing entries = listing(folder, with_folders);
    for (const auto& [entry, path] : entries)
        if (name == entry || name == std::filesystem::path(path).filename().string()) return path;
    fail(what, ": no ", name, ".safetensors, .ckpt, .pt, .pth or .bin", with_folders ? " (or folder)" : "", " in ", folder, " (", folder_flag,
         ")");
}

std::string Engine::name_of(const void* member, GenerationRequest& r) const {
    for (const Param<GenerationRequest>& p : generation_params()) {
        const ParamRef ref = p.ref(r);
        const void* at = std::visit([](auto* m) -> const void* { return m; }, ref);
        if (at == member) return options_.origin == Origin::Cli ? (p.flag ? p.flag : p.field) : (p.field ? p.field : p.flag);
    }
    return "?";
}

const std::string& Engine::hash(const std::string& path, bool addnet) {
    std::string& h = hashes_[(addnet ? "addnet:" : "file:") + path];
    if (h.empty()) h = addnet ? addon_sha256(path) : file_sha256(path);
    return h;
}

// The add-ons in A1111's words (PNG Info and civitai read them): VAE, Lora hashes, TI hashes, Hypernet. A1111
// hashes a LoRA's .safetensors after its header ("addnet" hash), every other file whole.
std::string Engine::addon_parameters(const CheckpointOverrides& o) {
    std::string out;
    if (!o.vae.empty() && !std::filesystem::is_directory(o.vae))
        out += ", VAE hash: " + hash(o.vae, false).substr(0, 10) + ", VAE: " + std::filesystem::path(o.vae).filename().string();
    auto hashes = [&](const std::vector<std::string>& files, bool addnet) {
        std::string list;
        for (const std::string& f : files) list += (list.empty() ? "" : ", ") + model_name_of(f) + ": " + hash(f, addnet).substr(0, 12);
        return "\"" + list + "\"";
    };
    std::vector<std::string> loras;
    for (const LoraSpec& l : o.loras)
        if (std::find(loras.begin(), loras.end(), l.path) == loras.end()) loras.push_back(l.path);
    if (!loras.empty()) out += ", Lora hashes: " + hashes(loras, true);
    if (!o.embeddings.empty()) out += ", TI hashes: " + hashes(o.embeddings, false);
    if (!o.hypernetworks.empty()) {
        const auto& [file, strength] = o.hypernetworks.front();
        out += ", Hypernet: " + model_name_of(file) + ", Hypernet hash: " + hash(file, false).substr(0, 10) + ", Hypernet strength: " + cat(strength);
    }
    return out;
}

const StableDiffusionModel& Engine::load(const std::string& path, const CheckpointOverrides& o) {
    std::string key = path + "\n" + o.prediction_type + "\n" + (o.use_ema ? "ema" : "") + "\n" + o.vae + "\n" + o.clip_l + "\n" + o.clip_g +
                      "\n" + o.t5xxl + (o.skip_t5 ? "\nno t5" : "");
    for (const LoraSpec& l : o.loras) key += "\nlora " + l.path + ":" + cat(l.multiplier);
    for (const std::string& e : o.embeddings) key += "\nembedding " + e;
    for (const auto& [h, s] : o.hypernetworks) key += "\nhypernet " + h + ":" + cat(s);
    if (model_ && key == model_key_) return *model_;
    model_.reset();  // the old model's memory goes before the new one's comes
    preview_.reset();
    model_key_.clear();
    const auto start = std::chrono::steady_clock::now();
    model_ = StableDiffusionModel::load(path, o);
    model_key_ = key;
    model_path_ = path;
    if (options_.verbose) {
        const DenoiserInfo& info = model_->denoiser().info();
        std::fprintf(stderr, "loaded %s in %.2f s (%s, %s%s, %s; products: fp32 %s, bf16 %s)\n", path.c_str(),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), model_->info().family->name,
                     info.inpainting ? "inpainting, " : "", info.scheduler.prediction_type.c_str(), kernels::cpu_isa_name(),
                     kernels::micro_kernel_name(kernels::Precision::FP32),
                     kernels::precision_supported(kernels::Precision::BF16) ? kernels::micro_kernel_name(kernels::Precision::BF16) : "none");
        if (!o.loras.empty())
            std::fprintf(stderr, "LoRAs: %d layers changed, %.1f MB of merged copies\n", model_->lora_layers(), double(model_->lora_bytes()) / 1e6);
        for (const std::string& u : model_->unused_tensors()) std::fprintf(stderr, "unused tensor %s\n", u.c_str());
    }
    return *model_;
}

std::string Engine::model_named(const std::string& given, const std::string& what) const {
    const std::string name = without_hash(given), &d = options_.default_model;
    if (!d.empty() && (name == model_name_of(d) || name == std::filesystem::path(d).filename().string())) return d;
    return resolve(given, options_.folders.models, "--model-dir", what, true);
}

void Engine::select_model(const std::string& name) {
    const std::string path = name.empty() ? options_.default_model : model_named(name, "sd_model_checkpoint");
    if (path.empty()) fail("no model given and no default model");
    load(path, {});
}

const StableDiffusionModel& Engine::model() {
    if (!model_) select_model("");
    return *model_;
}

const Taesd& Engine::taesd_for(const std::string& path, const StableDiffusionModel& model, const std::string& what) {
    auto it = taesds_.find(path);
    if (it == taesds_.end()) {
        if (!path_exists(path)) fail(what, ": no such file or folder: ", path);
        it = taesds_.emplace(path, std::make_unique<Taesd>(Taesd::load(path))).first;
    }
    const Taesd& t = *it->second;
    const int64_t z = model.denoiser().info().latent_channels;
    if (t.latent_channels() != z)
        fail(what, ": ", path, " decodes latents of ", t.latent_channels(), " channels; ", model.info().family->name, "'s have ", z);
    if (!t.variant().empty() && t.variant() != model.info().family->taesd)
        fail(what, ": ", path, " is ", t.variant(), "; ", model.info().family->name, "'s latents need ", model.info().family->taesd);
    return t;
}

const Upscaler& Engine::upscaler_named(const std::string& name, const std::string& what) {
    if (options_.folders.upscalers.empty() && !(options_.origin == Origin::Cli && path_exists(name)))
        fail(what, ": unknown upscaler \"", name, "\" (valid: latent, latent-nearest, lanczos, or a Real-ESRGAN .pth or "
             ".safetensors file", options_.origin == Origin::Api ? " in --upscaler-dir" : "", ")");
    const std::string path = resolve(name, options_.folders.upscalers, "--upscaler-dir", what, false);
    auto it = upscalers_.find(path);
    if (it == upscalers_.end()) it = upscalers_.emplace(path, std::make_unique<Upscaler>(Upscaler::load(path))).first;
    return *it->second;
}

Image Engine::preview_image(const Tensor& latents) {
    if (!options_.preview_taesd.empty()) {
        const Tensor image = taesd_for(options_.preview_taesd, model(), "preview TAESD").decode(latents);
        Tensor clamped = image;
        for (int64_t i = 0; i < clamped.numel(); ++i) clamped[i] = std::min(std::max(clamped[i], 0.0f), 1.0f);
        return tensor_to_image(clamped);
    }
    return preview().render(latents);
}

const LatentPreview& Engine::preview() {
    if (!preview_) preview_ = LatentPreview::for_model(model());
    return *preview_;
}

HiresFix Engine::hires_of(GenerationRequest& r) {
    auto name = [&](const auto& member) { return name_of(&member, r); };
    HiresFix hires;
    // the second pass's size: --hires-width/--hires-height (one alone keeps the aspect ratio), else the scale
    const int64_t hw = r.hires_width, hh = r.hires_height;
    if (hw % 8 || hh % 8) fail(name(r.hires_width), "/", name(r.hires_height), ": the hires size must be a multiple of 8, got ", hw, "x", hh);
    if (hw || hh) {
        hires.width = hw ? hw : hh * r.width / r.height / 8 * 8;
        hires.height = hh ? hh : hw * r.height / r.width / 8 * 8;
    } else {
        hires.width = int64_t(double(r.width) * r.hires_scale) / 8 * 8;
        hires.height = int64_t(double(r.height) * r.hires_scale) / 8 * 8;
    }
    if (hires.width < 8 || hires.height < 8 || std::max(hires.width, hires.height) > kMaxImageSide)
        fail(name(r.hires_scale), ": the hires size ", hires.width, "x", hires.height, " is outside 8 to ", kMaxImageSide);
    hires.steps = int(r.hires_steps ? r.hires_steps : r.steps);
    hires.denoise = float(r.denoising_strength);
    hires.upscaler = r.hires_upscaler == "lanczos"          ? HiresUpscaler::Lanczos
                     : r.hires_upscaler == "latent-nearest" ? HiresUpscaler::LatentNearest
                     : r.hires_upscaler == "latent"         ? HiresUpscaler::Latent
                                                            : HiresUpscaler::Network;
    if (hires.upscaler == HiresUpscaler::Network) hires.network = &upscaler_named(r.hires_upscaler, name(r.hires_upscaler));
    return hires;
}

// ---- run(): its stages in order ------------------------------------------------------------------------------

// The request in sdref's terms: a sampler that carries A1111's schedule ("DPM++ 2M Karras"), a precision this CPU
// cannot run (fp32, said once), a seed to pick.
void Engine::settle(GenerationRequest& r) const {
    if (r.sampler.size() > 7 && r.sampler.compare(r.sampler.size() - 7, 7, " karras") == 0) {
        r.sampler.resize(r.sampler.size() - 7);
        r.scheduler = "karras";
    }
    if (r.precision == "bf16" && !kernels::precision_supported(kernels::Precision::BF16)) {
        static std::once_flag said;
        std::call_once(said, [&] {
            std::fprintf(stderr, "%s bf16: %s; using fp32\n", name_of(&r.precision, r).c_str(), kernels::bf16_fallback_reason());
        });
        r.precision = "fp32";
    }
}

// The add-on files the request names: --lora, <lora:NAME:W> and <hypernet:NAME:S> tags (taken out of *prompt,
// which is encoded without them), --vae, and the embeddings whose names the prompts mention.
CheckpointOverrides Engine::addons_of(GenerationRequest& r, std::string* prompt) const {
    auto name = [&](const auto& member) { return name_of(&member, r); };
    CheckpointOverrides o;
    o.prediction_type = r.prediction_type;
    o.use_ema = r.use_ema;
    for (const std::string& l : r.loras) {
        LoraSpec spec = parse_lora(l, name(r.loras));
        if (!path_exists(spec.path)) fail(name(r.loras), ": no such file: ", spec.path);
        o.loras.push_back(spec);
    }
    for (const ExtraNetwork& tag : take_extra_networks(prompt)) {
        const std::string what = "prompt: <" + tag.kind + ":" + tag.name + ">";
        if (tag.kind == "lora") o.loras.push_back({resolve(tag.name, options_.folders.loras, "--lora-model-dir", what, false), tag.weight});
        else o.hypernetworks.emplace_back(resolve(tag.name, options_.folders.hypernetworks, "--hypernetwork-dir", what, false), tag.weight);
    }
    if (!r.vae.empty()) o.vae = resolve(r.vae, options_.folders.vaes, "--vae-dir", name(r.vae), true);
    for (const auto& [file, member] : {std::pair{&r.clip_l, &o.clip_l}, {&r.clip_g, &o.clip_g}, {&r.t5xxl, &o.t5xxl}}) {
        if (!file->empty() && !path_exists(*file)) fail(name(*file), ": no such file: ", *file);
        *member = *file;
    }
    o.skip_t5 = r.no_t5;
    if (options_.folders.embeddings.empty()) return o;
    // the embeddings whose names (file names without extension) a prompt mentions; .safetensors before .pt before .bin
    Listing files;
    try {
        files = listing(options_.folders.embeddings, false);
    } catch (const Error& e) {
        fail("--embd-dir: ", e.what());
    }
    std::map<std::string, std::string> chosen;
    auto rank = [](const std::string& f) {
        const std::string ext = std::filesystem::path(f).extension().string();
        return ext == ".safetensors" ? 0 : ext == ".pt" ? 1 : ext == ".bin" ? 2 : 3;
    };
    for (const auto& [stem, file] : files) {
        if (rank(file) > 2 || (prompt->find(stem) == std::string::npos && r.negative_prompt.find(stem) == std::string::npos)) continue;
        std::string& c = chosen[stem];
        if (c.empty() || rank(file) < rank(c)) c = file;
    }
    for (const auto& [stem, file] : chosen) o.embeddings.push_back(file);
    return o;
}

// Settings that only mean something beside another one need it, named as the caller gave them (API clients send
// every hr_ field, on or off: only the command line is held to that). A seed of -1 is picked here.
void Engine::check_flags(GenerationRequest& r) const {
    const GenerationRequest defaults = with_defaults(generation_params(), options_.origin);
    auto name = [&](const auto& member) { return name_of(&member, r); };
    if (r.mask.given() && !r.init_image.given()) fail(name(r.mask), " needs an init image (", name(r.init_image), ")");
    if (!r.outpaint.empty() && !r.init_image.given()) fail(name(r.outpaint), " needs an image to extend (", name(r.init_image), ")");
    if (r.refiner.empty() && r.refiner_switch_at != defaults.refiner_switch_at) fail(name(r.refiner_switch_at), " needs ", name(r.refiner));
    if (r.seed < 0) r.seed = int64_t(std::random_device{}() & 0x7fffffff);
    if (r.subseed < 0 && r.subseed_strength != 0) r.subseed = int64_t(std::random_device{}() & 0x7fffffff);
    if (r.hires_fix && (r.init_image.given() || !r.outpaint.empty())) fail(name(r.hires_fix), " is for txt2img: not with ", name(r.init_image));
    auto needs = [&](bool given, const auto& member, const bool& other) {
        if (given && !other && options_.origin == Origin::Cli) fail(name(member), " needs ", name(other));
    };
    needs(r.hires_scale != defaults.hires_scale, r.hires_scale, r.hires_fix);
    needs(r.hires_width || r.hires_height, r.hires_width, r.hires_fix);
    needs(r.hires_steps != defaults.hires_steps, r.hires_steps, r.hires_fix);
    needs(r.hires_upscaler != defaults.hires_upscaler, r.hires_upscaler, r.hires_fix);
    needs(r.vae_tile_size != defaults.vae_tile_size, r.vae_tile_size, r.vae_tiling);
}

// The pictures a request brings, read before any model is loaded (everything here can fail): the init image, the
// mask (inverted, its area filled), the outpaint canvas (which sets the size), the control images (Canny edges).
Engine::Inputs Engine::read_inputs(GenerationRequest& r) const {
    const GenerationRequest defaults = with_defaults(generation_params(), options_.origin);
    auto name = [&](const auto& member) { return name_of(&member, r); };
    Inputs in;
    in.init = r.init_image.image;
    in.mask = r.mask.image;
    if (r.inpainting_mask_invert)
        for (uint8_t& v : in.mask.pixels) v = uint8_t(255 - v);
    if (!r.outpaint.empty()) {
        in.margins = parse_outpaint(r.outpaint);
        in.original = in.init;
        OutpaintCanvas canvas = make_outpaint_canvas(in.original, in.margins);
        in.init = canvas.image;
        in.mask = canvas.mask;
        r.width = in.init.width;
        r.height = in.init.height;
        if (r.denoising_strength == defaults.denoising_strength) r.denoising_strength = 1.0;
    } else if (r.init_image.given() && r.width == 0 && r.height == 0) {
        // without a size, img2img and inpainting work at the init image's size
        r.width = in.init.width;
        r.height = in.init.height;
    }
    if (!in.mask.pixels.empty() && (in.mask.width != in.init.width || in.mask.height != in.init.height))
        fail(name(r.mask), ": the mask is ", in.mask.width, "x", in.mask.height, ", the image is ", in.init.width, "x", in.init.height);
    if (!in.mask.pixels.empty() && r.inpainting_fill == int64_t(InpaintingFill::Fill)) fill_masked(in.init, in.mask);
    for (ControlRequest& c : r.controls) {
        if (!c.image.given()) fail("ControlNet ", c.model, ": no control image given for it");
        in.control_images.push_back(c.image.image);
        if (c.module == "canny")
            in.control_images.back() = canny_edges(in.control_images.back(), c.threshold_a < 0 ? 100.0f : float(c.threshold_a),
                                                   c.threshold_b < 0 ? 200.0f : float(c.threshold_b));
    }
    return in;
}

// The models the request needs, reused when it names the same files: the model (and its size when the request
// gives none), the refiner, the ControlNets, the safety checker.
const StableDiffusionModel& Engine::models_for(GenerationRequest& r, const CheckpointOverrides& o, const Inputs& in, GenerationParams& p) {
    auto name = [&](const auto& member) { return name_of(&member, r); };
    const std::string path = r.model.empty() ? (model_path_.empty() ? options_.default_model : model_path_) : model_named(r.model, name(r.model));
    if (r.low_memory) return_freed_memory_at_once();
    const StableDiffusionModel& model = load(path, o);
    if (!r.refiner.empty()) {
        const std::string refiner = model_named(r.refiner, name(r.refiner));
        if (!refiner_ || refiner_path_ != refiner) {
            refiner_.reset();
            refiner_ = StableDiffusionModel::load(refiner, o);
            refiner_path_ = refiner;
        }
        p.refiner = &*refiner_;
    }
    // what the request leaves unset: the model's (its family's) size and sampling
    const DenoiserInfo& info = model.denoiser().info();
    if (r.width == 0) r.width = info.default_width;
    if (r.height == 0) r.height = info.default_height;
    if (r.steps == 0) r.steps = info.default_steps;
    if (std::isnan(r.cfg_scale)) r.cfg_scale = info.default_cfg;
    if (r.sampler.empty()) r.sampler = info.default_sampler;
    if (r.width % 8 || r.height % 8)
        fail(name(r.width), "/", name(r.height), ": the image size must be a positive multiple of 8, got ", r.width, "x", r.height);
    for (size_t i = 0; i < r.controls.size(); ++i) {
        const ControlRequest& c = r.controls[i];
        if (!c.enabled) continue;
        const std::string file = resolve(c.model, options_.folders.controlnets, "--control-net-dir", "ControlNet model", true);
        std::unique_ptr<ControlNet>& net = controlnets_[file];
        if (!net) net = std::make_unique<ControlNet>(ControlNet::load(file));
        const Image& image = in.control_images[i];
        if (image.width != r.width || image.height != r.height)
            fail(options_.origin == Origin::Cli ? "--control-image " : "ControlNet image ", c.image.source, ": the image is ", image.width, "x",
                 image.height, ", the generation ", r.width, "x", r.height, " (give a control image of the picture's size)");
        if (const std::string why = model.denoiser().control_mismatch(*net); !why.empty())
            fail(options_.origin == Origin::Cli ? "--control-net: " : "ControlNet model: ", why);
        if (!(c.guidance_start < c.guidance_end))
            fail(options_.origin == Origin::Cli ? "--control-start/--control-end" : "guidance_start/guidance_end", ": need start < end, got ",
                 c.guidance_start, " and ", c.guidance_end);
        ControlSpec spec;
        spec.net = net.get();
        spec.image = image_to_unit_tensor(image);
        spec.strength = float(c.weight);
        spec.start = float(c.guidance_start);
        spec.end = float(c.guidance_end);
        p.controls.push_back(std::move(spec));
    }
    std::string checker = options_.safety_checker;
    if (checker.empty() && path_exists(path + "/safety_checker/model.safetensors")) checker = path + "/safety_checker";
    if (options_.no_safety_checker) checker.clear();
    if (checker != checker_path_) {
        checker_.reset();
        if (!checker.empty()) checker_ = SafetyChecker::load(checker);
        checker_path_ = checker;
    }
    return model;
}

// What can only be checked against the models, in the caller's names: an inpainting model needs a mask, the
// refiner continues the model's latents, the init image has the generation's size, and it all fits in memory.
void Engine::check_with_models(GenerationRequest& r, const StableDiffusionModel& model, const GenerationParams& p, const HiresFix& hires) const {
    auto name = [&](const auto& member) { return name_of(&member, r); };
    if ((!r.sld.empty() || sld_values_given(r)) && r.cfg_scale <= 1.0)
        fail(name(r.sld), " needs ", name(r.cfg_scale), " above 1 (it steers the guided prediction)");
    if (r.slg_scale > 0) {
        const int64_t layers = model.denoiser().info().layers;
        if (layers == 0) fail(name(r.slg_scale), ": skip-layer guidance needs a transformer (SD 3); ", model.info().source, "'s denoiser is the ", model.denoiser().name());
        if (r.cfg_scale <= 1.0) fail(name(r.slg_scale), " needs ", name(r.cfg_scale), " above 1 (it adds to the guided prediction)");
        for (int l : p.slg.layers)
            if (l >= layers) fail(name(r.skip_layers), ": block ", l, " is not one of the transformer's blocks 0 to ", layers - 1);
        if (!(r.skip_layer_start < r.skip_layer_end)) fail(name(r.skip_layer_start), "/", name(r.skip_layer_end), ": need start < end, got ", r.skip_layer_start, " and ", r.skip_layer_end);
    }
    if (model.denoiser().info().inpainting && !p.mask)
        fail(model.info().source, " is an inpainting model: it needs ", name(r.init_image), " and ", name(r.mask));
    if (p.refiner)
        if (const std::string why = refiner_mismatch(model, *p.refiner); !why.empty()) fail(name(r.refiner), ": ", why);
    if (p.init_image && (p.init_image->width != r.width || p.init_image->height != r.height))
        fail(name(r.init_image), ": the init image is ", p.init_image->width, "x", p.init_image->height, ", the requested size is ", r.width, "x",
             r.height);
    GenerationParams largest = p;  // (the hires fix's second pass is the larger)
    if (r.hires_fix) largest.width = hires.width, largest.height = hires.height;
    const MemoryNeed m = memory_need(model, largest);
    if (m.available >= 0 && m.total > m.available)
        fail(r.hires_fix ? name(r.hires_scale) + " " + cat(largest.width, "x", largest.height) : cat(name(r.width), " ", r.width, " ", name(r.height), " ", r.height),
             ": ", m.describe(model), "; use a smaller size", r.low_memory ? "" : cat(" or ", name(r.low_memory)));
}

// The one conversion of a request's values into generate()'s parameters (the models and ControlNets are set by
// models_for, the prompts and seed per image by run).
void Engine::fill_params(const GenerationRequest& r, const Inputs& in, GenerationParams& p) const {
    p.negative_prompt = r.negative_prompt;
    p.width = r.width;
    p.height = r.height;
    p.cfg_scale = float(r.cfg_scale);
    p.clip_skip = int(r.clip_skip);
    p.strength = float(r.denoising_strength);
    p.forward.precision = r.precision == "bf16" ? kernels::Precision::BF16 : kernels::Precision::FP32;
    p.forward.stream_weights = r.low_memory;
    p.forward.threads = int(r.threads);
    p.rng = r.rng == "cuda" ? NoiseRng::Cuda : NoiseRng::Cpu;
    p.variation.strength = float(r.subseed_strength);
    p.variation.resize_width = std::max<int64_t>(r.seed_resize_from_w, 0);
    p.variation.resize_height = std::max<int64_t>(r.seed_resize_from_h, 0);
    p.variation.eta_noise_seed_delta = uint64_t(r.eta_noise_seed_delta);
    p.vae_tile = r.vae_tiling ? r.vae_tile_size : r.low_memory ? Vae::kTile : 0;
    if (r.init_image.given() || !r.outpaint.empty()) p.init_image = &in.init;
    if (!in.mask.pixels.empty()) p.mask = &in.mask;
    if (r.inpainting_fill == int64_t(InpaintingFill::LatentNoise)) p.masked_content = MaskedContent::LatentNoise;
    if (r.inpainting_fill == int64_t(InpaintingFill::LatentNothing)) p.masked_content = MaskedContent::LatentNothing;
    p.micro.original_width = r.original_size.a;
    p.micro.original_height = r.original_size.b;
    p.micro.crop_left = r.crop_top_left.a;
    p.micro.crop_top = r.crop_top_left.b;
    p.micro.target_width = r.target_size.a;
    p.micro.target_height = r.target_size.b;
    p.micro.aesthetic_score = float(r.aesthetic_score);
    p.micro.negative_aesthetic_score = float(r.negative_aesthetic_score);
    p.refiner_start = float(r.refiner_switch_at);
    if (r.slg_scale > 0) {
        p.slg.scale = float(r.slg_scale);
        p.slg.layers.clear();
        for (size_t at = 0; at < r.skip_layers.size();) {
            const size_t comma = std::min(r.skip_layers.find(',', at), r.skip_layers.size());
            p.slg.layers.push_back(std::stoi(r.skip_layers.substr(at, comma - at)));
            at = comma + 1;
        }
        p.slg.start = float(r.skip_layer_start);
        p.slg.end = float(r.skip_layer_end);
    }
    if (!r.sld.empty() || sld_values_given(r)) {
        p.sld = SafeLatentDiffusion::preset(r.sld.empty() ? "medium" : r.sld);
        if (!std::isnan(r.sld_guidance_scale)) p.sld.guidance_scale = float(r.sld_guidance_scale);
        if (!std::isnan(r.sld_threshold)) p.sld.threshold = float(r.sld_threshold);
        if (!std::isnan(r.sld_momentum_scale)) p.sld.momentum_scale = float(r.sld_momentum_scale);
        if (!std::isnan(r.sld_mom_beta)) p.sld.mom_beta = float(r.sld_mom_beta);
        if (r.sld_warmup_steps >= 0) p.sld.warmup_steps = int(r.sld_warmup_steps);
        if (!r.sld_concept.empty()) p.sld.concept = r.sld_concept;
    }
}

// One finished picture: pasted back into an outpaint's original, judged by the safety checker, with its PNG
// parameters.
GeneratedImage Engine::finish(const GenerationRequest& r, const Inputs& in, GenerationResult g, uint64_t seed, const std::string& model_path,
                              const std::string& addons) const {
    GeneratedImage img;
    img.image = tensor_to_image(g.image);
    if (in.margins.any()) paste_original(img.image, in.original, in.margins);
    if (checker_) {
        img.nsfw = checker_->check(img.image).has_nsfw;
        if (img.nsfw) std::fill(img.image.pixels.begin(), img.image.pixels.end(), uint8_t(0));
    }
    img.seed = int64_t(seed);
    std::string extra = addons;
    if (checker_) extra += img.nsfw ? ", Safety checker: flagged (image blacked out)" : ", Safety checker: passed";
    GenerationRequest echo = r;  // (the picture's own variation seed, as its own seed)
    if (echo.subseed >= 0) echo.subseed += int64_t(seed) - r.seed;
    img.parameters = png_parameters(echo, img.seed, model_name_of(model_path), extra);
    img.result = std::move(g);
    return img;
}

std::vector<GeneratedImage> Engine::run(GenerationRequest& r, const std::function<void(const Progress&)>& on_step) {
    const kernels::ThreadScope threads(int(r.threads));  // (loading, add-ons and the safety checker too)
    // 1. the request in sdref's terms, its add-on files, its flags checked together, its pictures read
    settle(r);
    GenerationParams p;
    p.prompt = r.prompt;
    const CheckpointOverrides overrides = addons_of(r, &p.prompt);
    check_flags(r);
    const Inputs in = read_inputs(r);
    // 2. the models (loaded or reused), then the parameters of every picture
    const StableDiffusionModel& model = models_for(r, overrides, in, p);
    const std::string model_path = model_path_;
    fill_params(r, in, p);
    const HiresFix hires = r.hires_fix ? hires_of(r) : HiresFix();
    if (!r.taesd.empty()) p.taesd = &taesd_for(r.taesd, model, name_of(&r.taesd, r));
    check_with_models(r, model, p, hires);
    (void)make_scheduler(r.sampler, r.scheduler, model.denoiser().info().scheduler);  // the names, before the first step
    // 3. each picture: generate (with the hires fix's second pass), then finish
    const std::string addons = addon_parameters(overrides);
    std::vector<GeneratedImage> out;
    const int64_t images = r.images();
    for (int64_t b = 0; b < images; ++b) {
        p.seed = uint64_t(r.seed) + uint64_t(b);
        p.variation.subseed = uint64_t(std::max<int64_t>(r.subseed, 0)) + uint64_t(b);
        auto scheduler = [&] { return make_scheduler(r.sampler, r.scheduler, model.denoiser().info().scheduler); };
        auto progress = [&](const StepInfo& s) {
            if (on_step) on_step({b, images, s.step, s.steps, s.latents});
        };
        GenerationResult g;
        try {
            g = r.hires_fix ? generate_hires(model, p, int(r.steps), hires, scheduler, progress) : generate(model, p, *scheduler(), int(r.steps), progress);
        } catch (const Interrupted&) {
            break;
        }
        if (preview_) refit_preview(g.latents, g.image);  // (a preview in use follows what the model draws)
        out.push_back(finish(r, in, std::move(g), p.seed, model_path, addons));
    }
    return out;
}

}  // namespace sdref
