#include "pipeline/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>

#include "core/error.h"
#include "core/memory.h"
#include "core/rng.h"
#include "kernels/weight_panels.h"
#include "text/prompt_weighting.h"

namespace sdref {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Non-finite values never become a picture: a NaN or Inf in a stage's output is an error naming the stage and,
// when the model's weights hold such values, the first of those tensors.
[[noreturn]] void fail_non_finite(const StableDiffusionModel& model, const std::string& stage, const std::string& weights) {
    const std::vector<std::string> bad = model.non_finite_weights(weights);
    if (bad.empty())
        fail(stage, " produced NaN or Inf values; the model's weights are finite (an fp16 overflow or a broken model: try "
                    "another VAE or sampler); no image was written");
    fail(stage, " produced NaN or Inf values: the weights hold non-finite values in ", bad.size(), " tensor(s), first ",
         bad.front(), "; no image was written (sdref inspect --check lists them all)");
}

void require_finite(const Tensor& t, const StableDiffusionModel& model, const std::string& stage, const std::string& weights) {
    if (!all_finite(t.data(), t.numel())) fail_non_finite(model, stage, weights);
}

// A sample of the VAE posterior times the scaling factor: (mean + e^(logvar / 2) n) * scale, n from the generator.
Tensor encode_latents(const StableDiffusionModel& model, const Tensor& image, TorchGenerator& gen) {
    const VaeOutput post = model.vae().encode(image);
    const Tensor n = gen.randn(post.mean.shape());
    Tensor z(post.mean.shape());
    for (int64_t i = 0; i < z.numel(); ++i) z[i] = (post.mean[i] + std::exp(0.5f * post.logvar[i]) * n[i]) * model.info().vae_scale;
    require_finite(z, model, "the VAE encoder", "first_stage_model.");
    return z;
}

// The conditionings a model's U-Net gets in one generation: the prompt's, the negative prompt's (with guidance)
// and the safety concept's (Safe Latent Diffusion).
struct Prompts {
    Conditioning cond, uncond, concept;
};

Prompts encode_prompts(const StableDiffusionModel& model, const GenerationParams& p, bool guided, bool safe) {
    ConditioningOptions o;
    o.clip_skip = p.clip_skip;
    o.width = p.width;
    o.height = p.height;
    o.micro = p.micro;
    o.stream_weights = p.low_memory;
    const Conditioner& c = model.conditioner();
    Prompts out;
    out.cond = c.encode(p.prompt, /*negative=*/false, o);
    if (guided) out.uncond = c.encode(p.negative_prompt, /*negative=*/true, o);
    if (safe) out.concept = c.encode(p.sld.concept, /*negative=*/false, o);
    for (const Conditioning* x : {&out.cond, &out.uncond, &out.concept}) {
        require_finite(x->context, model, "the text encoder", model.text_prefix());
        require_finite(x->vector, model, "the text encoder", model.text_prefix());
    }
    model.release_text_encoder();
    return out;
}

// Nearest-neighbour downsampling of a mask [1, H, W] to the latent grid [1, H/8, W/8] (F.interpolate 'nearest').
Tensor mask_to_latent_grid(const Tensor& mask, int64_t h, int64_t w) {
    Tensor m({1, h, w});
    const int64_t H = mask.dim(1), W = mask.dim(2);
    for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) m[y * w + x] = mask[(y * H / h) * W + x * W / w];
    return m;
}

