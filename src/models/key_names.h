// key_names.h: renaming the original (LDM) tensor names into diffusers' — one function per model part. Every model
// reads its tensors under the original names; a diffusers folder's files are added to the WeightStore with these
// as renamers, so both layouts load through one code path.
#pragma once

#include <cstdint>
#include <string>

namespace sdref {

// The diffusers names of canonical U-Net / VAE tensors (without their model.diffusion_model. / first_stage_model.
// prefix): input_blocks.1.0.in_layers.0.weight -> down_blocks.0.resnets.0.norm1.weight. layers_per_block and levels
// come from the folder's config.json.
std::string diffusers_unet_name(const std::string& ldm_name, int64_t layers_per_block);
std::string diffusers_vae_name(const std::string& ldm_name, int64_t levels);
// The diffusers name of a canonical ControlNet tensor (without "control_model."); L: ResBlocks per level.
std::string diffusers_controlnet_name(const std::string& ldm, int64_t layers_per_block);

}  // namespace sdref
