#include "pipeline/hires.h"

#include "core/error.h"
#include "pipeline/resize.h"

namespace sdref {

GenerationResult generate_hires(const StableDiffusionModel& model, const GenerationParams& first, int steps, const HiresFix& hires,
                                const std::function<std::unique_ptr<Scheduler>()>& make_scheduler,
                                const std::function<void(const StepInfo&)>& on_step) {
    // (the Engine checks a request first, in the caller's names; these guard a library caller's HiresFix)
    if (first.init_image || first.init_latents) fail("generate_hires: the hires fix is for txt2img (no init image)");
    if (hires.width <= 0 || hires.height <= 0 || hires.width % 8 || hires.height % 8)
        fail("generate_hires: the hires size must be a positive multiple of 8, got ", hires.width, "x", hires.height);
    if (hires.steps < 1) fail("generate_hires: steps must be at least 1, got ", hires.steps);
    if (!(hires.denoise > 0 && hires.denoise <= 1)) fail("generate_hires: denoise must be in (0, 1], got ", hires.denoise);

    // 1. the first pass at the base size; the latent upscalers need no picture of it
    GenerationParams p = first;
    const bool picture_upscaler = hires.upscaler == HiresUpscaler::Lanczos || hires.upscaler == HiresUpscaler::Network;
    if (hires.upscaler == HiresUpscaler::Network && !hires.network) fail("generate_hires: the Network upscaler needs its network");
    p.decode = picture_upscaler;
    const GenerationResult base = generate(model, p, *make_scheduler(), steps, on_step);

    // 2. upscale the latents, or the decoded picture
    Tensor latents;
    Image picture;
    p.width = hires.width;
    p.height = hires.height;
    if (picture_upscaler) {
        picture = tensor_to_image(base.image);
        const double scale = std::max(double(hires.width) / picture.width, double(hires.height) / picture.height);
        if (hires.upscaler == HiresUpscaler::Network && scale > 1) picture = upscale_by(*hires.network, picture, scale, 192, 8, p.forward);
        if (picture.width != hires.width || picture.height != hires.height)
            picture = pil_resize(picture, int(hires.width), int(hires.height), ResizeFilter::Lanczos);
        p.init_image = &picture;
    } else {
        latents = interpolate(base.latents, hires.height / 8, hires.width / 8,
                              hires.upscaler == HiresUpscaler::Latent ? Interpolation::Bilinear : Interpolation::Nearest);
        p.init_latents = &latents;
    }
    for (ControlSpec& c : p.controls) c.image = interpolate(c.image, hires.height, hires.width, Interpolation::Bilinear);

    // 3. the second pass: img2img at the hires size
    p.strength = hires.denoise;
    p.decode = first.decode;
    GenerationResult out = generate(model, p, *make_scheduler(), hires.steps, on_step);
    out.text_seconds += base.text_seconds;
    out.vae_seconds += base.vae_seconds;
    out.step_seconds.insert(out.step_seconds.begin(), base.step_seconds.begin(), base.step_seconds.end());
    return out;
}

}  // namespace sdref