// Refuse a generation that cannot fit before it starts, instead of being killed half-way: the weights (resident
// through the mapping; --low-memory keeps about one model at a time), the U-Net's activations and the VAE
// decoder's (one tile with --low-memory), against what the machine has available now. Returns the bytes left
// spare (0 when the machine does not say).
int64_t check_memory(const StableDiffusionModel& model, const GenerationParams& p) {
    const long long available = available_memory_bytes();
    if (available < 0) return 0;
    const int64_t h = p.height / 8, w = p.width / 8;
    const int64_t text = model.weight_bytes(model.text_prefix()), unet = model.weight_bytes("model.diffusion_model."),
                  vae = model.weight_bytes("first_stage_model.");
    const int64_t weights = p.low_memory ? std::max({text, unet / 4, vae}) : text + unet + vae;
    const int64_t unet_act = model.unet().forward_bytes(h, w);
    const int64_t vae_act = p.vae_tile ? model.vae().decode_bytes(std::min(h, p.vae_tile), std::min(w, p.vae_tile))
                                       : model.vae().decode_bytes(h, w);
    const int64_t need = weights + std::max(unet_act, vae_act) + 3 * 4 * int64_t(p.width) * p.height;
    auto gb = [](double bytes) {
        char text[32];
        std::snprintf(text, sizeof text, "%.2f GB", bytes / 1e9);
        return std::string(text);
    };
    if (need > available)
        fail("-W ", p.width, " -H ", p.height, ": this generation needs about ", gb(double(need)), " (weights ", gb(double(weights)),
             ", U-Net activations ", gb(double(unet_act)), ", VAE decoder ", gb(double(vae_act)), "), the machine has ",
             gb(double(available)), " available; use a smaller size", p.low_memory ? "" : " or --low-memory");
    return available - need;
}

// The first z channels of an inpainting U-Net's 9-channel input: the latents a ControlNet reads.
Tensor latents_for_control(const Tensor& x, int64_t z) {
    Tensor l({z, x.dim(1), x.dim(2)});
    std::copy_n(x.data(), l.numel(), l.data());
    return l;
}

void add_residuals(ControlResiduals* sum, const ControlResiduals& r) {
    for (size_t i = 0; i < sum->down.size(); ++i)
        for (int64_t k = 0; k < r.down[i].numel(); ++k) sum->down[i][k] += r.down[i][k];
    for (int64_t k = 0; k < r.mid.numel(); ++k) sum->mid[k] += r.mid[k];
}

}  // namespace

SafeLatentDiffusion SafeLatentDiffusion::preset(const std::string& name) {
    SafeLatentDiffusion s;
    s.enabled = true;
    if (name == "weak") s.warmup_steps = 15, s.guidance_scale = 20, s.threshold = 0.0f, s.momentum_scale = 0.0f, s.mom_beta = 0.0f;
    else if (name == "medium") s.warmup_steps = 10, s.guidance_scale = 1000, s.threshold = 0.01f, s.momentum_scale = 0.3f, s.mom_beta = 0.4f;
    else if (name == "strong") s.warmup_steps = 7, s.guidance_scale = 2000, s.threshold = 0.025f, s.momentum_scale = 0.5f, s.mom_beta = 0.7f;
    else if (name == "max") s.warmup_steps = 0, s.guidance_scale = 5000, s.threshold = 1.0f, s.momentum_scale = 0.5f, s.mom_beta = 0.7f;
    else fail("--sld: unknown preset \"", name, "\" (weak, medium, strong, max)");
    return s;
}

