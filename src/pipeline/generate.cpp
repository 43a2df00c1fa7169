#include "pipeline/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>

#include "core/error.h"
#include "core/memory.h"
#include "core/rng.h"
#include "kernels/ukernel.h"
#include "kernels/weight_panels.h"
#include "models/controlnet.h"

namespace sdref {

namespace {

using Part = StableDiffusionModel::Part;

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Non-finite values never become a picture: a NaN or Inf in a stage's output is an error naming the stage and,
// when the model's weights hold such values, the first of those tensors.
[[noreturn]] void fail_non_finite(const StableDiffusionModel& model, const std::string& stage, Part part) {
    const std::vector<std::string> bad = model.non_finite_weights(part);
    if (bad.empty())
        fail(stage, " produced NaN or Inf values; the model's weights are finite (an fp16 overflow or a broken model: try "
                    "another VAE or sampler); no image was written");
    fail(stage, " produced NaN or Inf values: the weights hold non-finite values in ", bad.size(), " tensor(s), first ",
         bad.front(), "; no image was written (sdref inspect --check lists them all)");
}

void require_finite(const Tensor& t, const StableDiffusionModel& model, const std::string& stage, Part part) {
    if (!all_finite(t.data(), t.numel())) fail_non_finite(model, stage, part);
}

// ---- validate ----------------------------------------------------------------------------------------------

// Guidance runs the denoiser twice a call (prompt, negative prompt), Safe Latent Diffusion a third time.
bool guided(const GenerationParams& p) { return p.cfg_scale > 1.0f; }
bool safe(const GenerationParams& p) { return p.sld.enabled && guided(p) && p.sld.guidance_scale > 1.0f; }

// A fraction as the user wrote it (up to 6 decimals), in double: 0.6f is 0.6000000238, and 5 x 0.6 must be 3 where a
// rule rounds N x fraction down, as Python's float arithmetic does in the reference pipelines.
double as_written(float fraction) { return std::round(double(fraction) * 1e6) / 1e6; }

// Whether the parameters make a generation at all. The Engine checks a request first, naming the caller's own
// flags or fields (app/engine.cpp); these errors are for a library caller's GenerationParams, in their names.
void validate(const StableDiffusionModel& model, const GenerationParams& p, int steps) {
    const DenoiserInfo& info = model.denoiser().info();
    if (p.width <= 0 || p.height <= 0 || p.width % 8 || p.height % 8)
        fail("generate: width and height must be positive multiples of 8, got ", p.width, "x", p.height);
    if (steps < 1) fail("generate: steps must be at least 1, got ", steps);
    if (p.strength <= 0 || p.strength > 1) fail("generate: strength must be in (0, 1], got ", p.strength);
    if (p.mask && !p.init_image) fail("generate: a mask needs an init image");
    if (info.inpainting && !p.mask) fail("generate: ", model.info().source, " is an inpainting model: it needs an init image and a mask");
    if (p.refiner) {
        if (const std::string why = refiner_mismatch(model, *p.refiner); !why.empty()) fail("generate: the refiner ", why);
        if (p.refiner_start <= 0 || p.refiner_start >= 1) fail("generate: refiner_start must be in (0, 1), got ", p.refiner_start);
    }
    for (const ControlSpec& c : p.controls) {
        if (c.image.shape() != Shape{3, p.height, p.width})
            fail("generate: a control image is ", shape_str(c.image.shape()), ", the generation 3 x ", p.height, " x ", p.width);
        if (const std::string why = model.denoiser().control_mismatch(*c.net); !why.empty()) fail("generate: ", why);
        if (!(c.start >= 0 && c.start < c.end && c.end <= 1))
            fail("generate: a ControlNet needs 0 <= start < end <= 1, got ", c.start, " and ", c.end);
    }
    if (p.slg.scale > 0) {
        if (info.layers == 0) fail("generate: skip-layer guidance needs a transformer denoiser; the model's is the ", model.denoiser().name());
        if (!guided(p)) fail("generate: skip-layer guidance works with classifier-free guidance: the guidance scale must be above 1");
        for (int l : p.slg.layers)
            if (l < 0 || l >= info.layers) fail("generate: skip-layer guidance: layer ", l, " is not one of the transformer's blocks 0 to ", info.layers - 1);
        if (!(p.slg.start >= 0 && p.slg.start < p.slg.end && p.slg.end <= 1))
            fail("generate: skip-layer guidance needs 0 <= start < end <= 1, got ", p.slg.start, " and ", p.slg.end);
    }
    if (p.init_latents && (p.init_image || p.mask)) fail("generate: img2img starts from a picture or from latents, not both");
    if (p.init_latents && p.init_latents->shape() != Shape{info.latent_channels, p.height / 8, p.width / 8})
        fail("generate: the init latents are ", shape_str(p.init_latents->shape()), ", the generation needs ", info.latent_channels, " x ",
             p.height / 8, " x ", p.width / 8);
    if (p.init_image && (p.init_image->height != p.height || p.init_image->width != p.width))
        fail("generate: the init image is ", p.init_image->width, "x", p.init_image->height, ", the generation ", p.width, "x", p.height);
    if (p.mask && (p.mask->height != p.height || p.mask->width != p.width))
        fail("generate: the mask is ", p.mask->width, "x", p.mask->height, ", the image ", p.width, "x", p.height);
}

// Refuse a generation that cannot fit before it starts, instead of being killed half-way (memory_need, generate.h).
// Returns the bytes left spare (0 when the machine does not say).
int64_t check_memory(const StableDiffusionModel& model, const GenerationParams& p) {
    const MemoryNeed m = memory_need(model, p);
    if (m.available < 0) return 0;
    if (m.total > m.available) fail("generate: ", p.width, "x", p.height, ": ", m.describe(model));
    return m.available - m.total;
}

// ---- conditioning ------------------------------------------------------------------------------------------

// The conditionings a model's denoiser gets in one generation: the prompt's, the negative prompt's (with
// guidance) and the safety concept's (Safe Latent Diffusion).
struct Prompts {
    Conditioning cond, uncond, concept;
};

Prompts encode_prompts(const StableDiffusionModel& model, const GenerationParams& p) {
    ConditioningOptions o;
    o.clip_skip = p.clip_skip;
    o.width = p.width;
    o.height = p.height;
    o.micro = p.micro;
    o.forward = p.forward;
    o.max_sequence_length = p.max_sequence_length;
    const Conditioner& c = model.conditioner();
    Prompts out;
    out.cond = c.encode(p.prompt, /*negative=*/false, o);
    if (guided(p)) out.uncond = c.encode(p.negative_prompt, /*negative=*/true, o);
    if (safe(p)) out.concept = c.encode(p.sld.concept, /*negative=*/false, o);
    for (const Conditioning* x : {&out.cond, &out.uncond, &out.concept}) {
        require_finite(x->context, model, "the text encoder", Part::TextEncoder);
        require_finite(x->vector, model, "the text encoder", Part::TextEncoder);
    }
    model.release(Part::TextEncoder);
    return out;
}

// ---- schedule ----------------------------------------------------------------------------------------------

// The first step of N that img2img runs at strength s: N - int(N s) (diffusers' U-Net pipelines, A1111), or
// int(N - N s) (diffusers' SD 3 pipelines).
int first_step(const DenoiserInfo& info, int steps, float strength) {
    if (info.start_step_rounds_down) return int(std::max(double(steps) - double(steps) * as_written(strength), 0.0));
    return std::max(steps - std::min(int(float(steps) * strength), steps), 0);
}

// ---- initial latents ---------------------------------------------------------------------------------------

// A sample of the VAE posterior, shifted and scaled: ((mean + e^(logvar / 2) n) - shift) * scale, n from the generator.
Tensor encode_latents(const StableDiffusionModel& model, const Tensor& image, NoiseSource& gen, const ForwardContext& ctx) {
    const DenoiserInfo& info = model.denoiser().info();
    const VaeOutput post = model.vae().encode(image, ctx);
    const Tensor n = gen.randn(post.mean.shape());
    Tensor z(post.mean.shape());
    for (int64_t i = 0; i < z.numel(); ++i) z[i] = (post.mean[i] + std::exp(0.5f * post.logvar[i]) * n[i] - info.vae_shift) * info.vae_scale;
    require_finite(z, model, "the VAE encoder", Part::Vae);
    return z;
}

// Nearest-neighbour downsampling of a mask [1, H, W] to the latent grid [1, H/8, W/8] (F.interpolate 'nearest').
Tensor mask_to_latent_grid(const Tensor& mask, int64_t h, int64_t w) {
    Tensor m({1, h, w});
    const int64_t H = mask.dim(1), W = mask.dim(2);
    for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) m[y * w + x] = mask[(y * H / h) * W + x * W / w];
    return m;
}

// Where sampling starts, and what inpainting keeps beside it.
struct Start {
    Tensor latents;          // [z, h, w] the first call's input
    Tensor image_latents;    // img2img / legacy inpainting: the init picture's latents
    Tensor noise;            // the noise they were noised with (legacy inpainting re-noises them every step)
    Tensor mask;             // inpainting: the mask on the latent grid [1, h, w]
    Tensor masked_latents;   // inpainting: the masked picture's latents [z, h, w]
};

// Fill the repainted area of the init latents with fresh noise or zeros instead of the picture (A1111's "latent
// noise", "latent nothing"; "original" keeps the picture).
void fill_masked_latents(Tensor& latents, const Tensor& mask, MaskedContent content, NoiseSource& gen) {
    if (content == MaskedContent::Original) return;
    const int64_t z = latents.dim(0), h = latents.dim(1), w = latents.dim(2);
    const Tensor fill = content == MaskedContent::LatentNoise ? gen.randn({z, h, w}) : Tensor({z, h, w});
    const Tensor m = mask_to_latent_grid(mask, h, w);
    for (int64_t c = 0; c < z; ++c)
        for (int64_t i = 0; i < h * w; ++i)
            if (m[i] > 0.5f) latents[c * h * w + i] = fill[c * h * w + i];
}

// The starting latents, drawn from the generator in the reference's order: txt2img pure noise; img2img the
// picture's latents noised to the first call's level; inpainting as img2img (or pure noise at full strength) plus
// the mask and the masked picture's latents.
Start initial_latents(const StableDiffusionModel& model, const GenerationParams& p, const Scheduler& scheduler, size_t begin,
                      std::unique_ptr<NoiseSource>& generator) {
    // the picture's starting noise: the seed's (A1111's variation seed and resize-from on it); `generator` then
    // draws what the sampler needs later
    auto starting_noise = [&](const Shape& shape) { return seed_noise(generator, p.rng, p.seed, p.variation, shape); };
    const DenoiserInfo& info = model.denoiser().info();
    const int64_t h = p.height / 8, w = p.width / 8, z = info.latent_channels;
    const bool full_strength = p.strength >= 1.0f;
    const Tensor init = p.init_image ? image_to_tensor(*p.init_image) : Tensor();
    Start s;
    if ((p.init_image || p.init_latents) && !p.mask) {
        s.image_latents = p.init_latents ? *p.init_latents : encode_latents(model, init, *generator, p.forward);
        s.noise = starting_noise({z, h, w});
        s.latents = scheduler.add_noise(s.image_latents, s.noise, begin);
    } else if (p.mask) {
        const Tensor mask = mask_to_tensor(*p.mask);
        const bool legacy = !info.inpainting;
        if (legacy || !full_strength) s.image_latents = encode_latents(model, init, *generator, p.forward);
        s.noise = starting_noise({z, h, w});
        if (legacy) fill_masked_latents(s.image_latents, mask, p.masked_content, *generator);
        if (full_strength) {
            s.latents = s.noise;
            for (int64_t i = 0; i < s.latents.numel(); ++i) s.latents[i] = s.latents[i] * scheduler.init_noise_sigma();
        } else {
            s.latents = scheduler.add_noise(s.image_latents, s.noise, begin);
        }
        // the masked image (repainted area set to 0) and the mask on the latent grid
        Tensor masked(init.shape());
        const int64_t HW = init.dim(1) * init.dim(2);
        for (int64_t c = 0; c < 3; ++c)
            for (int64_t i = 0; i < HW; ++i) masked[c * HW + i] = mask[i] < 0.5f ? init[c * HW + i] : 0.0f;
        s.mask = mask_to_latent_grid(mask, h, w);
        s.masked_latents = encode_latents(model, masked, *generator, p.forward);
    } else {
        s.latents = starting_noise({z, h, w});
        for (int64_t i = 0; i < s.latents.numel(); ++i) s.latents[i] = s.latents[i] * scheduler.init_noise_sigma();
    }
    if (p.init_image) {  // the VAE encoder is done: give its memory back before the denoiser runs
        model.release(Part::Vae);
        return_free_memory();
    }
    return s;
}

// ---- sample: guidance and the strategies around the denoiser -----------------------------------------------

// Classifier-free guidance, with Safe Latent Diffusion's term when it is on (generate.h has SLD's formulas):
//   guidance = eps_cond - eps_uncond [- g_s from SLD's warm-up on];   eps = eps_uncond + s guidance
class Guidance {
public:
    Guidance(const GenerationParams& p, bool with_sld, const Shape& latent) : p_(p), safe_(with_sld), momentum_(with_sld ? Tensor(latent) : Tensor()) {}

