// hires.h: A1111's hires fix ("Hires. fix"): a picture drawn at the size the model knows, upscaled, then drawn
// again at the larger size by img2img, so the composition comes from the first pass and the detail from the second.
//
//   first pass    generate() at W x H (the latent upscalers stop at the latents, nothing is decoded)
//   upscale       latent:         F.interpolate(latents, (H'/8, W'/8), mode="bilinear")
//                 latent-nearest: the same with mode="nearest"
//                 lanczos:        decode, PIL's Lanczos resize of the 8-bit picture to W' x H' (encoded again below)
//                 a network:      decode, a Real-ESRGAN upscale (models/upscaler.h: upscale_by the larger ratio),
//                                 then Lanczos to W' x H' where it is not that size already (A1111's resize_image)
//   second pass   generate() at W' x H' from those latents or that picture with denoising strength s: noise from the
//                 same seed, the last int(steps' * s) steps of a steps'-step schedule (img2img's rule)
// ControlNet control images are resized to W' x H' (bilinear) for the second pass.
#pragma once

#include <functional>
#include <memory>

#include "models/upscaler.h"
#include "pipeline/generate.h"

namespace sdref {

enum class HiresUpscaler { Latent, LatentNearest, Lanczos, Network };

struct HiresFix {
    int64_t width = 0, height = 0;  // the second pass's size, multiples of 8
    int steps = 0;                  // its steps (>= 1)
    float denoise = 0.7f;           // its denoising strength, in (0, 1]
    HiresUpscaler upscaler = HiresUpscaler::Latent;
    const Upscaler* network = nullptr;  // HiresUpscaler::Network's
};

// Both passes with the same seed; `make_scheduler` gives each pass a fresh scheduler. The result is the second
// pass's, its timings the sum of both.
GenerationResult generate_hires(const StableDiffusionModel& model, const GenerationParams& first, int steps, const HiresFix& hires,
                                const std::function<std::unique_ptr<Scheduler>()>& make_scheduler,
                                const std::function<void(const StepInfo&)>& on_step = nullptr);

}  // namespace sdref
