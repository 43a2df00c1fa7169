// preview.h: a cheap picture of the latents while sampling (the web page's live preview).
//
// Each latent pixel becomes one RGB pixel through an affine map, rgb = A l + b (A: [3, z]). The map is fitted to
// the model's own VAE once, by least squares: a smooth random latent field is decoded, and every latent pixel is
// paired with the mean colour of the 8x8 block it decodes to. So the preview's colours follow whatever VAE the
// model has (SD's, SDXL's, the demo model's), at z*3 multiply-adds a pixel.
#pragma once

#include "core/tensor.h"
#include "models/checkpoint.h"
#include "pipeline/image.h"

namespace sdref {

class LatentPreview {
public:
    // Fit the map to `model`'s VAE decoder (one decode of a 16x16 latent).
    static LatentPreview fit(const StableDiffusionModel& model);
    // latents [z, h, w] as the sampler holds them (VAE means times the scale) -> an RGB image of w x h.
    Image render(const Tensor& latents) const;

    std::vector<float> weights;  // [3, z + 1]: A, then b in the last column
    int64_t channels = 0;        // z
};

}  // namespace sdref