    // The guided prediction of call `call` from the conditional, unconditional, (SLD) concept and (skip-layer
    // guidance) skipped-layer predictions.
    Tensor combine(Tensor eps, const Tensor& eps_uncond, const Tensor* eps_concept, const Tensor* eps_skip, size_t call) {
        const kernels::Backend& ops = p_.forward.ops();
        Tensor guidance = Tensor::uninitialized(eps.shape()), skip_term;
        ops.sub(eps.data(), eps_uncond.data(), guidance.data(), eps.numel());
        if (eps_skip) {  // (v_cond - v_skip), before eps turns into the guided prediction
            skip_term = Tensor::uninitialized(eps.shape());
            ops.sub(eps.data(), eps_skip->data(), skip_term.data(), eps.numel());
        }
        if (safe_) safety_guidance(guidance, eps, eps_uncond, *eps_concept, call);
        ops.add_scaled(eps_uncond.data(), p_.cfg_scale, guidance.data(), eps.data(), eps.numel());
        if (eps_skip) ops.add_scaled(eps.data(), p_.slg.scale, skip_term.data(), eps.data(), eps.numel());
        return eps;
    }

private:
    // Safe Latent Diffusion's term (generate.h has its formulas), subtracted from the guidance from its warm-up on
    void safety_guidance(Tensor& guidance, const Tensor& eps, const Tensor& eps_uncond, const Tensor& eps_concept, size_t call) {
        const SafeLatentDiffusion& s = p_.sld;
        p_.forward.ops().safety_guidance(eps.data(), eps_uncond.data(), eps_concept.data(), momentum_.data(), guidance.data(), eps.numel(),
                                         {s.threshold, s.guidance_scale, s.momentum_scale, s.mom_beta}, call >= size_t(s.warmup_steps));
    }

