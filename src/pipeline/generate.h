// generate.h: one generation, end to end. The pipeline only orchestrates the modules, in named stages:
//
//   validate        every check that can fail before any work (sizes, strengths, the refiner, ControlNets, memory)
//   conditioning    conditioner: prompt, negative prompt (, safety concept) -> Conditioning (contexts, vector y)
//   initial latents generator: seed -> starting noise [z, H/8, W/8] (img2img/inpainting: VAE posterior sample first)
//   sample          per call: the Denoiser (once per conditioning) -> guidance -> scheduler step; with a refiner,
//                   its denoiser takes over for the last part of the schedule
//   decode          VAE decoder: latents / scale -> image in [0, 1]
//
// txt2img, img2img (init image + strength), inpainting (init image + mask: an inpainting model reads the mask and the
// masked image's latents beside the latents; an ordinary one has the unmasked area restored after every step).
// The pipeline talks to the model through its Denoiser (models/denoiser.h) and never names an architecture.
// docs/pipeline.md follows one generation with its shapes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "loader/checkpoint.h"
#include "models/controlnet.h"
#include "models/taesd.h"
#include "pipeline/image.h"
#include "pipeline/seed_noise.h"
#include "schedulers/scheduler.h"

namespace sdref {

// Safe Latent Diffusion (Schramowski et al. 2023): a third denoiser call conditioned on a safety concept steers
// the sample away from it. With d = eps_text - eps_concept:
//   scale    = min(|d| * guidance_scale, 1), set to 0 where d >= threshold
//   g_s      = (eps_concept - eps_uncond) * scale + momentum_scale * m;   m <- mom_beta m + (1 - mom_beta) g_s
//   guidance = (eps_text - eps_uncond) - g_s     (from step warmup_steps on)
// The values below are diffusers' "medium" preset, its default.
struct SafeLatentDiffusion {
    bool enabled = false;
    int warmup_steps = 10;
    float guidance_scale = 1000.0f, threshold = 0.01f, momentum_scale = 0.3f, mom_beta = 0.4f;
    std::string concept =
        "an image showing hate, harassment, violence, suffering, humiliation, harm, suicide, sexual, nudity, bodily "
        "fluids, blood, obscene gestures, illegal activity, drug use, theft, vandalism, weapons, child abuse, brutality, "
        "cruelty";
    // The presets of diffusers' SafetyConfig: "weak", "medium" (the values above), "strong", "max"; enabled.
    static SafeLatentDiffusion preset(const std::string& name);
};

// Skip-layer guidance (SD 3.5 Medium's recipe; diffusers' skip_guidance_layers): at the steps i (from 0, of N) with
// N start < i < N end, one more denoiser call on the prompt with the listed transformer blocks bypassed, v_skip, and
//   v = v_uncond + cfg (v_cond - v_uncond) + scale (v_cond - v_skip)
// Off at scale 0. Needs guidance (cfg > 1) and a transformer denoiser.
struct SkipLayerGuidance {
    float scale = 0.0f;
    std::vector<int> layers = {7, 8, 9};  // stable-diffusion.cpp's and diffusers' SD 3.5 Medium choice
    float start = 0.01f, end = 0.2f;
};

// Where the repainted area starts when an ordinary (4-channel) U-Net inpaints: the init image's latents (noised,
// as img2img), fresh Gaussian noise, or zeros (A1111's "original", "latent noise", "latent nothing").
enum class MaskedContent { Original, LatentNoise, LatentNothing };

struct GenerationParams {
    std::string prompt;
    std::string negative_prompt;
    int64_t width = 512, height = 512;
    float cfg_scale = 7.0f;        // 1: one denoiser call per step, no negative prompt
    uint64_t seed = 42;
    NoiseRng rng = NoiseRng::Cpu;  // the seed's generator, for the starting noise and every later draw
    SeedVariation variation;       // A1111's variation seed and "seed resize from" (pipeline/seed_noise.h)
    int clip_skip = 0;             // A1111 numbering: 1 = last layer; 0 = the model's default
    const Image* init_image = nullptr;  // img2img / inpainting
    const Tensor* init_latents = nullptr;  // img2img from latents [z, H/8, W/8] instead of a picture (the hires fix)
    const Image* mask = nullptr;        // inpainting: white = repaint
    MaskedContent masked_content = MaskedContent::Original;
    float strength = 0.75f;        // img2img / inpainting: how much of the schedule to run (1 = all)
    SafeLatentDiffusion sld;       // off unless enabled (needs cfg_scale > 1)
    SkipLayerGuidance slg;         // off unless its scale is > 0
    int max_sequence_length = 256; // SD 3: T5's tokens
    ForwardContext forward;        // backend, precision, threads, weight streaming (--low-memory) of every forward pass
    int64_t vae_tile = 0;          // decode in tiles of this many latent pixels a side (Vae::decode_tiled); 0: whole
    const Taesd* taesd = nullptr;  // decode with TAESD instead of the VAE (it takes the latents as they are)
    bool decode = true;            // false: stop at the latents (GenerationResult::image stays empty)
    MicroConditioning micro;       // SDXL: original size, crop, target size, aesthetic scores
    const StableDiffusionModel* refiner = nullptr;  // SDXL refiner for the end of the schedule (ensemble of experts)
    std::vector<ControlSpec> controls;  // ControlNets, their residuals summed
    static constexpr float kRefinerStart = 0.8f;  // diffusers' and A1111's default
    float refiner_start = kRefinerStart;  // the share of the schedule before the refiner takes over: the calls with
                                   // timestep t < T (1 - refiner_start) are the refiner's
};

struct StepInfo {
    int step, steps;               // 1-based step, total steps
    const Tensor& latents;         // the latents after this step [z, h, w]
};

struct GenerationResult {
    Tensor latents;                // [z, h, w] the final latents, before decoding
    Tensor image;                  // [3, H, W] in [0, 1] (empty without GenerationParams::decode)
    double text_seconds = 0, vae_seconds = 0;
    std::vector<double> step_seconds;
    // the process's peak resident memory in each phase (bytes): the text encoders, the sampling loop (with the
    // init picture's encode), the decode
    long long text_peak = 0, sampling_peak = 0, decode_peak = 0;
    int64_t context_tokens = 0;    // the prompt's text tokens, as the denoiser read them
};

// The memory a generation needs (bytes), against what the machine has available now (-1: it does not say): its
// largest phase (the text encoders' weights; the denoiser's weights and activations; the VAE's weights and the
// decoder's activations) and the pictures; with a refiner, the larger of the two models' needs. generate() refuses a
// generation that cannot fit before it starts.
struct MemoryNeed {
    int64_t total = 0, weights = 0, denoiser = 0, vae = 0;  // weights: the largest part's
    long long available = -1;
    // "this generation needs about 69.54 GB (weights ..., U-Net activations ..., VAE decoder ...), the machine has ..."
    std::string describe(const StableDiffusionModel& model) const;
};
MemoryNeed memory_need(const StableDiffusionModel& model, const GenerationParams& p);

// Why `refiner` cannot take over from `model`'s latents (inpainting or not, latent channels), or "".
std::string refiner_mismatch(const StableDiffusionModel& model, const StableDiffusionModel& refiner);

// The scheduler must be freshly made (make_scheduler); set_timesteps(steps) is called here.
GenerationResult generate(const StableDiffusionModel& model, const GenerationParams& params, Scheduler& scheduler,
                          int steps, const std::function<void(const StepInfo&)>& on_step = nullptr);

}  // namespace sdref
