// clip_vision.h: CLIP's vision transformer (ViT), the image tower of the safety checker.
//
//   patches = patch_embedding(image)        [D, 224/P, 224/P]  a P x P conv with stride P, no bias
//   x = [class_embedding; patches^T] + position_embedding      [1 + (224/P)^2, D]
//   x = pre_layrnorm(x); x = layers(x)                         (not causal)
//   pooled = post_layernorm(x[0])                              [D]   the class token
// Names: vision_model.embeddings.*, vision_model.pre_layrnorm (sic), vision_model.encoder.layers.N.*,
// vision_model.post_layernorm.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/clip_text.h"

namespace sdref {

struct ClipVisionConfig {
    int64_t image_size = 224, patch_size = 14, width = 1024, layers = 24, heads = 16, ffn = 4096;
    kernels::Activation act = kernels::Activation::QuickGelu;
};

class ClipVisionEncoder {
public:
    // Tensors under `prefix` ("vision_model." within the safety checker's "vision_model."); heads 0: width / 64.
    static ClipVisionEncoder load(std::shared_ptr<const WeightStore> w, const std::string& prefix, int64_t heads);
    const ClipVisionConfig& config() const { return config_; }
    // image [3, S, S] (preprocessed, S = image_size) -> pooled [D]
    Tensor forward(const Tensor& image, const ForwardContext& ctx = {}) const;

private:
    std::shared_ptr<const WeightStore> weights_;  // keeps the memory-mapped file alive
    ClipVisionConfig config_;
    Matrix patch_embedding_;     // [D, 3, P, P]
    Tensor class_embedding_;     // [D]
    Tensor position_embedding_;  // [1 + (S/P)^2, D]
    Tensor pre_ln_w_, pre_ln_b_, post_ln_w_, post_ln_b_;  // [D]
    std::vector<ClipLayer> layers_;
};

}  // namespace sdref
