// key_names.h: renaming the original (LDM) tensor names into diffusers' — one function per model part. Every model
// reads its tensors under the original names; a diffusers folder's files are added to the WeightStore with these
// as renamers, so both layouts load through one code path.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace sdref {

class WeightStore;

// The diffusers names of canonical U-Net / VAE tensors (without their model.diffusion_model. / first_stage_model.
// prefix): input_blocks.1.0.in_layers.0.weight -> down_blocks.0.resnets.0.norm1.weight. layers_per_block and levels
// come from the folder's config.json.
std::string diffusers_unet_name(const std::string& ldm_name, int64_t layers_per_block);
std::string diffusers_vae_name(const std::string& ldm_name, int64_t levels);
// The diffusers name of a canonical ControlNet tensor (without "control_model."); L: ResBlocks per level.
std::string diffusers_controlnet_name(const std::string& ldm, int64_t layers_per_block);

// The diffusers name of a canonical SD 3 transformer tensor (without model.diffusion_model.), for the tensors that
// are one tensor in both layouts: joint_blocks.0.x_block.attn.proj.weight -> transformer_blocks.0.attn.to_out.0.weight.
// The fused qkv tensors (three in diffusers) are given back unchanged; the caller makes them (mmdit_denoiser.cpp).
std::string diffusers_mmdit_name(const std::string& original);

// A denoiser's weight matrix as a diffusers module path names it ("down_blocks.0.resnets.0.conv1",
// "transformer_blocks.0.attn.to_q"): the canonical tensor, and the rows of it that module is (SD 3's q, k and v are
// one fused qkv tensor in the original layout).
struct ModuleWeight {
    std::string name;        // canonical, with the denoiser's prefix
    int64_t first_row = 0;
    int64_t rows = -1;       // -1: all
};
// Every weight matrix of the denoiser under `prefix`, by diffusers module path (what LoRAs in diffusers / PEFT
// names and kohya's lora_unet_<diffusers path> reach): the U-Net's (UNet2DConditionModel), SD 3's
// (SD3Transformer2DModel: to_q/to_k/to_v and add_q/k/v_proj are rows of qkv; norm_out and the last block's
// norm1_context, whose halves diffusers stores swapped, are left out).
std::map<std::string, ModuleWeight> diffusers_unet_modules(const WeightStore& w, const std::string& prefix);
std::map<std::string, ModuleWeight> diffusers_mmdit_modules(const WeightStore& w, const std::string& prefix);

}  // namespace sdref