    const GenerationParams& p_;
    bool safe_;
    Tensor momentum_;
};

// Inpainting with an ordinary model: after every step the unmasked area is set back to the init latents,
// noised to the next call's level (the last step: the init latents themselves).
void restore_unmasked(Tensor& latents, const Start& s, const Scheduler& scheduler, size_t next, bool last) {
    const Tensor proper = last ? s.image_latents : scheduler.add_noise(s.image_latents, s.noise, next);
    const int64_t z = latents.dim(0), hw = latents.dim(1) * latents.dim(2);
    for (int64_t c = 0; c < z; ++c)
        for (int64_t i = 0; i < hw; ++i) latents[c * hw + i] = (1 - s.mask[i]) * proper[c * hw + i] + s.mask[i] * latents[c * hw + i];
}

// The model for each call: the base model's denoiser, then (SDXL's ensemble of experts) the refiner's for the
// calls whose timestep is below the hand-over point t < T (1 - refiner_start) (diffusers' denoising_end /
// denoising_start), from the same latents. Each model's weights are packed once into the GEMM's panels for its
// calls (weight_panels.h: the same bits as packing them per call), in `budget` bytes, where the backend packs
// (context(): the generation's ForwardContext with that backend).
class HandOver {
public:
    HandOver(const StableDiffusionModel& base, const Prompts& base_prompts, const StableDiffusionModel* refiner,
             const Prompts& refiner_prompts, float cutoff, const ForwardContext& ctx, int64_t budget)
        : base_(base), refiner_(refiner), base_prompts_(base_prompts), refiner_prompts_(refiner_prompts), cutoff_(cutoff),
          kernel_(kernels::micro_kernel_for(ctx.precision)), budget_(budget), ctx_(ctx) {
        pack(base);
    }

