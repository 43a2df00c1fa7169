// preview.h: a cheap picture of the latents while sampling (the web page's live preview).
//
// Each latent pixel becomes one RGB pixel through an affine map, rgb = A l + b (A: [3, z]). The map is fitted to
// the model's own VAE once, by least squares: a picture of random colour patches is encoded, and every latent pixel
// is paired with the mean colour of the 8x8 block it came from. So the preview's colours follow whatever VAE the
// model has (SD's, SDXL's, the demo model's), at z*3 multiply-adds a pixel.
#pragma once

#include "core/tensor.h"
#include "models/checkpoint.h"
#include "pipeline/image.h"

namespace sdref {

class LatentPreview {
public:
    // Fit the map to `model`'s VAE (one encode of a 128x128 picture).
    static LatentPreview fit(const StableDiffusionModel& model);
    // Fit it to a finished picture: its latents [z, h, w] and the decoded image [3, 8h, 8w] in [0, 1] (the server
    // refits after every generation, so the preview follows what the model really draws).
    static LatentPreview fit(const Tensor& latents, const Tensor& image);
    // latents [z, h, w] as the sampler holds them (VAE means times the scale) -> an RGB image of w x h.
    Image render(const Tensor& latents) const;

    std::vector<float> weights;  // [3, z + 1]: A, then b in the last column
    int64_t channels = 0;        // z
};

}  // namespace sdref
