// request.h: one generation request as every front end states it — the command line, the HTTP API, a PNG's
// parameters. Plain values only (numbers as int64_t/double, names as text, images decoded); src/app/params.cpp's
// table says which flag, JSON field and PNG key sets each member, with its default and range, and job.cpp turns a
// request into GenerationParams and files to load.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/image.h"

namespace sdref {

// Two whole numbers given together ("W,H" on the command line, [W, H] in JSON).
struct IntPair {
    int64_t a = 0, b = 0;
    bool operator==(const IntPair& o) const { return a == o.a && b == o.b; }
};

// An image argument: where it came from (a file, or "init_images[0]" for the API) and its pixels.
struct ImageInput {
    int channels = 3;     // 3: RGB; 1: a grey mask
    std::string source;   // empty: none given
    Image image;
    bool given() const { return !source.empty(); }
};

// One ControlNet unit (A1111's ControlNet extension calls it a unit).
struct ControlRequest {
    std::string model;     // a path (CLI) or a name in the ControlNet folder (API)
    ImageInput image;      // the control image, the generation's size
    std::string module;    // preprocessor: "none" or "canny"
    double weight, guidance_start, guidance_end, threshold_a, threshold_b;  // threshold_*: Canny's low, high
    bool enabled;
};

// How the masked area starts when an ordinary (4-channel) U-Net inpaints; A1111's inpainting_fill.
enum class InpaintingFill : int64_t { Fill = 0, Original = 1, LatentNoise = 2, LatentNothing = 3 };

struct GenerationRequest {
    std::string model;              // path or name; empty: the front end's default (the demo model, the resident one)
    std::string prompt, negative_prompt;
    int64_t steps;
    std::string sampler, scheduler; // sdref's names (euler_a, karras); the table maps A1111's names onto them
    double cfg_scale;
    int64_t seed;                   // -1: pick one
    std::string rng;                // "cpu" or "cuda": the seed's noise generator (pipeline/seed_noise.h NoiseRng)
    int64_t subseed;                // A1111's variation seed (-1: pick one), picture b's is subseed + b
    double subseed_strength;        // how far toward the variation seed's noise (0: off)
    int64_t seed_resize_from_w, seed_resize_from_h;  // draw the noise as for a picture of this size (0 or -1: off)
    int64_t eta_noise_seed_delta;   // ENSD: later draws from a generator seeded seed + this (0: off)
    int64_t width, height;          // 0: the model's size
    int64_t batch_count, batch_size;  // images = batch_count * batch_size, seeds seed, seed+1, ...
    int64_t clip_skip;              // 0: the model's default
    ImageInput init_image{3, {}, {}};
    ImageInput mask{1, {}, {}};
    double denoising_strength;      // img2img and inpainting, and the hires fix's second pass
    int64_t inpainting_fill;        // InpaintingFill
    bool inpainting_mask_invert;
    std::string outpaint;           // "L,T,R,B"
    std::string prediction_type;
    bool use_ema;
    std::vector<std::string> loras;  // "FILE[:WEIGHT]"
    std::string vae;
    std::string clip_l, clip_g, t5xxl;  // SD 3: text encoders from their own files
    bool no_t5;                     // SD 3: leave T5 out
    std::string taesd;              // decode with this TAESD (models/taesd.h) instead of the VAE; "": the VAE
    IntPair original_size, crop_top_left, target_size;  // SDXL micro-conditioning; (0, 0): the image size
    double aesthetic_score, negative_aesthetic_score;
    std::string refiner;
    double refiner_switch_at;
    std::string sld;                // Safe Latent Diffusion preset; empty with no sld_* value: off
    double sld_guidance_scale, sld_threshold, sld_momentum_scale, sld_mom_beta;  // NaN: the preset's
    int64_t sld_warmup_steps;       // -1: the preset's
    std::string sld_concept;        // empty: diffusers' safety concept
    double slg_scale;               // SD 3.5 skip-layer guidance (0: off)
    std::string skip_layers;        // its blocks, "7,8,9"
    double skip_layer_start, skip_layer_end;
    bool hires_fix;                 // A1111's hires fix: generate, upscale, then img2img at the larger size
    double hires_scale;             // the upscale factor, unless hires_width/hires_height are given
    int64_t hires_width, hires_height;  // 0: from hires_scale (one given: the other keeps the aspect ratio)
    int64_t hires_steps;            // the second pass's steps; 0: as many as steps
    std::string hires_upscaler;     // "latent", "latent-nearest" (the latents), "lanczos" (the decoded picture), or a
                                    // Real-ESRGAN file (the decoded picture)
    bool low_memory;
    bool vae_tiling;                // decode in blended tiles of vae_tile_size latent pixels
    int64_t vae_tile_size;
    std::string precision;          // "fp32" or "bf16": the matrix products (kernels::Precision)
    int64_t threads;                // CPU threads for this request (ForwardContext::threads); 0: all
    std::vector<ControlRequest> controls;

    int64_t images() const { return batch_count * batch_size; }
};

// Where add-ons named in a prompt or a request are looked up: <lora:NAME>, embeddings, <hypernet:NAME>,
// ControlNet and checkpoint names. Only files listed in these folders are ever opened by name.
struct Folders {
    std::string models, loras, embeddings, hypernetworks, controlnets, vaes, upscalers;
};

}  // namespace sdref