    // The model that runs the call at timestep t (handing over, and giving the base model's memory back, once).
    const StableDiffusionModel& model_for(float t) {
        if (refiner_ && !handed_over_ && t < cutoff_) {
            handed_over_ = true;
            base_.release(Part::Denoiser);
            packing_.reset();
            base_.denoiser_panels().clear();
            return_free_memory();
            pack(*refiner_);
        }
        return handed_over_ ? *refiner_ : base_;
    }
    const Prompts& prompts() const { return handed_over_ ? refiner_prompts_ : base_prompts_; }
    const ForwardContext& context() const { return ctx_; }
    // The model whose VAE decodes: the one that made the last latents.
    const StableDiffusionModel& last() const { return handed_over_ ? *refiner_ : base_; }

private:
    const StableDiffusionModel& base_;
    const StableDiffusionModel* refiner_;
    const Prompts &base_prompts_, &refiner_prompts_;
    float cutoff_;
    const kernels::MicroKernelInfo& kernel_;  // the products' micro-kernel, whose layout the panels take
    int64_t budget_;
    bool handed_over_ = false;
    ForwardContext ctx_;
    std::unique_ptr<kernels::Backend> packing_backend_;
    std::optional<kernels::WeightPanels::Scope> packing_;

    // `model`'s calls run on a backend that packs its weights into the model's panels (where the backend packs)
    void pack(const StableDiffusionModel& model) {
        packing_backend_ = ctx_.ops().packing_into(model.denoiser_panels());
        if (!packing_backend_) return;
        packing_.emplace(model.denoiser_panels(), model.weight_owner(), kernel_, budget_);
        ctx_.backend = packing_backend_.get();
    }
};

// The sampling loop from `start` to the final latents (left in start.latents): per call, the denoiser once per
// conditioning, guidance, the scheduler's step, inpainting's restore; the model whose VAE decodes is returned.
const StableDiffusionModel& sample(const StableDiffusionModel& model, const GenerationParams& p, const Prompts& prompts,
                                   const Prompts& refiner_prompts, Scheduler& scheduler, int steps, int t_start, Start& start,
                                   NoiseSource& gen, int64_t spare, GenerationResult& result,
                                   const std::function<void(const StepInfo&)>& on_step) {
    const ForwardContext& ctx = p.forward;
    const size_t begin = scheduler.step_index();
    const std::vector<float>& timesteps = scheduler.timesteps();
    const size_t calls = timesteps.size() - begin;
    const int order = scheduler.order();
    const size_t warmup = calls > size_t(steps - t_start) * size_t(order) ? calls - size_t(steps - t_start) * size_t(order) : 0;
    // a step is complete after `order` calls; PNDM's extra warm-up call is not a step of its own (and a schedule that
    // plans more steps than asked, as ddim_uniform may, reports the steps it runs)
    auto completes_step = [&](size_t call) { return call + 1 == calls || (call + 1 > warmup && (call + 1) % size_t(order) == 0); };
    int total = 0;
    for (size_t call = 0; call < calls; ++call) total += completes_step(call);
    const float cutoff = std::round(float(scheduler.config().num_train_timesteps) * (1.0f - p.refiner_start));
    Guidance guidance(p, safe(p), start.latents.shape());
    // skip-layer guidance's steps: N start < i < N end (strict), i counted from 0 over the calls run
    auto skips_layers = [&](size_t call) {
        const double i = double(call / size_t(order));
        return p.slg.scale > 0 && double(steps) * as_written(p.slg.start) < i && i < double(steps) * as_written(p.slg.end);
    };
    // (every call reads the same weights: packed once, in half of the memory left spare; --low-memory streams them)
    HandOver hand_over(model, prompts, p.refiner, refiner_prompts, cutoff, ctx, ctx.stream_weights ? 0 : spare / 2);
    int reported = 0;
    for (size_t call = 0; call < calls; ++call) {
        const auto ts = std::chrono::steady_clock::now();
        const size_t idx = begin + call;
        const float t = timesteps[idx];
        const StableDiffusionModel& m = hand_over.model_for(t);
        const Prompts& c = hand_over.prompts();
        Tensor x = start.latents;
        scheduler.scale_model_input(x);
        DenoiserInputs in;
        if (m.denoiser().info().inpainting) in.mask = &start.mask, in.masked_latents = &start.masked_latents;
        for (const ControlSpec& cs : p.controls)
            if (float(call) / float(calls) >= cs.start && float(call + 1) / float(calls) <= cs.end) in.controls.push_back(&cs);
        const ForwardContext& call_ctx = hand_over.context();
        Tensor eps = m.denoiser().predict(x, t, c.cond, in, call_ctx);
        if (guided(p)) {
            const Tensor eps_uncond = m.denoiser().predict(x, t, c.uncond, in, call_ctx);
            const Tensor eps_concept = safe(p) ? m.denoiser().predict(x, t, c.concept, in, call_ctx) : Tensor();
            Tensor eps_skip;
            if (skips_layers(call)) {
                DenoiserInputs skipping = in;
                skipping.skip_layers.insert(p.slg.layers.begin(), p.slg.layers.end());
                eps_skip = m.denoiser().predict(x, t, c.cond, skipping, call_ctx);
            }
            eps = guidance.combine(std::move(eps), eps_uncond, &eps_concept, eps_skip.numel() ? &eps_skip : nullptr, call);
        }
        scheduler.step(eps, start.latents, gen);
        if (!all_finite(start.latents.data(), start.latents.numel()))  // (the stage's name is only built on failure)
            fail_non_finite(m, std::string("the ") + m.denoiser().name() + " at step " + std::to_string(call / size_t(order) + 1) +
                                   " of " + std::to_string(total), Part::Denoiser);
        if (p.mask && !m.denoiser().info().inpainting) restore_unmasked(start.latents, start, scheduler, idx + 1, call + 1 == calls);
        result.step_seconds.push_back(seconds_since(ts));
        if (completes_step(call)) {
            ++reported;
            if (on_step) on_step({reported, total, start.latents});
        }
    }
    return hand_over.last();
}

// ---- decode ------------------------------------------------------------------------------------------------

// image = clamp(vae(latents / scale + shift) / 2 + 1/2, 0, 1), or clamp(taesd(latents), 0, 1)
Tensor decode(const StableDiffusionModel& decoder, const GenerationParams& p, const Tensor& latents) {
    if (p.taesd) {
        Tensor image = p.taesd->decode(latents, p.forward);
        require_finite(image, decoder, "TAESD", Part::Vae);
        for (int64_t i = 0; i < image.numel(); ++i) image[i] = std::min(std::max(image[i], 0.0f), 1.0f);
        return image;
    }
    const DenoiserInfo& info = decoder.denoiser().info();
    Tensor scaled = latents;
    for (int64_t i = 0; i < scaled.numel(); ++i) scaled[i] = scaled[i] / info.vae_scale + info.vae_shift;
    Tensor image = p.vae_tile ? decoder.vae().decode_tiled(scaled, p.vae_tile, Vae::kOverlap, p.forward)
                                : decoder.vae().decode(scaled, p.forward);
    require_finite(image, decoder, "the VAE decoder", Part::Vae);
    for (int64_t i = 0; i < image.numel(); ++i) image[i] = std::min(std::max(image[i] / 2 + 0.5f, 0.0f), 1.0f);
    decoder.release(Part::Vae);
    return_free_memory();
    return image;
}

}  // namespace

