// lora.h: LoRA (Hu et al. 2021) and LoCon add-ons, merged into the model's weights at load.
//
// A LoRA stores, for some layers W [out, in] (or a conv [out, in, k, k]), a low-rank update:
//   down [r, in(, k, k)]   up [out, r(, 1, 1)]   alpha (a 0-d scale; r when absent)
//   W' = W + m (alpha / r) up @ down              m: the user's weight (--lora FILE:m, <lora:name:m>)
// LoCon extends it to the 3x3 convolutions of the ResBlocks: up [out, r] @ down [r, in * 9] in the same formula.
// Several LoRAs add up. Each changed tensor becomes an owned fp32 copy; the rest of the model stays mapped.
//
// Names: kohya / A1111 (`lora_unet_<diffusers path with _>`, `lora_unet_<original path with _>`, `lora_te_<Hugging Face
// path with _>`, SDXL and SD 3 `lora_te1_` / `lora_te2_`; `.lora_down.weight`, `.lora_up.weight`, `.alpha`) and
// diffusers / PEFT (`unet.<diffusers path>.lora_A.weight` / `.lora_B.weight`, `.lora.down.weight` / `.lora.up.weight`,
// SD 3 `transformer.<diffusers path>`, `text_encoder.` / `text_encoder_2.`). Text-encoder updates reach OpenCLIP's
// fused q/k/v projection row by row, SD 3's to_q / to_k / to_v the rows of the transformer's fused qkv.
// A LoRA none of whose layers this model has is an error (a LoRA for another model family); so is a layer that
// does not exist or a shape that does not fit, naming the file and the tensor. docs/addons.md has the details.
#pragma once

#include <string>
#include <vector>

#include "models/family.h"
#include "models/weights.h"

namespace sdref {

struct LoraSpec {
    std::string path;
    float multiplier = 1.0f;
};

struct LoraReport {
    int layers = 0;                    // layers changed, over all LoRAs
    std::vector<std::string> unused;   // "file: tensor" a LoRA has that is not a LoRA weight (listed with -v)
};

// Merge the LoRAs into the store's weights (before any model reads them), for a model of `family`: its denoiser's
// prefix and its text encoders' prefixes in kohya's order (one: lora_te_; two: lora_te1_, lora_te2_).
LoraReport apply_loras(WeightStore& w, const std::vector<LoraSpec>& loras, const FamilySpec& family);

}  // namespace sdref