GenerationResult generate(const StableDiffusionModel& model, const GenerationParams& p, Scheduler& scheduler, int steps,
                          const std::function<void(const StepInfo&)>& on_step) {
    const ModelInfo& info = model.info();
    if (p.width <= 0 || p.height <= 0 || p.width % 8 || p.height % 8)
        fail("-W/-H: the image size must be a positive multiple of 8, got ", p.width, "x", p.height);
    if (steps < 1) fail("--steps must be at least 1, got ", steps);
    if (p.strength <= 0 || p.strength > 1) fail("--strength must be in (0, 1], got ", p.strength);
    if (p.mask && !p.init_image) fail("--mask needs an init image (-i)");
    if (info.inpainting && !p.mask) fail(info.source, " is an inpainting model: it needs -i IMAGE and --mask MASK");
    if (p.refiner && p.refiner->unet().config().in_channels != model.unet().config().in_channels)
        fail("--refiner: ", p.refiner->info().source, "'s U-Net takes ", p.refiner->unet().config().in_channels,
             " input channels, the model's ", model.unet().config().in_channels);
    if (p.refiner && p.refiner->vae().latent_channels() != model.vae().latent_channels())
        fail("--refiner: ", p.refiner->info().source, " has ", p.refiner->vae().latent_channels(), " latent channels, the model ",
             model.vae().latent_channels());
    if (p.refiner_start <= 0 || p.refiner_start >= 1) fail("--refiner-start must be in (0, 1), got ", p.refiner_start);
    for (const ControlSpec& c : p.controls) {
        if (c.image.shape() != Shape{3, p.height, p.width})
            fail("--control-image: the control image is ", shape_str(c.image.shape()), ", the generation is 3 x ", p.height, " x ", p.width);
        if (c.net->encoder().config().context_dim != model.unet().config().context_dim ||
            c.net->encoder().config().adm_in_channels != model.unet().config().adm_in_channels)
            fail("--control-net: ", c.net->source(), " is a ControlNet for another model family (cross-attention width ",
                 c.net->encoder().config().context_dim, ", the model's ", model.unet().config().context_dim, ")");
        if (!(c.start >= 0 && c.start < c.end && c.end <= 1))
            fail("--control-start/--control-end: need 0 <= start < end <= 1, got ", c.start, " and ", c.end);
    }
    if (p.init_latents && (p.init_image || p.mask)) fail("img2img starts from a picture or from latents, not both");
    if (p.init_latents && p.init_latents->shape() != Shape{model.vae().latent_channels(), p.height / 8, p.width / 8})
        fail("the init latents are ", shape_str(p.init_latents->shape()), ", the generation needs ", model.vae().latent_channels(),
             " x ", p.height / 8, " x ", p.width / 8);
    const Tensor init = p.init_image ? image_to_tensor(*p.init_image) : Tensor();
    if (p.init_image && (init.dim(1) != p.height || init.dim(2) != p.width))
        fail("-i: the init image is ", init.dim(2), "x", init.dim(1), ", the requested size is ", p.width, "x", p.height);
    const Tensor mask = p.mask ? mask_to_tensor(*p.mask) : Tensor();
    if (p.mask && (mask.dim(1) != p.height || mask.dim(2) != p.width))
        fail("--mask: the mask is ", mask.dim(2), "x", mask.dim(1), ", the image is ", p.width, "x", p.height);

    int64_t spare = check_memory(model, p);
    if (p.refiner) spare = std::min(spare, check_memory(*p.refiner, p));

    GenerationResult result;
    const int64_t h = p.height / 8, w = p.width / 8, z = model.vae().latent_channels();

    // 1. text: the prompt's conditioning, and the negative prompt's when guidance is on (for the refiner too)
    auto t0 = std::chrono::steady_clock::now();
    const bool guided = p.cfg_scale > 1.0f;
    const bool safe = p.sld.enabled && guided && p.sld.guidance_scale > 1.0f;
    const Prompts prompts = encode_prompts(model, p, guided, safe);
    const Prompts refiner_prompts = p.refiner ? encode_prompts(*p.refiner, p, guided, safe) : Prompts();
    Tensor momentum = safe ? Tensor({z, h, w}) : Tensor();
    result.text_seconds = seconds_since(t0);
    return_free_memory();

    // 2. schedule: img2img and inpainting with strength < 1 start part-way
    scheduler.set_timesteps(steps);
    const bool from_picture = p.init_image || p.init_latents;
    const int init_steps = from_picture ? std::min(int(float(steps) * p.strength), steps) : steps;
    const int t_start = std::max(steps - init_steps, 0);
    const size_t begin = size_t(t_start) * size_t(scheduler.order());
    if (begin >= scheduler.timesteps().size()) fail("--strength ", p.strength, " leaves no step to run with --steps ", steps);
    scheduler.set_begin_index(begin);

    // 3. starting latents, drawn from the generator in the reference's order
    TorchGenerator gen(p.seed);
    const bool full_strength = p.strength >= 1.0f;
    Tensor image_latents, noise, latents, masked_latents, latent_mask;
    if (from_picture && !p.mask) {
        image_latents = p.init_latents ? *p.init_latents : encode_latents(model, init, gen);
        noise = gen.randn({z, h, w});
        latents = scheduler.add_noise(image_latents, noise, begin);
    } else if (p.mask) {
        const bool legacy = !info.inpainting;
        if (legacy || !full_strength) image_latents = encode_latents(model, init, gen);
        noise = gen.randn({z, h, w});
        if (legacy && p.masked_content != MaskedContent::Original) {
            // the repainted area starts from fresh noise or from zeros instead of the image; the rest is kept
            const Tensor fill = p.masked_content == MaskedContent::LatentNoise ? gen.randn({z, h, w}) : Tensor({z, h, w});
            const Tensor m = mask_to_latent_grid(mask, h, w);
            for (int64_t c = 0; c < z; ++c)
                for (int64_t i = 0; i < h * w; ++i)
                    if (m[i] > 0.5f) image_latents[c * h * w + i] = fill[c * h * w + i];
        }
        if (full_strength) {
            latents = noise;
            for (int64_t i = 0; i < latents.numel(); ++i) latents[i] = latents[i] * scheduler.init_noise_sigma();
        } else {
            latents = scheduler.add_noise(image_latents, noise, begin);
        }
        // the masked image (repainted area set to 0) and the mask on the latent grid
        Tensor masked(init.shape());
        for (int64_t c = 0; c < 3; ++c)
            for (int64_t i = 0; i < init.dim(1) * init.dim(2); ++i)
                masked[c * init.dim(1) * init.dim(2) + i] = mask[i] < 0.5f ? init[c * init.dim(1) * init.dim(2) + i] : 0.0f;
        latent_mask = mask_to_latent_grid(mask, h, w);
        masked_latents = encode_latents(model, masked, gen);
    } else {
        latents = gen.randn({z, h, w});
        for (int64_t i = 0; i < latents.numel(); ++i) latents[i] = latents[i] * scheduler.init_noise_sigma();
    }
    if (p.init_image) {  // the VAE encoder is done: give its memory back before the U-Net runs
        model.release_vae();
        return_free_memory();
    }

    // 4. the sampler loop; with a refiner, its U-Net takes the calls whose timestep is below the hand-over
    //    point t < T (1 - refiner_start) (diffusers' denoising_end / denoising_start), from the same latents
    const std::vector<float>& timesteps = scheduler.timesteps();
    const size_t calls = timesteps.size() - begin;
    const int order = scheduler.order();
    const size_t warmup = calls > size_t(steps - t_start) * size_t(order) ? calls - size_t(steps - t_start) * size_t(order) : 0;
    const float cutoff = std::round(float(scheduler.config().num_train_timesteps) * (1.0f - p.refiner_start));
    const int64_t unet_in = model.unet().config().in_channels;
    int reported = 0;
    bool handed_over = false;
    {
        // every call reads the same weights: packed once into the kernel's panels, kept with the model for its next
        // generation, in half of the memory left spare (weight_panels.h: the same bits as packing them per call);
        // --low-memory streams them from the file instead
        const int64_t budget = p.low_memory ? 0 : spare / 2;
        std::optional<kernels::WeightPanels::Scope> packing;
        packing.emplace(model.unet_panels(), model.weight_owner(), budget);
        for (size_t call = 0; call < calls; ++call) {
            const auto ts = std::chrono::steady_clock::now();
            const size_t idx = begin + call;
            const float t = timesteps[idx];
            if (p.refiner && !handed_over && t < cutoff) {  // the base model is done: give its memory back
                handed_over = true;
                model.release_unet();
                packing.reset();
                model.unet_panels().clear();
                return_free_memory();
                packing.emplace(p.refiner->unet_panels(), p.refiner->weight_owner(), budget);
            }
            const StableDiffusionModel& m = handed_over ? *p.refiner : model;
            const Prompts& c = handed_over ? refiner_prompts : prompts;
            Tensor x = latents;
            scheduler.scale_model_input(x);
            if (unet_in == 9) {  // inpainting U-Net input: latents, mask, masked-image latents
                Tensor cat({9, h, w});
                std::copy_n(x.data(), z * h * w, cat.data());
                std::copy_n(latent_mask.data(), h * w, cat.data() + z * h * w);
                std::copy_n(masked_latents.data(), z * h * w, cat.data() + (z + 1) * h * w);
                x = cat;
            }
            // ControlNet residuals for one conditioning, summed over the ControlNets active at this call
            const Tensor control_input = p.controls.empty() ? Tensor() : unet_in == 9 ? latents_for_control(x, z) : x;
            auto control = [&](const Conditioning& cond, ControlResiduals* sum) -> const ControlResiduals* {
                bool any = false;
                for (const ControlSpec& cs : p.controls) {
                    const float n = float(calls);
                    if (float(call) / n < cs.start || float(call + 1) / n > cs.end) continue;
                    ControlResiduals r = cs.net->forward(control_input, t, cond, cs.image, cs.strength);
                    if (!any) *sum = std::move(r);
                    else add_residuals(sum, r);
                    any = true;
                }
                return any ? sum : nullptr;
            };
            ControlResiduals residuals;
            Tensor eps = m.unet().forward(x, t, c.cond, p.low_memory, control(c.cond, &residuals));
            if (guided) {
                // eps = eps_uncond + s (eps_cond - eps_uncond), Safe Latent Diffusion subtracting its safety guidance
                const Tensor eps_uncond = m.unet().forward(x, t, c.uncond, p.low_memory, control(c.uncond, &residuals));
                Tensor guidance(eps.shape());
                for (int64_t i = 0; i < eps.numel(); ++i) guidance[i] = eps[i] - eps_uncond[i];
                if (safe) {
                    const Tensor eps_concept = m.unet().forward(x, t, c.concept, p.low_memory, control(c.concept, &residuals));
                    const SafeLatentDiffusion& s = p.sld;
                    for (int64_t i = 0; i < eps.numel(); ++i) {
                        const float d = eps[i] - eps_concept[i];
                        const float scale = d >= s.threshold ? 0.0f : std::min(std::fabs(d) * s.guidance_scale, 1.0f);
                        const float g_s = (eps_concept[i] - eps_uncond[i]) * scale + s.momentum_scale * momentum[i];
                        momentum[i] = s.mom_beta * momentum[i] + (1 - s.mom_beta) * g_s;
                        if (call >= size_t(s.warmup_steps)) guidance[i] = guidance[i] - g_s;
                    }
                }
                for (int64_t i = 0; i < eps.numel(); ++i) eps[i] = eps_uncond[i] + p.cfg_scale * guidance[i];
            }
            scheduler.step(eps, latents, gen);
            if (!all_finite(latents.data(), latents.numel()))  // (the stage's name is only built on failure)
                fail_non_finite(m, "the U-Net at step " + std::to_string(call / size_t(order) + 1) + " of " + std::to_string(steps - t_start),
                                "model.diffusion_model.");
            if (p.mask && !info.inpainting) {
                // keep the unmasked area: the init latents noised to the next call's level
                Tensor proper = image_latents;
                if (call + 1 < calls) proper = scheduler.add_noise(image_latents, noise, idx + 1);
                for (int64_t c = 0; c < z; ++c)
                    for (int64_t i = 0; i < h * w; ++i)
                        latents[c * h * w + i] = (1 - latent_mask[i]) * proper[c * h * w + i] + latent_mask[i] * latents[c * h * w + i];
            }
            result.step_seconds.push_back(seconds_since(ts));
            // a step is complete after `order` calls; PNDM's extra warm-up call is not a step of its own
            if (call + 1 == calls || (call + 1 > warmup && (call + 1) % size_t(order) == 0)) {
                ++reported;
                if (on_step) on_step({reported, steps - t_start, latents});
            }
        }
    }
    result.latents = latents;
    model.release_unet();
    if (p.refiner) p.refiner->release_unet();
    return_free_memory();

    if (!p.decode) return result;

    // 5. decode (with the refiner's VAE when one took over): image = clamp(vae(latents / scale) / 2 + 1/2, 0, 1)
    t0 = std::chrono::steady_clock::now();
    const StableDiffusionModel& decoder = handed_over ? *p.refiner : model;
    Tensor scaled = latents;
    for (int64_t i = 0; i < scaled.numel(); ++i) scaled[i] = scaled[i] / decoder.info().vae_scale;
    Tensor image = p.vae_tile ? decoder.vae().decode_tiled(scaled, p.vae_tile, Vae::kOverlap, p.low_memory) : decoder.vae().decode(scaled);
    require_finite(image, decoder, "the VAE decoder", "first_stage_model.");
    for (int64_t i = 0; i < image.numel(); ++i) image[i] = std::min(std::max(image[i] / 2 + 0.5f, 0.0f), 1.0f);
    result.image = image;
    result.vae_seconds = seconds_since(t0);
    decoder.release_vae();
    return_free_memory();
    return result;
}

}  // namespace sdref
