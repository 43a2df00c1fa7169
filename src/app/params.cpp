// params.cpp: the parameter rows (params.h says what a row is) and the one reader and writer of their values.
#include "app/params.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include "core/base64.h"
#include "core/error.h"
#include "core/limits.h"
#include "pipeline/generate.h"
#include "schedulers/scheduler.h"
#include "schedulers/sigma_schedules.h"

namespace sdref {

namespace {

constexpr double kMaxSide = double(kMaxImageSide), kMaxSteps = 1000, kMaxMicroSize = 16384;

std::string lower(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string sampler_png(const GenerationRequest& r) {
    std::string name = r.sampler;
    for (const SamplerNames& s : sampler_table())
        if (s.name == r.sampler) name = s.a1111;
    return r.scheduler == "karras" ? name + " Karras" : name;
}
// A1111's "Schedule type" label; sdref's own schedules (discrete: A1111's Automatic, trailing, ComfyUI's variants)
// by their names.
std::string schedule_png(const GenerationRequest& r) {
    if (r.scheduler == "discrete" || r.scheduler == "karras") return "";  // (karras: in the sampler's name, "DPM++ 2M Karras")
    const std::string label = a1111_schedule_label(r.scheduler);
    return label.empty() ? r.scheduler : label;
}

// A1111 writes "RNG: NV" for its GPU-compatible generator and "RNG: CPU" for its CPU one (nothing for its GPU default,
// which NV reproduces). sdref writes the key when the generator is not its default (cpu): "NV" for cuda.
std::string rng_png(const GenerationRequest& r) { return r.rng == "cuda" ? "NV" : "CPU"; }

// The variation seed's keys, written (as A1111 does) only while its strength is not 0; "Seed resize from: WxH".
std::string subseed_png(const GenerationRequest& r) { return r.subseed_strength != 0 ? std::to_string(r.subseed) : ""; }
std::string subseed_strength_png(const GenerationRequest& r) { return r.subseed_strength != 0 ? cat(r.subseed_strength) : ""; }
std::string resize_from_png(const GenerationRequest& r) {
    return r.seed_resize_from_w > 0 && r.seed_resize_from_h > 0 ? cat(r.seed_resize_from_w, "x", r.seed_resize_from_h) : "";
}

// The noise generator: cpu, or cuda (A1111's GPU and NV sources, whose noise the Philox generator reproduces).
std::string normalize_rng(const std::string& value, const std::string& name) {
    const std::string v = lower(value);
    if (v == "cpu") return "cpu";
    if (v == "cuda" || v == "gpu" || v == "nv") return "cuda";
    fail(name, ": unknown random number generator \"", value, "\" (valid: cpu, cuda; A1111's CPU, GPU, NV)");
}
std::string size_png(const GenerationRequest& r) { return cat(r.width, "x", r.height); }
std::string refiner_png(const GenerationRequest& r) { return model_name_of(r.refiner); }
std::string control_model_png(const ControlRequest& c) { return model_name_of(c.model); }
// A1111 writes "Hires upscale" only without a resize, "Hires resize: WxH" only with one, "Hires steps" only when set.
std::string hires_scale_png(const GenerationRequest& r) { return r.hires_width || r.hires_height ? "" : cat(r.hires_scale); }
std::string hires_resize_png(const GenerationRequest& r) {
    return r.hires_width || r.hires_height ? cat(r.hires_width, "x", r.hires_height) : "";
}
std::string hires_steps_png(const GenerationRequest& r) { return r.hires_steps ? std::to_string(r.hires_steps) : ""; }
std::string hires_upscaler_png(const GenerationRequest& r) {
    if (r.hires_upscaler == "latent") return "Latent";
    if (r.hires_upscaler == "latent-nearest") return "Latent (nearest)";
    if (r.hires_upscaler == "lanczos") return "Lanczos";
    return model_name_of(r.hires_upscaler);  // a Real-ESRGAN file: its stem
}
std::string vae_tile_png(const GenerationRequest& r) { return r.vae_tiling ? std::to_string(r.vae_tile_size) : ""; }

// The built-in upscalers by their canonical names; anything else names a Real-ESRGAN file (a path on the command line,
// an entry of --upscaler-dir in the API), which the Engine opens and checks.
std::string normalize_upscaler(const std::string& value, const std::string& name) {
    const std::string v = lower(value);
    if (v == "latent" || v == "latent-nearest" || v == "lanczos") return v;
    if (v == "latent (nearest)") return "latent-nearest";
    if (value.empty()) fail(name, ": an empty upscaler name (valid: latent, latent-nearest, lanczos, or a Real-ESRGAN file)");
    return value;
}

std::string normalize_module(const std::string& value, const std::string& name) {
    const std::string v = lower(value);
    if (v == "none" || v == "canny") return v;
    fail(name, ": unknown preprocessor \"", value, "\" (valid: none, canny)");
}

std::string normalize_prediction(const std::string& value, const std::string& name) {
    if (value.empty() || value == "epsilon" || value == "v_prediction") return value;
    fail(name, ": \"", value, "\" is not a prediction type (valid: epsilon, v_prediction)");
}

std::string normalize_sld(const std::string& value, const std::string& name) {
    const std::string v = lower(value);
    if (v.empty() || v == "weak" || v == "medium" || v == "strong" || v == "max") return v;
    fail(name, ": unknown Safe Latent Diffusion preset \"", value, "\" (valid: weak, medium, strong, max)");
}

// Skip-layer guidance's blocks: "7,8,9" or "[7, 8, 9]" -> "7,8,9" (whole numbers from 0, at least one).
std::string normalize_layers(const std::string& value, const std::string& name) {
    std::string out, number;
    auto flush = [&] {
        if (number.empty()) fail(name, ": \"", value, "\" is not a list of block numbers such as 7,8,9");
        if (number.size() > 3) fail(name, ": block ", number, " is out of range (0 to 999)");
        out += (out.empty() ? "" : ",") + std::to_string(std::stoi(number));
        number.clear();
    };
    std::string v = value;
    if (v.size() >= 2 && v.front() == '[' && v.back() == ']') v = v.substr(1, v.size() - 2);
    for (char c : v) {
        if (c == ',') flush();
        else if (c >= '0' && c <= '9') number += c;
        else if (c != ' ') fail(name, ": \"", value, "\" is not a list of block numbers such as 7,8,9");
    }
    flush();
    return out;
}

using G = GenerationRequest;
using C = ControlRequest;
using F = Folders;

}  // namespace

// clang-format off
const std::vector<Param<GenerationRequest>>& generation_params() {
    // defaults the library's own structs hold, written out from them (one copy of each): SDXL's aesthetic scores,
    // the refiner's hand-over point
    static const std::string aesthetic = cat(MicroConditioning{}.aesthetic_score),
                             negative_aesthetic = cat(MicroConditioning{}.negative_aesthetic_score),
                             refiner_start = cat(GenerationParams::kRefinerStart);
    static const std::vector<Param<G>> rows = {
        // flag, short, API field, PNG key, value, default, A1111 API default, lo, hi, help, member
        {"--model", "-m", nullptr, nullptr, "PATH", "", nullptr, 0, 0,
         "a checkpoint in the original layout (.safetensors, or .ckpt read without running its code) or a diffusers "
         "folder; a name in --model-dir (default: the TinyShapes demo model)", [](G& r) -> ParamRef { return &r.model; }},
        {"--prompt", "-p", "prompt", nullptr, "TEXT", "", nullptr, 0, 0, "what to draw",
         [](G& r) -> ParamRef { return &r.prompt; }},
        {"--negative-prompt", "-n", "negative_prompt", nullptr, "TEXT", "", nullptr, 0, 0,
         "what to avoid (used when --cfg-scale > 1)", [](G& r) -> ParamRef { return &r.negative_prompt; }},
        {"--steps", nullptr, "steps", "Steps", "N", "0", "50", 1, kMaxSteps, "sampling steps (0: the model's, 20 for SD 1.x/2.x/SDXL)",
         [](G& r) -> ParamRef { return &r.steps; }, nullptr, PngRule::Always},
        {"--sampling-method", nullptr, "sampler_name", "Sampler", "NAME", "", "Euler", 0, 0,
         "ddim, pndm, lms, euler, euler_a, heun, dpm2, dpm2_a, dpm++2m, dpm++2m_sde, dpm++2s, unipc, deis, lcm "
         "(or A1111's names: \"DPM++ 2M Karras\"; default: the model's, euler_a for SD 1.x/2.x/SDXL)",
         [](G& r) -> ParamRef { return &r.sampler; }, normalize_sampler, PngRule::Always, sampler_png},
        {"--scheduler", nullptr, "scheduler", "Schedule type", "NAME", "discrete", nullptr, 0, 0,
         "discrete (the sampler's own spacing), karras, trailing; for the k-diffusion samplers (euler, euler_a, heun, dpm2, "
         "dpm2_a, lms) also A1111's and ComfyUI's: uniform, normal, sgm_uniform, exponential, polyexponential, simple, "
         "ddim_uniform, beta, kl_optimal, align_your_steps, align_your_steps_sdxl, linear_quadratic, comfy_beta, "
         "comfy_kl_optimal (A1111's labels too: \"SGM Uniform\", \"Align Your Steps\")",
         [](G& r) -> ParamRef { return &r.scheduler; }, normalize_schedule, PngRule::Changed, schedule_png},
        {"--cfg-scale", nullptr, "cfg_scale", "CFG scale", "X", "", "7", 0, 100,
         "classifier-free guidance scale (1: one denoiser call per step; default: the model's, 7 for SD 1.x/2.x/SDXL)", [](G& r) -> ParamRef { return &r.cfg_scale; },
         nullptr, PngRule::Always},
        {"--seed", "-s", "seed", "Seed", "N", "42", "-1", -1, 9223372036854775807.0, "PyTorch-compatible seed (-1 picks one)",
         [](G& r) -> ParamRef { return &r.seed; }, nullptr, PngRule::Always},
        {"--rng", nullptr, nullptr, "RNG", "cpu|cuda", "cpu", nullptr, 0, 0,
         "the seed's noise: cpu (PyTorch's CPU generator, as diffusers on CPU) or cuda (torch.randn on an NVIDIA GPU, "
         "A1111's default: the seeds of A1111 and civitai pictures give their noise)",
         [](G& r) -> ParamRef { return &r.rng; }, normalize_rng, PngRule::Changed, rng_png},
        {"--subseed", nullptr, "subseed", "Variation seed", "N", "-1", nullptr, -1, 9223372036854775807.0,
         "a variation seed whose noise the seed's is moved toward (A1111's slerp; -1 picks one)",
         [](G& r) -> ParamRef { return &r.subseed; }, nullptr, PngRule::Always, subseed_png},
        {"--subseed-strength", nullptr, "subseed_strength", "Variation seed strength", "X", "0", nullptr, 0, 1,
         "how far toward the variation seed's noise (0: off, 1: the variation seed's)",
         [](G& r) -> ParamRef { return &r.subseed_strength; }, nullptr, PngRule::Always, subseed_strength_png},
        {"--seed-resize-from-w", nullptr, "seed_resize_from_w", "Seed resize from", "N", "0", nullptr, -1, kMaxSide,
         "draw the noise as for a picture this wide, pasted centred (A1111's resize seed from; with -h)",
         [](G& r) -> ParamRef { return &r.seed_resize_from_w; }, nullptr, PngRule::Always, resize_from_png},
        {"--seed-resize-from-h", nullptr, "seed_resize_from_h", nullptr, "N", "0", nullptr, -1, kMaxSide,
         "... and this high", [](G& r) -> ParamRef { return &r.seed_resize_from_h; }},
        {"--eta-noise-seed-delta", nullptr, nullptr, "ENSD", "N", "0", nullptr, 0, 9223372036854775807.0,
         "later noise (ancestral samplers) from a generator seeded seed + N (A1111's ENSD, often 31337)",
         [](G& r) -> ParamRef { return &r.eta_noise_seed_delta; }},
        {"--width", "-W", "width", "Size", "N", "0", nullptr, 8, kMaxSide,
         "image width, a multiple of 8 (0: the model's, from its metadata, else its family's)",
         [](G& r) -> ParamRef { return &r.width; }, nullptr, PngRule::Always, size_png},
        {"--height", "-H", "height", nullptr, "N", "0", nullptr, 8, kMaxSide, "image height, a multiple of 8",
         [](G& r) -> ParamRef { return &r.height; }},
        {"--batch-count", "-b", "n_iter", nullptr, "N", "1", nullptr, 1, 10000, "images to make, seeds N, N+1, ...",
         [](G& r) -> ParamRef { return &r.batch_count; }},
        {nullptr, nullptr, "batch_size", nullptr, "N", "1", nullptr, 1, 64,
         "images per batch (made one after another; images = n_iter * batch_size)",
         [](G& r) -> ParamRef { return &r.batch_size; }},
        {"--init-img", "-i", "init_images", nullptr, "FILE", "", nullptr, 0, 0,
         "img2img / inpainting start image (the API: base64 PNG or JPEG)", [](G& r) -> ParamRef { return &r.init_image; }},
        {"--mask", nullptr, "mask", nullptr, "FILE", "", nullptr, 0, 0,
         "inpainting mask, white = repaint (same size as the image)", [](G& r) -> ParamRef { return &r.mask; }},
        {"--strength", "--hires-denoise", "denoising_strength", "Denoising strength", "X", "0.75", nullptr, 0.001, 1,
         "img2img / inpainting / the hires fix's second pass: share of the schedule to run",
         [](G& r) -> ParamRef { return &r.denoising_strength; }, nullptr, PngRule::WithDenoising},
        {"--hires-fix", nullptr, "enable_hr", nullptr, "", "false", nullptr, 0, 0,
         "A1111's hires fix: draw at -W x -H, upscale (--hires-upscaler), then img2img at the larger size with "
         "--hires-denoise", [](G& r) -> ParamRef { return &r.hires_fix; }},
        {"--hires-scale", nullptr, "hr_scale", "Hires upscale", "X", "2", nullptr, 1, 8,
         "the hires fix's upscale factor (the size rounds down to a multiple of 8)",
         [](G& r) -> ParamRef { return &r.hires_scale; }, nullptr, PngRule::WithHires, hires_scale_png},
        {"--hires-width", nullptr, "hr_resize_x", "Hires resize", "N", "0", nullptr, 0, kMaxSide,
         "the hires fix's width instead of --hires-scale (a multiple of 8; 0: from the height or the scale)",
         [](G& r) -> ParamRef { return &r.hires_width; }, nullptr, PngRule::WithHires, hires_resize_png},
        {"--hires-height", nullptr, "hr_resize_y", nullptr, "N", "0", nullptr, 0, kMaxSide,
         "the hires fix's height (0: from the width or the scale)", [](G& r) -> ParamRef { return &r.hires_height; }},
        {"--hires-steps", nullptr, "hr_second_pass_steps", "Hires steps", "N", "0", nullptr, 0, kMaxSteps,
         "the hires fix's second-pass steps (0: as many as --steps)", [](G& r) -> ParamRef { return &r.hires_steps; },
         nullptr, PngRule::WithHires, hires_steps_png},
        {"--hires-upscaler", nullptr, "hr_upscaler", "Hires upscaler", "NAME", "latent", nullptr, 0, 0,
         "latent (bilinear on the latents), latent-nearest, lanczos (the decoded picture, encoded again), or a "
         "Real-ESRGAN file (the API: a name in --upscaler-dir); A1111's Latent, Latent (nearest), Lanczos", [](G& r) -> ParamRef { return &r.hires_upscaler; },
         normalize_upscaler, PngRule::WithHires, hires_upscaler_png},
        {"--inpainting-fill", nullptr, "inpainting_fill", "Masked content", "N", "1", nullptr, 0, 3,
         "what the masked area starts from with an ordinary U-Net: 0 fill (the image's mean colour), 1 original, "
         "2 latent noise, 3 latent nothing", [](G& r) -> ParamRef { return &r.inpainting_fill; }},
        {"--invert-mask", nullptr, "inpainting_mask_invert", "Mask mode", "", "false", nullptr, 0, 0,
         "repaint the black part of the mask instead", [](G& r) -> ParamRef { return &r.inpainting_mask_invert; }},
        {"--outpaint", nullptr, nullptr, nullptr, "L,T,R,B", "", nullptr, 0, 0,
         "extend -i's image by these pixels and paint the new border", [](G& r) -> ParamRef { return &r.outpaint; }},
        {"--clip-skip", nullptr, "clip_skip", "Clip skip", "N", "0", nullptr, 1, 48,
         "text encoder layer counted from the end (A1111 numbering; 0: the model's default)",
         [](G& r) -> ParamRef { return &r.clip_skip; }},
        {"--prediction-type", nullptr, nullptr, nullptr, "T", "", nullptr, 0, 0,
         "epsilon or v_prediction, when the checkpoint does not say", [](G& r) -> ParamRef { return &r.prediction_type; },
         normalize_prediction},
        {"--use-ema", nullptr, nullptr, nullptr, "", "false", nullptr, 0, 0,
         "a training checkpoint's EMA weights (model_ema.*) instead of the trained ones",
         [](G& r) -> ParamRef { return &r.use_ema; }},
        {"--lora", nullptr, nullptr, nullptr, "FILE[:W]", "", nullptr, 0, 0,
         "merge a LoRA (kohya, LoCon, diffusers/PEFT names; repeatable; weight 1 by default; the API: "
         "<lora:NAME:W> in the prompt)", [](G& r) -> ParamRef { return &r.loras; }},
        {"--vae", nullptr, "sd_vae", nullptr, "PATH", "", nullptr, 0, 0,
         "a separate VAE (file in the original or diffusers names, or a diffusers vae/ folder; the API: a name in "
         "--vae-dir)", [](G& r) -> ParamRef { return &r.vae; }},
        {"--clip-l", nullptr, nullptr, nullptr, "PATH", "", nullptr, 0, 0,
         "SD 3: CLIP-L from its own file (clip_l.safetensors, Hugging Face names), for a checkpoint without it or in place "
         "of its own", [](G& r) -> ParamRef { return &r.clip_l; }},
        {"--clip-g", nullptr, nullptr, nullptr, "PATH", "", nullptr, 0, 0, "SD 3: CLIP-G from its own file (clip_g.safetensors)",
         [](G& r) -> ParamRef { return &r.clip_g; }},
        {"--t5xxl", nullptr, nullptr, nullptr, "PATH", "", nullptr, 0, 0,
         "SD 3: the T5-XXL encoder from its own file (t5xxl_fp16.safetensors, t5xxl_fp8_e4m3fn.safetensors)",
         [](G& r) -> ParamRef { return &r.t5xxl; }},
        {"--no-t5", nullptr, nullptr, nullptr, "", "false", nullptr, 0, 0,
         "SD 3: leave T5 out even where the files have it (zeros in its place, as diffusers' text_encoder_3=None: about "
         "9.5 GB less, a little less prompt-following)", [](G& r) -> ParamRef { return &r.no_t5; }},
        {"--taesd", nullptr, nullptr, nullptr, "PATH", "", nullptr, 0, 0,
         "decode with TAESD, the tiny autoencoder (taesd_decoder.safetensors, taesdxl_..., their folder or a diffusers "
         "AutoencoderTiny folder): a fraction of the VAE's time, a little less detail", [](G& r) -> ParamRef { return &r.taesd; }},
        {"--original-size", nullptr, "original_size", "Original size", "W,H", "0,0", nullptr, 8, kMaxMicroSize,
         "SDXL micro-conditioning: the size the picture is meant to come from (0,0: the image size)",
         [](G& r) -> ParamRef { return &r.original_size; }},
        {"--crop-top-left", nullptr, "crop_top_left", "Crop top left", "X,Y", "0,0", nullptr, 0, kMaxMicroSize,
         "SDXL micro-conditioning: where a crop from it started", [](G& r) -> ParamRef { return &r.crop_top_left; }},
        {"--target-size", nullptr, "target_size", "Target size", "W,H", "0,0", nullptr, 8, kMaxMicroSize,
         "SDXL micro-conditioning: the size asked for (0,0: the image size)",
         [](G& r) -> ParamRef { return &r.target_size; }},
        {"--aesthetic-score", nullptr, "aesthetic_score", "Aesthetic score", "X", aesthetic.c_str(), nullptr, 0, 10,
         "SDXL refiner: the score to aim for", [](G& r) -> ParamRef { return &r.aesthetic_score; }},
        {"--negative-aesthetic-score", nullptr, "negative_aesthetic_score", "Negative aesthetic score", "X", negative_aesthetic.c_str(),
         nullptr, 0, 10, "SDXL refiner: the score to steer away from",
         [](G& r) -> ParamRef { return &r.negative_aesthetic_score; }},
        {"--refiner", nullptr, "refiner_checkpoint", "Refiner", "PATH", "", nullptr, 0, 0,
         "an SDXL refiner that takes over the last part of the schedule (the API: a name in --model-dir)",
         [](G& r) -> ParamRef { return &r.refiner; }, nullptr, PngRule::Changed, refiner_png},
        {"--refiner-start", nullptr, "refiner_switch_at", "Refiner switch at", "X", refiner_start.c_str(), nullptr, 0.001, 1,
         "the share of the schedule the base model runs first", [](G& r) -> ParamRef { return &r.refiner_switch_at; },
         nullptr, PngRule::WithRefiner},
        {"--sld", nullptr, "sld", "SLD", "PRESET", "", nullptr, 0, 0,
         "Safe Latent Diffusion: weak, medium, strong or max", [](G& r) -> ParamRef { return &r.sld; }, normalize_sld},
        {"--sld-guidance-scale", nullptr, "sld_guidance_scale", "SLD guidance scale", "X", "", nullptr, 0, 1e5,
         "Safe Latent Diffusion guidance (any sld setting turns it on; the rest from medium)",
         [](G& r) -> ParamRef { return &r.sld_guidance_scale; }},
        {"--sld-warmup-steps", nullptr, "sld_warmup_steps", "SLD warmup steps", "N", "-1", nullptr, 0, kMaxSteps,
         "steps before Safe Latent Diffusion starts", [](G& r) -> ParamRef { return &r.sld_warmup_steps; }},
        {"--sld-threshold", nullptr, "sld_threshold", "SLD threshold", "X", "", nullptr, -1, 1,
         "Safe Latent Diffusion threshold", [](G& r) -> ParamRef { return &r.sld_threshold; }},
        {"--sld-momentum-scale", nullptr, "sld_momentum_scale", "SLD momentum scale", "X", "", nullptr, 0, 100,
         "Safe Latent Diffusion momentum scale", [](G& r) -> ParamRef { return &r.sld_momentum_scale; }},
        {"--sld-mom-beta", nullptr, "sld_mom_beta", "SLD momentum beta", "X", "", nullptr, 0, 1,
         "Safe Latent Diffusion momentum beta", [](G& r) -> ParamRef { return &r.sld_mom_beta; }},
        {"--sld-concept", nullptr, "sld_concept", "SLD concept", "TEXT", "", nullptr, 0, 0,
         "the concept to steer away from (default: diffusers' safety concept)",
         [](G& r) -> ParamRef { return &r.sld_concept; }},
        {"--slg-scale", nullptr, "slg_scale", "SLG scale", "X", "0", nullptr, 0, 100,
         "SD 3.5: skip-layer guidance's scale (0: off; 2.5 to 3 for SD 3.5 Medium), needs --cfg-scale above 1",
         [](G& r) -> ParamRef { return &r.slg_scale; }},
        {"--skip-layers", nullptr, "skip_layers", "SLG layers", "LIST", "7,8,9", nullptr, 0, 0,
         "skip-layer guidance: the transformer blocks its extra call bypasses", [](G& r) -> ParamRef { return &r.skip_layers; },
         normalize_layers},
        {"--skip-layer-start", nullptr, "skip_layer_start", "SLG start", "X", "0.01", nullptr, 0, 1,
         "skip-layer guidance: the share of the steps before it starts", [](G& r) -> ParamRef { return &r.skip_layer_start; }},
        {"--skip-layer-end", nullptr, "skip_layer_end", "SLG end", "X", "0.2", nullptr, 0, 1,
         "skip-layer guidance: the share of the steps after which it stops", [](G& r) -> ParamRef { return &r.skip_layer_end; }},
        {"--low-memory", nullptr, nullptr, "Low memory", "", "false", nullptr, 0, 0,
         "keep one layer's weights in memory at a time and decode the VAE in overlapping tiles (slower: SD 1.5 at "
         "512x512 in about 0.2 GB instead of 1.9, steps 1.2x as long)", [](G& r) -> ParamRef { return &r.low_memory; }},
        {"--vae-tiling", nullptr, "vae_tiling", "VAE tiling", "", "false", nullptr, 0, 0,
         "decode the VAE in overlapping tiles blended across their seams (less memory for large pictures)",
         [](G& r) -> ParamRef { return &r.vae_tiling; }},
        {"--vae-tile-size", nullptr, "vae_tile_size", "VAE tile size", "N", "32", nullptr, 16, 1024,
         "--vae-tiling's tiles: latent pixels a side (8 times that in the picture), overlapping by 8",
         [](G& r) -> ParamRef { return &r.vae_tile_size; }, nullptr, PngRule::Changed, vae_tile_png},
        {"--precision", nullptr, nullptr, "Precision", "fp32|bf16", "fp32", nullptr, 0, 0,
         "the matrix products' operands: fp32 (exact, the default) or bf16 with fp32 sums (CPUs with AVX512_BF16, "
         "about 1.8x faster a step, or Arm's BF16 extension; slightly different pictures)", [](G& r) -> ParamRef { return &r.precision; },
         normalize_precision},
        {"--threads", "-t", nullptr, nullptr, "N", "0", nullptr, 1, 1024, "CPU threads (0: all)",
         [](G& r) -> ParamRef { return &r.threads; }},
    };
    return rows;
}

const std::vector<Param<ControlRequest>>& control_params() {
    static const std::vector<Param<C>> rows = {
        {"--control-net", nullptr, "model", "Model", "PATH", "", nullptr, 0, 0,
         "a ControlNet (original or diffusers layout, .safetensors/.pth, or a folder; the API: a name in "
         "--control-net-dir); repeatable: the --control-* flags after one apply to it",
         [](C& c) -> ParamRef { return &c.model; }, nullptr, PngRule::Always, control_model_png},
        {"--control-image", nullptr, "image", nullptr, "FILE", "", nullptr, 0, 0,
         "its control image (edges, pose, depth...), the generation's size", [](C& c) -> ParamRef { return &c.image; }},
        {"--control-module", nullptr, "module", "Module", "NAME", "none", nullptr, 0, 0,
         "its preprocessor: none, or canny (edges of a photo, OpenCV's algorithm)",
         [](C& c) -> ParamRef { return &c.module; }, normalize_module, PngRule::Always},
        {"--control-strength", nullptr, "weight", "Weight", "X", "0.9", "1", 0, 10, "its residuals' scale",
         [](C& c) -> ParamRef { return &c.weight; }, nullptr, PngRule::Always},
        {"--control-start", nullptr, "guidance_start", "Guidance Start", "X", "0", nullptr, 0, 1,
         "the share of the schedule before it starts guiding", [](C& c) -> ParamRef { return &c.guidance_start; },
         nullptr, PngRule::Always},
        {"--control-end", nullptr, "guidance_end", "Guidance End", "X", "1", nullptr, 0, 1,
         "the share of the schedule after which it stops", [](C& c) -> ParamRef { return &c.guidance_end; }, nullptr,
         PngRule::Always},
        {"--canny-low", nullptr, "threshold_a", nullptr, "X", "100", nullptr, -1, 2040,
         "Canny's low threshold (A1111's; -1: 100)", [](C& c) -> ParamRef { return &c.threshold_a; }},
        {"--canny-high", nullptr, "threshold_b", nullptr, "X", "200", nullptr, -1, 2040,
         "Canny's high threshold (-1: 200)", [](C& c) -> ParamRef { return &c.threshold_b; }},
        {nullptr, nullptr, "enabled", nullptr, "", "true", nullptr, 0, 0, "whether the unit is used",
         [](C& c) -> ParamRef { return &c.enabled; }},
    };
    return rows;
}

const std::vector<Param<Folders>>& folder_params() {
    static const std::vector<Param<F>> rows = {
        {"--model-dir", nullptr, nullptr, nullptr, "DIR", "", nullptr, 0, 0,
         "checkpoints (files and diffusers folders) that -m NAME and the API's sd_model_checkpoint name",
         [](F& f) -> ParamRef { return &f.models; }},
        {"--lora-model-dir", nullptr, nullptr, nullptr, "DIR", "", nullptr, 0, 0,
         "where <lora:NAME:WEIGHT> tags in the prompt find NAME.safetensors (or .ckpt/.pt)",
         [](F& f) -> ParamRef { return &f.loras; }},
        {"--embd-dir", nullptr, nullptr, nullptr, "DIR", "", nullptr, 0, 0,
         "textual-inversion embeddings: NAME.pt / NAME.safetensors is used where a prompt says NAME",
         [](F& f) -> ParamRef { return &f.embeddings; }},
        {"--hypernetwork-dir", nullptr, nullptr, nullptr, "DIR", "", nullptr, 0, 0,
         "where <hypernet:NAME:STRENGTH> tags in the prompt find NAME.pt", [](F& f) -> ParamRef { return &f.hypernetworks; }},
        {"--control-net-dir", nullptr, nullptr, nullptr, "DIR", "", nullptr, 0, 0,
         "ControlNets that the API's units name", [](F& f) -> ParamRef { return &f.controlnets; }},
        {"--vae-dir", nullptr, nullptr, nullptr, "DIR", "", nullptr, 0, 0, "VAEs that the API's sd_vae names",
         [](F& f) -> ParamRef { return &f.vaes; }},
        {"--upscaler-dir", nullptr, nullptr, nullptr, "DIR", "", nullptr, 0, 0,
         "Real-ESRGAN files (.pth, .safetensors) that the API's hr_upscaler and upscaler_1 name",
         [](F& f) -> ParamRef { return &f.upscalers; }},
    };
    return rows;
}
// clang-format on

// ---- values ------------------------------------------------------------------------------------------------

namespace {

double parse_number(const std::string& text, const std::string& name) {
    char* end = nullptr;
    errno = 0;
    const double x = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(x) || errno == ERANGE) fail(name, ": \"", text, "\" is not a number");
    return x;
}

int64_t parse_integer(const std::string& text, const std::string& name) {
    char* end = nullptr;
    errno = 0;
    const long long n = std::strtoll(text.c_str(), &end, 10);
    if (!text.empty() && *end == '\0' && errno != ERANGE) return n;
    // JSON writes 20.0 for some clients' integers: accept a whole number written as a decimal
    const double x = std::strtod(text.c_str(), &end);
    if (!text.empty() && *end == '\0' && std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 9e15) return int64_t(x);
    fail(name, ": \"", text, "\" is not a whole number");
}

// A range end as written in errors: whole numbers in full (9223372036854775807, not 9.22337e+18).
std::string bound_text(double x) {
    if (x >= 9.2e18) return "9223372036854775807";
    if (x == std::floor(x) && std::fabs(x) < 1e15) return std::to_string(int64_t(x));
    return cat(x);
}

void check_range(double x, const std::string& text, const std::string& name, double lo, double hi) {
    if (!(x >= lo && x <= hi)) fail(name, ": must be between ", bound_text(lo), " and ", bound_text(hi), ", got ", text);
}

std::string number_text(double x) {
    if (std::isnan(x)) return "";
    return cat(x);
}

}  // namespace

void set_param(const ParamRef& ref, const std::string& text, const std::string& name, double lo, double hi,
               std::string (*normalize)(const std::string&, const std::string&), Origin origin) {
    if (auto* i = std::get_if<int64_t*>(&ref)) {
        errno = 0;
        char* end = nullptr;
        (void)std::strtoll(text.c_str(), &end, 10);
        if (!text.empty() && *end == '\0' && errno == ERANGE) check_range(text[0] == '-' ? -HUGE_VAL : HUGE_VAL, text, name, lo, hi);
        const int64_t n = parse_integer(text, name);
        check_range(double(n), text, name, lo, hi);
        **i = n;
    } else if (auto* d = std::get_if<double*>(&ref)) {
        if (text.empty() && lo < -1e299) {  // a default of "" leaves the number unset
            **d = std::numeric_limits<double>::quiet_NaN();
            return;
        }
        const double x = parse_number(text, name);
        check_range(x, text, name, lo, hi);
        **d = x;
    } else if (auto* s = std::get_if<std::string*>(&ref)) {
        **s = normalize ? normalize(text, name) : text;
    } else if (auto* b = std::get_if<bool*>(&ref)) {
        const std::string v = text;
        if (v == "true" || v == "1") **b = true;
        else if (v == "false" || v == "0") **b = false;
        else fail(name, ": \"", text, "\" is not true or false");
    } else if (auto* pr = std::get_if<IntPair*>(&ref)) {
        const size_t comma = text.find(',');
        if (comma == std::string::npos) fail(name, ": \"", text, "\" is not two whole numbers A,B");
        const int64_t a = parse_integer(text.substr(0, comma), name), b = parse_integer(text.substr(comma + 1), name);
        if (!(a == 0 && b == 0 && lo > 0)) {  // (0, 0) is "unset" for sizes
            check_range(double(a), text, name, lo, hi);
            check_range(double(b), text, name, lo, hi);
        }
        **pr = {a, b};
    } else if (auto* im = std::get_if<ImageInput*>(&ref)) {
        ImageInput& in = **im;
        if (text.empty()) fail(name, ": no image given");
        if (origin == Origin::Cli) {
            in.image = read_image(text, in.channels);
            in.source = text;
        } else {
            // base64, optionally as a data: URL ("data:image/png;base64,...")
            const size_t comma = text.rfind(',');
            const std::string b64 = text.compare(0, 5, "data:") == 0 && comma != std::string::npos ? text.substr(comma + 1) : text;
            const std::vector<uint8_t> bytes = base64_decode(b64, name);
            in.image = decode_image(bytes.data(), bytes.size(), in.channels, name);
            in.source = name;
        }
    } else if (auto* l = std::get_if<std::vector<std::string>*>(&ref)) {
        if (text.empty()) fail(name, ": empty value");
        (*l)->push_back(text);
    }
}

std::string param_text(const ParamRef& ref) {
    if (auto* i = std::get_if<int64_t*>(&ref)) return std::to_string(**i);
    if (auto* d = std::get_if<double*>(&ref)) return number_text(**d);
    if (auto* s = std::get_if<std::string*>(&ref)) return **s;
    if (auto* b = std::get_if<bool*>(&ref)) return **b ? "true" : "false";
    if (auto* pr = std::get_if<IntPair*>(&ref)) return cat((*pr)->a, ",", (*pr)->b);
    if (auto* im = std::get_if<ImageInput*>(&ref)) return (*im)->source;
    std::string out;
    for (const std::string& s : *std::get<std::vector<std::string>*>(ref)) out += (out.empty() ? "" : ",") + s;
    return out;
}

std::string usage_line(const char* flag, const char* alias, const char* metavar, const char* help, const char* def) {
    std::string head = "  ";
    const bool short_alias = alias && alias[1] != '-';  // "-s, --seed" but "--strength, --hires-denoise"
    if (short_alias) head += std::string(alias) + ", ";
    head += flag;
    if (alias && !short_alias) head += std::string(", ") + alias;
    if (*metavar) head += std::string(" ") + metavar;
    std::string text = help;
    if (*def && std::string(def) != "false" && std::string(def) != "0,0") text += std::string(" (default ") + def + ")";
    constexpr size_t kColumn = 30, kWidth = 112;
    std::string out = head;
    out += head.size() + 1 < kColumn ? std::string(kColumn - head.size(), ' ') : "\n" + std::string(kColumn, ' ');
    size_t col = kColumn;
    size_t at = 0;
    while (at < text.size()) {
        size_t next = text.find(' ', at);
        if (next == std::string::npos) next = text.size();
        const std::string word = text.substr(at, next - at);
        if (col > kColumn && col + 1 + word.size() > kWidth) {
            out += "\n" + std::string(kColumn, ' ');
            col = kColumn;
        } else if (col > kColumn) {
            out += ' ';
            ++col;
        }
        out += word;
        col += word.size();
        at = next + 1;
    }
    return out + "\n";
}

// ---- PNG parameters ----------------------------------------------------------------------------------------

namespace {

// A1111 quotes a value that holds a comma, colon or quote (JSON string rules).
std::string infotext_value(const std::string& v) {
    if (v.find_first_of(",:\"") == std::string::npos) return v;
    std::string q = "\"";
    for (char c : v) {
        if (c == '"' || c == '\\') q += '\\';
        q += c;
    }
    return q + "\"";
}

}  // namespace

std::string png_parameters(const GenerationRequest& request, int64_t seed, const std::string& model_name, const std::string& extra) {
    GenerationRequest r = request;
    r.seed = seed;
    GenerationRequest defaults = with_defaults(generation_params(), Origin::Cli);
    std::string out = r.prompt;
    if (!r.negative_prompt.empty()) out += "\nNegative prompt: " + r.negative_prompt;
    std::string line;
    auto add = [&](const std::string& key, const std::string& value) {
        if (value.empty()) return;
        line += (line.empty() ? "" : ", ") + key + ": " + infotext_value(value);
    };
    for (const Param<G>& p : generation_params()) {
        if (!p.png) continue;
        const std::string value = p.png_text ? p.png_text(r) : param_text(p.ref(r));
        const bool write = p.png_rule == PngRule::Always || (p.png_rule == PngRule::WithDenoising && (r.init_image.given() || r.hires_fix)) ||
                           (p.png_rule == PngRule::WithHires && r.hires_fix) ||
                           (p.png_rule == PngRule::WithRefiner && !r.refiner.empty()) ||
                           (p.png_rule == PngRule::Changed && value != (p.png_text ? p.png_text(defaults) : param_text(p.ref(defaults))));
        if (write) add(p.png, value);
        if (std::string(p.png) == "Size") add("Model", model_name);  // A1111 writes the model right after the size
    }
    for (size_t i = 0; i < r.controls.size(); ++i) {
        ControlRequest c = r.controls[i];
        std::string unit;
        for (const Param<C>& p : control_params()) {
            if (!p.png) continue;
            unit += (unit.empty() ? "" : ", ") + std::string(p.png) + ": " + (p.png_text ? p.png_text(c) : param_text(p.ref(c)));
        }
        add("ControlNet " + std::to_string(i), unit);
    }
    return out + "\n" + line + extra;
}

std::vector<std::pair<std::string, std::string>> parse_png_parameters(const std::string& text) {
    std::vector<std::pair<std::string, std::string>> out;
    // the last line holding "Steps: " carries the settings; the lines before are the prompt, then the negative
    std::vector<std::string> lines;
    for (size_t at = 0; at <= text.size();) {
        const size_t nl = std::min(text.find('\n', at), text.size());
        lines.push_back(text.substr(at, nl - at));
        at = nl + 1;
    }
    size_t settings = lines.size();
    for (size_t i = lines.size(); i-- > 0;)
        if (lines[i].find("Steps: ") != std::string::npos) {
            settings = i;
            break;
        }
    std::string prompt, negative;
    bool in_negative = false;
    for (size_t i = 0; i < std::min(settings, lines.size()); ++i) {
        if (lines[i].compare(0, 17, "Negative prompt: ") == 0) {
            in_negative = true;
            negative = lines[i].substr(17);
        } else if (in_negative) negative += "\n" + lines[i];
        else prompt += (i ? "\n" : "") + lines[i];
    }
    out.emplace_back("Prompt", prompt);
    out.emplace_back("Negative prompt", negative);
    if (settings == lines.size()) return out;
    const std::string& s = lines[settings];
    for (size_t at = 0; at < s.size();) {
        while (at < s.size() && s[at] == ' ') ++at;
        const size_t colon = s.find(": ", at);
        if (colon == std::string::npos) break;
        const std::string key = s.substr(at, colon - at);
        size_t v = colon + 2;
        std::string value;
        if (v < s.size() && s[v] == '"') {  // quoted, with \" and \\ escapes
            for (++v; v < s.size() && s[v] != '"'; ++v) {
                if (s[v] == '\\' && v + 1 < s.size()) ++v;
                value += s[v];
            }
            at = s.find(',', v);
        } else {
            at = s.find(',', v);
            value = s.substr(v, at == std::string::npos ? std::string::npos : at - v);
        }
        out.emplace_back(key, value);
        if (key == "Size") {
            const size_t x = value.find('x');
            out.emplace_back("Size-1", value.substr(0, x));
            out.emplace_back("Size-2", x == std::string::npos ? "" : value.substr(x + 1));
        }
        if (at == std::string::npos) break;
        ++at;
    }
    return out;
}

// ---- names ---------------------------------------------------------------------------------------------------

bool has_weight_extension(const std::string& path) {
    const std::string ext = std::filesystem::path(path).extension().string();
    for (const char* known : {".safetensors", ".ckpt", ".pt", ".pth", ".bin"})
        if (ext == known) return true;
    return false;
}

std::string model_name_of(const std::string& path) {
    std::string p = path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    const std::filesystem::path f(p);
    return has_weight_extension(p) ? f.stem().string() : f.filename().string();
}

std::string normalize_sampler(const std::string& value, const std::string& name) {
    std::string v = lower(value);
    std::string suffix;
    if (v.size() > 7 && v.compare(v.size() - 7, 7, " karras") == 0) {
        suffix = " karras";
        v.resize(v.size() - 7);
    }
    for (const SamplerNames& s : sampler_table())
        if (v == s.name || v == lower(s.a1111) || v == s.alias) {
            if (!suffix.empty() && !s.karras) fail(name, ": ", s.a1111, " has no Karras schedule");
            return s.name + suffix;
        }
    std::string valid;
    for (const SamplerNames& s : sampler_table()) valid += (valid.empty() ? "" : ", ") + s.name + " (" + s.a1111 + ")";
    fail(name, ": unknown sampler \"", value, "\" (valid: ", valid, ")");
}

std::string normalize_precision(const std::string& value, const std::string& name) {
    const std::string v = lower(value);
    if (v == "fp32" || v == "bf16") return v;
    fail(name, ": unknown precision \"", value, "\" (valid: fp32, bf16)");
}

std::string normalize_schedule(const std::string& value, const std::string& name) {
    const std::string v = lower(value);
    if (v == "discrete" || v == "automatic") return "discrete";
    if (v == "karras") return "karras";
    if (v == "trailing") return "trailing";
    for (const std::string& n : sigma_schedule_names()) {
        std::string label = lower(a1111_schedule_label(n));
        if (v == n || (!label.empty() && v == label && n != "align_your_steps_sdxl")) return n;
    }
    fail(name, ": unknown schedule \"", value, "\" (valid: ", [] {
        std::string all = "discrete, karras, trailing";
        for (const std::string& n : sigma_schedule_names())
            if (n != "karras") all += ", " + n;
        return all;
    }(), "; A1111's labels too)");
}

}  // namespace sdref
