// scheduler.h: the noise schedule and the interface every sampler implements.
//
// A sampler turns the U-Net's prediction at one noise level into the latent at the next, lower level. The
// interface follows diffusers' scheduler API, which users and the golden data both speak:
//
//   sched->set_timesteps(steps);                       // plan: timesteps() lists one entry per model call
//   x = noise * sched->init_noise_sigma();
//   for (size_t i = 0; i < sched->timesteps().size(); ++i) {
//       Tensor in = x; sched->scale_model_input(in);   // k-diffusion samplers feed x / sqrt(sigma^2 + 1)
//       Tensor out = unet(in, sched->timesteps()[i]);  // noise (or v) prediction
//       sched->step(out, x, generator);                // x <- the next latent; ancestral samplers draw noise
//   }
//
// One file per sampler (ddim.cpp, euler.cpp, ...); docs/schedulers.md writes each update as math.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"
#include "io/json.h"

namespace sdref {

// What the model was trained with and how to sample it: diffusers' scheduler_config.json keys. Defaults are
// Stable Diffusion 1.5's own scheduler_config.json.
struct SchedulerConfig {
    int num_train_timesteps = 1000;
    double beta_start = 0.00085;
    double beta_end = 0.012;
    std::string beta_schedule = "scaled_linear";  // linear | scaled_linear | squaredcos_cap_v2
    int steps_offset = 1;
    bool set_alpha_to_one = false;
    std::string prediction_type = "epsilon";      // epsilon | v_prediction | sample | flow (models/denoiser.h)
    std::string timestep_spacing;                 // leading | linspace | trailing; empty: the sampler's default
    bool use_karras_sigmas = false;
    std::string sigma_schedule;                   // k-diffusion samplers: a named schedule (sigma_schedules.h); "": none
    std::string algorithm_type = "dpmsolver++";   // DPM-Solver family: dpmsolver++ | sde-dpmsolver++
    int solver_order = 2;                         // DPM-Solver, DEIS, UniPC
    bool lower_order_final = true;
    double eta = 0.0;                             // DDIM: 0 deterministic, 1 as noisy as DDPM
    double shift = 1.0;                           // flow matching: the timestep shift s' = shift s / (1 + (shift - 1) s)
                                                  // (SD 3 and 3.5: 3.0)
    int original_inference_steps = 50;            // LCM
    double timestep_scaling = 10.0;               // LCM

    // Read the keys sdref knows from a scheduler_config.json object over these defaults; others are ignored.
    void update_from_json(const Json& config, const std::string& source);
};

// The forward (noising) process: beta_t for t = 0..T-1 and alpha_bar_t = prod_{s<=t} (1 - beta_s), in fp32
// as PyTorch computes them (the cumulative product accumulates in double).
struct NoiseSchedule {
    std::vector<float> betas;
    std::vector<float> alphas_cumprod;

    explicit NoiseSchedule(const SchedulerConfig& config);
    int size() const { return int(alphas_cumprod.size()); }
    // sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t): the noise level of timestep t in k-diffusion terms.
    std::vector<float> sigmas() const;
};

class Scheduler {
public:
    explicit Scheduler(const SchedulerConfig& config) : config_(config), schedule_(config) {}
    virtual ~Scheduler() = default;

    // Plan `steps` inference steps; resets all state.
    virtual void set_timesteps(int steps) = 0;
    // The timestep of each model call, in order (some samplers call the model twice per step).
    const std::vector<float>& timesteps() const { return timesteps_; }
    // The sampler's sigma table as diffusers exposes it (k-diffusion samplers: the sigma of each call, then 0).
    const std::vector<float>& sigmas() const { return sigmas_; }
    // The standard deviation of the starting noise.
    virtual float init_noise_sigma() const { return 1.0f; }
    // Scale the model input for the current call (identity for DDPM-style samplers).
    virtual void scale_model_input(Tensor& /*x*/) const {}
    // Consume the model output of the current call and advance x to the next latent.
    virtual void step(const Tensor& model_output, Tensor& x, NoiseSource& generator) = 0;
    // How many model calls have been consumed since set_timesteps.
    size_t step_index() const { return index_; }
    // Model calls per step (2 for Heun and DPM2, else 1): img2img skips whole steps, order() calls each.
    virtual int order() const { return 1; }
    // Start the schedule at call `index` (img2img and inpainting with strength < 1).
    void set_begin_index(size_t index) { index_ = index; }
    // The forward process at call `index`: the clean latent x0 noised to that call's noise level.
    //   timestep samplers: sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) n;   sigma samplers: x0 + sigma n
    virtual Tensor add_noise(const Tensor& x0, const Tensor& noise, size_t index) const;
    const SchedulerConfig& config() const { return config_; }

protected:
    SchedulerConfig config_;
    NoiseSchedule schedule_;
    std::vector<float> timesteps_;
    std::vector<float> sigmas_;
    size_t index_ = 0;
};

// A sampler by its command-line name (stable-diffusion.cpp's: ddim, pndm, lms, euler, euler_a, heun, dpm2,
// dpm2_a, dpm++2m, dpm++2m_sde, dpm++2s, unipc, deis, lcm) and --scheduler (discrete, karras, trailing, or a named
// sigma schedule for the k-diffusion samplers: schedulers/sigma_schedules.h).
// Unknown names are errors that list the valid ones.
std::unique_ptr<Scheduler> make_scheduler(const std::string& sampling_method, const std::string& schedule,
                                          SchedulerConfig config);
// A sampler by its diffusers class name (DDIMScheduler, EulerDiscreteScheduler, ...).
std::unique_ptr<Scheduler> make_scheduler_by_class(const std::string& class_name, const SchedulerConfig& config);
// The valid names, for help texts and errors.
const std::vector<std::string>& sampling_method_names();
const std::vector<std::string>& schedule_names();
// Each sampler's names: sdref's, A1111's ("Euler a"; with --scheduler karras A1111 writes "Euler a Karras") and
// k-diffusion's (k_euler_a), and whether the karras schedule applies.
struct SamplerNames {
    std::string name, a1111, alias;
    bool karras;
};
const std::vector<SamplerNames>& sampler_table();

}  // namespace sdref
