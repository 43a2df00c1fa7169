// checkpoint.h: open a Stable Diffusion model as users bring it — a single-file checkpoint in the original (LDM)
// layout, or a diffusers folder — and tell what it is.
//
// Every model reads its tensors under the original names (model.diffusion_model.*, first_stage_model.*,
// cond_stage_model.*). A diffusers folder's files are added to the same WeightStore with renamers that map those
// names to diffusers' (down_blocks.N.resnets.M, ...), so both layouts load through one code path.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "addons/lora.h"
#include "io/json.h"
#include "models/conditioner.h"
#include "models/denoiser.h"
#include "models/unet.h"
#include "models/vae.h"
#include "schedulers/scheduler.h"
#include "text/clip_tokenizer.h"

namespace sdref {

// What a model is; what its denoiser needs the pipeline to know (latent channels, VAE scale, training schedule
// and size) is denoiser().info().
struct ModelInfo {
    const FamilySpec* family = nullptr;  // what it is: family->name is "SD 1.x", "SD 2.x", "SDXL", "SDXL refiner", "SD 3"
    std::string source;                  // the file or folder
};

struct CheckpointOverrides {
    std::string prediction_type;  // "epsilon" or "v_prediction"; empty: from the checkpoint
    bool use_ema = false;         // a training checkpoint's EMA U-Net weights instead of the trained ones
    std::vector<LoraSpec> loras;  // merged into the weights before the models read them
    std::vector<std::string> embeddings;  // textual-inversion files the prompts may name
    std::vector<std::pair<std::string, float>> hypernetworks;  // A1111 hypernetwork files and their strengths
    std::string vae;              // a separate VAE (file or diffusers vae/ folder) replacing the checkpoint's
    // SD 3: separate text-encoder files (Hugging Face names, as ComfyUI's clip_l.safetensors, clip_g.safetensors,
    // t5xxl_fp16.safetensors), replacing the checkpoint's own
    std::string clip_l, clip_g, t5xxl;
    bool skip_t5 = false;         // SD 3: leave T5 out even where the files have it (its tokens are then zeros)
};

class StableDiffusionModel {
public:
    // A single file (.safetensors, or a PyTorch .ckpt/.pt read without running code: its "state_dict" when it
    // has one) or a diffusers folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/,
    // scheduler/; SDXL: also text_encoder_2/, the refiner only that one). fp16 variants (*.fp16.safetensors) are
    // used when the plain file is absent. The family is detected from the tensors (FamilySpec::detect): the text
    // encoders', SD 3's transformer.
    static StableDiffusionModel load(const std::string& path, const CheckpointOverrides& overrides = {});

    const ModelInfo& info() const { return info_; }
    const Conditioner& conditioner() const { return *conditioner_; }
    // The model the sampling loop runs (for these families, the U-Net behind the Denoiser interface).
    const Denoiser& denoiser() const { return *denoiser_; }
    // The U-Net of the U-Net families (an error naming the model for another family), for tests and tools.
    const UNet& unet() const;
    const Vae& vae() const { return *vae_; }
    // The parts of a model, each with its own weights (their prefixes are the family's business, not the pipeline's).
    enum class Part { TextEncoder, Denoiser, Vae };
    // Give back the resident memory of a part's weights until it is used again (the pipeline does this after each
    // phase, so the text encoder, denoiser and VAE weights are not all resident at once).
    void release(Part part) const { weights_->release(prefix(part)); }
    // The stored bytes of a part's weights.
    int64_t weight_bytes(Part part) const { return weights_->bytes(prefix(part)); }
    // The weights of a part that hold NaN or Inf, as "file: tensor (N of M values)": what a non-finite result is
    // traced back to.
    std::vector<std::string> non_finite_weights(Part part) const { return weights_->non_finite(prefix(part)); }
    // Tensors in the files that no model used (EMA copies, schedule buffers, an add-on's extra keys), for `sdref -v`.
    std::vector<std::string> unused_tensors() const;
    // What the LoRAs changed: layers, and the bytes of the owned copies they made.
    int lora_layers() const { return lora_.layers; }
    int64_t lora_bytes() const { return weights_->owned_bytes(); }
    // The denoiser's weights packed into the GEMM's panels (kernels/weight_panels.h), kept from one generation to
    // the next (a cache: the model is const to its users, the panels fill as they run); and whose weights they are.
    kernels::WeightPanels& denoiser_panels() const { return *denoiser_panels_; }
    const kernels::WeightOwner& weight_owner() const { return *weights_; }

private:
    // The canonical prefix of a part's tensors ("cond_stage_model." or SDXL's "conditioner.", "model.diffusion_model.",
    // "first_stage_model.").
    std::string prefix(Part part) const;

    ModelInfo info_;
    std::shared_ptr<WeightStore> weights_;
    LoraReport lora_;
    std::shared_ptr<const ClipTokenizer> tokenizer_;
    std::shared_ptr<const Conditioner> conditioner_;
    std::shared_ptr<const Denoiser> denoiser_;
    std::shared_ptr<Vae> vae_;
    std::shared_ptr<kernels::WeightPanels> denoiser_panels_ = std::make_shared<kernels::WeightPanels>();
};

}  // namespace sdref
