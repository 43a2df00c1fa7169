// family.h: everything sdref knows about one model family, in one place per family (the family's conditioner
// file: conditioner_sd1.cpp, _sd2, _sdxl, _sdxl_refiner, _sd3). The loader, the pipeline, the add-ons and the preview read
// these fields; none of them branches on a family's name. A family is identified by its FamilySpec (one object
// each); `name` is what users read.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/json.h"
#include "models/key_names.h"
#include "models/weights.h"

namespace sdref {

class Conditioner;
class Denoiser;
struct ConditionerSource;
struct DenoiserSource;

struct FamilySpec {
    const char* name = "";                         // "SD 1.x", "SD 2.x", "SDXL", "SDXL refiner", "SD 3"

    // ---- its files ----
    // whether a store holds this family's model: its text encoders (the U-Net families), its transformer (SD 3, whose
    // encoders may come in files of their own)
    bool (*detect)(const WeightStore& w) = nullptr;
    // a diffusers folder's text-encoder subfolders (Hugging Face names), in order, and the canonical prefix each loads
    // at; a folder is this family's layout when it has exactly these subfolders
    std::vector<std::pair<std::string, std::string>> diffusers_text_encoders;
    // the canonical prefixes of its parts' tensors
    const char* text_prefix = "";                  // its text encoders
    std::vector<std::string> text_embedders;        // each text encoder's prefix, in order (LoRA's te / te1, te2)
    const char* denoiser_prefix = "model.diffusion_model.";
    const char* vae_prefix = "first_stage_model.";

    // ---- its parts ----
    std::unique_ptr<Conditioner> (*make_conditioner)(const ConditionerSource& source) = nullptr;
    // its denoiser (unet_denoiser.cpp: the U-Net families; mmdit_denoiser.cpp: SD 3), from the tensors under
    // denoiser_prefix, with what the loader found out for its DenoiserInfo
    std::shared_ptr<const Denoiser> (*make_denoiser)(const DenoiserSource& source) = nullptr;
    const char* diffusers_denoiser = "unet";       // a diffusers folder's denoiser subfolder (SD 3: "transformer")
    // add that subfolder's weights to the store under the canonical prefix (renamed to the original names), and give
    // back its config.json (unet_denoiser.cpp, mmdit_denoiser.cpp)
    Json (*add_diffusers_denoiser)(WeightStore& w, const std::string& subfolder, const std::string& prefix) = nullptr;
    // its denoiser's weight matrices by diffusers module path (models/key_names.h), for LoRAs in diffusers' names
    std::map<std::string, ModuleWeight> (*diffusers_modules)(const WeightStore& w, const std::string& prefix) = diffusers_unet_modules;

    // ---- the defaults a checkpoint without a config gets ----
    int64_t native_size = 512;                     // default image side (pixels)
    float vae_scale = 0.18215f;                    // latents = (VAE mean - vae_shift) x vae_scale
    float vae_shift = 0.0f;
    const char* prediction_type = "epsilon";       // epsilon | v_prediction | flow
    double flow_shift = 1.0;                       // flow matching's timestep shift (SD 3: 3.0)
    const char* timestep_spacing = "";             // the scheduler_config spacing ("": the sampler's own)
    bool force_zeros_for_empty_prompt = false;     // diffusers' default for the family
    // what the command uses when a request leaves them unset (the API keeps A1111's own defaults)
    int64_t default_steps = 20;
    float default_cfg = 7.0f;
    const char* default_sampler = "euler_a";

    // ---- the live preview ----
    // the published latent-to-RGB factors F [latent channel][R, G, B] for the family's own VAE (rgb = (F^T l + 1) / 2
    // on the scaled latents), or nullptr: a preview is fitted to the model's VAE instead (pipeline/preview.h)
    const float (*preview_factors)[3] = nullptr;
    int64_t latent_channels = 4;                   // its VAE's latent channels (the factors' rows)
    int64_t preview_vae_width = 512;               // the family's VAE, by its decoder's width
    const char* taesd = "taesd";                   // the TAESD release for its latents (models/taesd.h)
};

const FamilySpec& sd1_family();
const FamilySpec& sd2_family();
const FamilySpec& sdxl_family();
const FamilySpec& sdxl_refiner_family();
const FamilySpec& sd3_family();
// Every family, most specific first (an SDXL base has both embedders, the refiner only the first).
const std::vector<const FamilySpec*>& model_families();
// The family whose text encoders the store holds; an error listing what was found when none matches.
const FamilySpec& detect_family(const WeightStore& w);
// The family whose diffusers folder layout `folder` has (its text-encoder subfolders); an error when none has it.
const FamilySpec& folder_layout_family(const std::string& folder);

// The VAE latent-to-RGB factors of SD 1.x/2.x, SDXL and SD 3 (ComfyUI's latent_formats.py).
extern const float kSdPreviewFactors[4][3];
extern const float kSdxlPreviewFactors[4][3];
extern const float kSd3PreviewFactors[16][3];  // (the SD 3 VAE's 16 channels)

}  // namespace sdref
