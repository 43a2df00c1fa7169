// controlnet.h: ControlNet (Zhang et al. 2023): a trainable copy of the U-Net's encoder that reads a control image
// (edges, pose, depth) and adds residuals to the U-Net's skip connections and middle block.
//
//   hint  = input_hint_block(image)        8 convs with SiLU between, three of stride 2, the last a zero conv
//           [3, H, W] -> [C0, H/8, W/8]
//   h     = input_blocks.0(x) + hint, then the rest of the encoder copy (time, text and SDXL's y as in the U-Net)
//   down_i = zero_convs.i(skip_i)          one 1x1 conv per skip connection (12 for SD 1.5)
//   mid    = middle_block_out.0(middle)    1x1
// The U-Net then adds scale x down_i to its skip i and scale x mid to its middle output. The zero convs start at
// zero in training, so an untrained ControlNet changes nothing.
//
// Layouts: the original (control_model.*, control_v11*.pth / .safetensors) and diffusers (controlnet_cond_embedding,
// controlnet_down_blocks.N, controlnet_mid_block, the encoder in diffusers' names; a folder with config.json, or that
// folder's file). docs/controlnet.md walks through it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/blocks.h"
#include "models/unet.h"

namespace sdref {

class ControlNet {
public:
    // A file (either layout) or a diffusers folder.
    static ControlNet load(const std::string& path);

    const UNet& encoder() const { return *encoder_; }
    const std::string& source() const { return source_; }
    // The residuals for latent x at timestep t, for the control image `hint` [3, 8h, 8w] in [0, 1], times scale.
    ControlResiduals forward(const Tensor& x, float t, const Conditioning& c, const Tensor& hint, float scale,
                             const ForwardContext& ctx = {}) const;

private:
    std::shared_ptr<WeightStore> weights_;
    std::shared_ptr<UNet> encoder_;         // control_model.input_blocks / middle_block / time_embed (/ label_emb)
    std::vector<Conv> hint_;                // control_model.input_hint_block.{0,2,...,14}
    std::vector<Linear> zero_convs_;        // control_model.zero_convs.N.0 [C, C, 1, 1]
    Linear middle_out_;                     // control_model.middle_block_out.0
    std::string source_;
};

}  // namespace sdref
