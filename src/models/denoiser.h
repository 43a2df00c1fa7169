// denoiser.h: the model a sampling loop runs, behind one interface.
//
//   prediction = denoiser.predict(x_t, t, conditioning, inputs, ctx)        [latent_channels, h, w]
//
// A sampler turns the prediction into the next latent. What the prediction is, is the denoiser's prediction type
// (info().scheduler.prediction_type), with x_sigma the latent at noise level sigma:
//   epsilon       the noise eps            x0 = x_sigma - sigma eps                  SD 1.x, SD 2.x 512, SDXL
//   v_prediction  v = alpha eps - s x0     (Salimans & Ho 2022)                      SD 2.x 768
//   flow          v = eps - x0             x0 = x_sigma - sigma v, where             SD 3.x (flow matching)
//                                          x_sigma = (1 - sigma) x0 + sigma eps
// The U-Net is the first implementation (unet_denoiser.cpp), SD 3's MMDiT the second (mmdit_denoiser.cpp). Guidance, Safe Latent Diffusion, inpainting and the
// refiner's hand-over live in the pipeline (pipeline/generate.cpp) and see only this interface, so a new family is
// a new Denoiser, not a new branch in the pipeline.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "models/conditioning.h"
#include "models/forward_context.h"
#include "schedulers/scheduler.h"

namespace sdref {

class ControlNet;
class Json;
class WeightStore;

// One ControlNet's guidance: its control image, strength and the part of the schedule it acts on.
struct ControlSpec {
    const ControlNet* net = nullptr;
    Tensor image;                  // [3, H, W] in [0, 1], the generation's size
    float strength = 1.0f;         // its residuals' scale (diffusers' controlnet_conditioning_scale)
    float start = 0.0f, end = 1.0f;  // active for the calls i of n with start <= i / n and (i + 1) / n <= end
};

// What the pipeline needs to know about a denoiser, and what a request that leaves them unset gets.
struct DenoiserInfo {
    int64_t latent_channels = 4;   // of the latents it denoises (its VAE's)
    bool inpainting = false;       // reads the mask and the masked picture's latents beside the latents
    float vae_scale = 0.18215f;    // latents = (VAE mean - vae_shift) x vae_scale (SDXL 0.13025; SD 3.5 1.5305)
    float vae_shift = 0.0f;        // (SD 3.5: 0.0609)
    SchedulerConfig scheduler;     // its training noise schedule and prediction type
    int64_t default_width = 512, default_height = 512;  // its training size
    int64_t default_steps = 20;    // the family's usual sampling: steps, guidance scale, sampler (its CLI name)
    float default_cfg = 7.0f;
    std::string default_sampler = "euler_a";
    int64_t vector_width = 0;      // the width of Conditioning::vector it reads (SDXL's y, SD 3's pooled text); 0: none
    int64_t context_width = 0;     // the width of the text tokens it reads (the U-Net's context_dim; SD 3: T5's)
    int64_t layers = 0;            // the transformer blocks skip-layer guidance may skip; 0: none (a U-Net)
    // img2img's first step of N at strength s: N - int(N s) (diffusers' U-Net pipelines, A1111), or int(N - N s)
    // (diffusers' SD 3 pipelines: fewer steps are skipped when N s is fractional)
    bool start_step_rounds_down = false;
};

// Where a family's make_denoiser (family.h) finds its weights, and what the loader has found out so far.
struct DenoiserSource {
    std::shared_ptr<WeightStore> store;
    std::string prefix;                        // its tensors' canonical prefix ("model.diffusion_model.")
    const Json* config = nullptr;              // a diffusers folder's unet/ or transformer/ config.json
    std::vector<std::pair<std::string, float>> hypernetworks;  // A1111 hypernetwork files and their strengths
    DenoiserInfo info;                         // the family's defaults, the VAE scale, the scheduler config
    std::string source;                        // the file or folder, for messages
};

// A call's inputs beyond the latents, the timestep and the conditioning.
struct DenoiserInputs {
    const Tensor* mask = nullptr;            // inpainting models: the mask on the latent grid [1, h, w]
    const Tensor* masked_latents = nullptr;  // inpainting models: the masked picture's latents [z, h, w]
    std::vector<const ControlSpec*> controls;  // the ControlNets acting at this call, their residuals summed
    std::set<int> skip_layers;               // transformer blocks to bypass (skip-layer guidance's extra call)
};

class Denoiser {
public:
    virtual ~Denoiser() = default;
    virtual const DenoiserInfo& info() const = 0;
    // What users call it, for messages: "U-Net", "MMDiT".
    virtual const char* name() const = 0;
    // x [latent_channels, h, w] at timestep t (integer or fractional), conditioned on c -> the prediction.
    virtual Tensor predict(const Tensor& x, float t, const Conditioning& c, const DenoiserInputs& in,
                           const ForwardContext& ctx) const = 0;
    // An upper estimate of the activation memory of one predict() on latents of h x w (bytes).
    virtual int64_t predict_bytes(int64_t h, int64_t w) const = 0;
    // The arithmetic work of one predict() (2 per multiply-add of its products) with `tokens` text tokens.
    virtual double predict_flops(int64_t h, int64_t w, int64_t tokens) const = 0;
    // Why the ControlNet cannot guide this denoiser (another family; a family without ControlNets), or "" when it can.
    virtual std::string control_mismatch(const ControlNet& net) const = 0;
};

}  // namespace sdref