MemoryNeed memory_need(const StableDiffusionModel& model, const GenerationParams& p) {
    MemoryNeed m;
    m.available = available_memory_bytes();
    const int64_t h = p.height / 8, w = p.width / 8;
    const int64_t text = model.weight_bytes(Part::TextEncoder), denoiser = model.weight_bytes(Part::Denoiser), vae = model.weight_bytes(Part::Vae);
    // each phase holds its own part's weights, resident through the mapping and given back when the phase ends (the
    // text encoders, then the denoiser, then the VAE; --low-memory keeps about a quarter of a part, one layer at a
    // time), with the denoiser's activations or the VAE decoder's (one tile with tiling); and the pictures
    auto resident = [&](int64_t bytes) { return p.forward.stream_weights ? bytes / 4 : bytes; };
    m.weights = std::max({resident(text), resident(denoiser), vae});
    m.denoiser = model.denoiser().predict_bytes(h, w);
    m.vae = p.vae_tile ? model.vae().decode_bytes(std::min(h, p.vae_tile), std::min(w, p.vae_tile)) : model.vae().decode_bytes(h, w);
    m.total = std::max({resident(text), resident(denoiser) + m.denoiser, vae + m.vae}) + 3 * 4 * int64_t(p.width) * p.height;
    if (p.refiner) {
        GenerationParams without = p;
        without.refiner = nullptr;
        const MemoryNeed r = memory_need(*p.refiner, without);
        if (r.total > m.total) m = r;
    }
    return m;
}

