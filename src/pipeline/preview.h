// preview.h: a cheap picture of the latents while sampling (sdref --preview, the server's live preview).
//
// Each latent pixel becomes one RGB pixel through an affine map, rgb = A l + b (A: [3, z]), at z*3 multiply-adds a
// pixel. For SD 1.x/2.x and SDXL, whose VAEs everyone shares, A and b are the published 4x3 factors F of each
// family (as ComfyUI's latent_formats.py and A1111's "Approx cheap" preview use them): rgb = (F^T l + 1) / 2. A
// model with another VAE (the demo model's) gets a map fitted to its own VAE by least squares: a picture of random
// colour patches is encoded, and every latent pixel is paired with the mean colour of the 8x8 block it came from.
#pragma once

#include <optional>
#include <string>

#include "core/tensor.h"
#include "loader/checkpoint.h"
#include "pipeline/image.h"

namespace sdref {

class LatentPreview {
public:
    // The map for `model`: its family's published factors when its VAE is the family's (a 512-wide decoder), else
    // fit(model).
    static LatentPreview for_model(const StableDiffusionModel& model);
    // The published map of a family (FamilySpec::preview_factors) for a VAE with that many latent channels and that
    // decoder width, or nothing when the family publishes none or it is not the family's VAE.
    static std::optional<LatentPreview> published(const FamilySpec& family, int64_t latent_channels, int64_t decoder_width);
    // Fit the map to `model`'s VAE (one encode of a 128x128 picture).
    static LatentPreview fit(const StableDiffusionModel& model);
    // Fit it to a finished picture: its latents [z, h, w] and the decoded image [3, 8h, 8w] in [0, 1] (the server
    // refits after every generation, so the preview follows what the model really draws).
    static LatentPreview fit(const Tensor& latents, const Tensor& image);
    // latents [z, h, w] as the sampler holds them (VAE means times the scale) -> an RGB image of w x h.
    Image render(const Tensor& latents) const;

    std::vector<float> weights;  // [3, z + 1]: A, then b in the last column
    int64_t channels = 0;        // z
    bool fitted = false;         // fitted to this model's VAE (true) or its family's published factors
};

}  // namespace sdref