std::string MemoryNeed::describe(const StableDiffusionModel& model) const {
    auto gb = [](double bytes) {
        char text[32];
        std::snprintf(text, sizeof text, "%.2f GB", bytes / 1e9);
        return std::string(text);
    };
    return cat("this generation needs about ", gb(double(total)), " (the largest part's weights ", gb(double(weights)), ", ",
               model.denoiser().name(), " activations ", gb(double(denoiser)), ", VAE decoder ", gb(double(vae)), "), the machine has ",
               gb(double(available)), " available");
}

std::string refiner_mismatch(const StableDiffusionModel& model, const StableDiffusionModel& refiner) {
    const DenoiserInfo &m = model.denoiser().info(), &r = refiner.denoiser().info();
    if (r.inpainting != m.inpainting)
        return cat(refiner.info().source, " is ", r.inpainting ? "" : "not ", "an inpainting model, the model is ", m.inpainting ? "" : "not ", "one");
    if (r.latent_channels != m.latent_channels)
        return cat(refiner.info().source, " has ", r.latent_channels, " latent channels, the model ", m.latent_channels);
    return "";
}

SafeLatentDiffusion SafeLatentDiffusion::preset(const std::string& name) {
    SafeLatentDiffusion s;  // medium
    s.enabled = true;
    if (name == "weak") s.warmup_steps = 15, s.guidance_scale = 20, s.threshold = 0.0f, s.momentum_scale = 0.0f, s.mom_beta = 0.0f;
    else if (name == "strong") s.warmup_steps = 7, s.guidance_scale = 2000, s.threshold = 0.025f, s.momentum_scale = 0.5f, s.mom_beta = 0.7f;
    else if (name == "max") s.warmup_steps = 0, s.guidance_scale = 5000, s.threshold = 1.0f, s.momentum_scale = 0.5f, s.mom_beta = 0.7f;
    else if (name != "medium") fail("Safe Latent Diffusion: unknown preset \"", name, "\" (weak, medium, strong, max)");
    return s;
}

GenerationResult generate(const StableDiffusionModel& model, const GenerationParams& p, Scheduler& scheduler, int steps,
                          const std::function<void(const StepInfo&)>& on_step) {
    // 0. validate, and refuse what cannot fit; the pass's thread count for this thread
    const kernels::ThreadScope threads(p.forward.threads);
    validate(model, p, steps);
    const int64_t spare = check_memory(model, p);
    GenerationResult result;

    // 1. conditioning: the prompt's, and the negative prompt's when guidance is on (for the refiner too)
    auto t0 = std::chrono::steady_clock::now();
    const Prompts prompts = encode_prompts(model, p);
    const Prompts refiner_prompts = p.refiner ? encode_prompts(*p.refiner, p) : Prompts();
    result.text_seconds = seconds_since(t0);
    result.context_tokens = prompts.cond.context.dim(0);
    return_free_memory();
    result.text_peak = peak_resident_bytes();
    reset_peak_resident();

    // 2. schedule: img2img and inpainting with strength < 1 start part-way
    scheduler.set_timesteps(steps);
    const int t_start = p.init_image || p.init_latents ? first_step(model.denoiser().info(), steps, p.strength) : 0;
    const size_t begin = size_t(t_start) * size_t(scheduler.order());
    if (begin >= scheduler.timesteps().size())
        fail("the denoising strength ", p.strength, " leaves no step to run with ", steps, " steps (", int(float(steps) * p.strength), " of them)");
    scheduler.set_begin_index(begin);

    // 3. initial latents, from the seed's generator (which the sampler draws its later noise from too)
    std::unique_ptr<NoiseSource> gen = make_noise_source(p.rng, p.seed);
    Start start = initial_latents(model, p, scheduler, begin, gen);

    // 4. sample
    const StableDiffusionModel& last = sample(model, p, prompts, refiner_prompts, scheduler, steps, t_start, start, *gen, spare, result, on_step);
    result.latents = start.latents;
    model.release(Part::Denoiser);
    if (p.refiner) p.refiner->release(Part::Denoiser);
    return_free_memory();
    result.sampling_peak = peak_resident_bytes();
    reset_peak_resident();
    if (!p.decode) return result;

    // 5. decode (with the refiner's VAE when one took over)
    t0 = std::chrono::steady_clock::now();
    result.image = decode(last, p, result.latents);
    result.vae_seconds = seconds_since(t0);
    result.decode_peak = peak_resident_bytes();
    return result;
}

}  // namespace sdref
