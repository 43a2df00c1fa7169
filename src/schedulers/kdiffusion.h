// kdiffusion.h: what the k-diffusion samplers (Euler, Euler a, LMS, Heun, DPM2, DPM2 a) share.
//
// They work on noise levels sigma instead of timesteps: x_sigma = x_0 + sigma * eps, with
// sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t). The model, trained on x_t = sqrt(alpha_bar_t) x_0 +
// sqrt(1 - alpha_bar_t) eps, sees x_sigma / sqrt(sigma^2 + 1), which is exactly x_t.
#pragma once

#include <string>
#include <vector>

#include "schedulers/scheduler.h"

namespace sdref {

// The timesteps of `steps` inference steps for a spacing (numpy float64 values, as diffusers computes them):
//   linspace  np.linspace(0, T - 1, steps), descending
//   leading   (arange(steps) * (T // steps)).round(), descending, + steps_offset
//   trailing  arange(T, 0, -T / steps).round() - 1
std::vector<double> spaced_timesteps(const std::string& spacing, int steps, int train_steps, int steps_offset);

// np.interp(t, arange(n), table): the sigma of fractional timesteps.
std::vector<double> interp_sigmas(const std::vector<double>& timesteps, const std::vector<float>& table);

// Karras et al. 2022, eq. 5 with rho = 7: sigma_i = (max^(1/rho) + i/(n-1) (min^(1/rho) - max^(1/rho)))^rho.
// first/last are the sigmas at ramp 0 and 1 (diffusers passes them in the order of its input table).
std::vector<double> karras_sigmas(double first, double last, int steps);

// Flow matching's schedule (diffusers' FlowMatchEulerDiscreteScheduler without dynamic shifting), descending,
// no trailing 0: with shift(s) = shift s / (1 + (shift - 1) s) and T training steps,
//   sigma_max = 1, sigma_min = shift(1 / T) (fp32, as diffusers keeps them)
//   sigmas = shift(linspace(T sigma_max, T sigma_min, steps) / T)      (the shift applied a second time)
std::vector<double> flow_sigmas(int steps, int train_steps, double shift);

// k-diffusion's sigma_to_t: the fractional timestep whose log sigma interpolates linearly to log(sigma).
double sigma_to_t(double sigma, const std::vector<float>& log_sigmas);

// The base of the k-diffusion samplers: sigma table, starting noise, input scaling.
//
// Flow-prediction models (prediction_type "flow", SD 3.x) live on x_sigma = (1 - sigma) x0 + sigma eps and
// predict v = eps - x0; then x0 = x_sigma - sigma v, the input is x_sigma unscaled and the starting noise has
// sigma 1. The deterministic solvers need nothing else: Euler's slope (x - x0) / sigma is v itself, so its step is
// diffusers' FlowMatchEulerDiscreteScheduler's x + (sigma_next - sigma) v (registry.cpp lists which samplers apply).
// Their schedule is flow matching's (flow_sigmas), the timestep the model reads sigma * T.
class KDiffusionScheduler : public Scheduler {
public:
    using Scheduler::Scheduler;
    // sigma_max for linspace/trailing spacing, sqrt(sigma_max^2 + 1) for leading (diffusers' convention).
    float init_noise_sigma() const override;
    // x / sqrt(sigma^2 + 1) with the sigma of the current call.
    void scale_model_input(Tensor& x) const override;
    // x0 + sigma_index * noise (flow: (1 - sigma) x0 + sigma noise)
    Tensor add_noise(const Tensor& x0, const Tensor& noise, size_t index) const override;

protected:
    // The per-step sigmas (descending) and timesteps with karras applied when configured; no trailing 0.
    void plan_sigmas(int steps, const std::string& default_spacing, std::vector<double>* timesteps,
                     std::vector<double>* sigmas);
    // plan_sigmas with the sampler's default spacing, stored as diffusers' tables (sigmas end with 0); resets the
    // call counter. What Euler, Euler a and LMS do in set_timesteps.
    void plan_single_pass(int steps, const std::string& default_spacing);
    bool flow() const { return config_.prediction_type == "flow"; }
    // The sigma the model input of the current call is scaled with.
    virtual float input_sigma() const { return sigmas_[index_]; }
    // x_0 predicted from the model output at noise level sigma (epsilon, v, sample or flow parameterisation).
    float predict_x0(float model_output, float x, float sigma) const;
    // The probability-flow ODE's slope dx/dsigma = (x - x0(x, sigma)) / sigma.
    float slope(float model_output, float x, float sigma) const {
        return (x - predict_x0(model_output, x, sigma)) / sigma;
    }
    // One Euler step over dt with the slope at (x, sigma), taken from `start`:  x <- start + slope * dt
    // (start is x itself for a plain step, the step's first x for the second stage of DPM2).
    void euler_step(const Tensor& model_output, Tensor& x, const Tensor& start, float sigma, float dt) const {
        for (int64_t i = 0; i < x.numel(); ++i) x[i] = start[i] + slope(model_output[i], x[i], sigma) * dt;
    }
    std::string spacing_;  // the spacing in effect since set_timesteps
};

// diffusers' k-diffusion tables: timesteps as fp32, sigmas as fp32 with a final 0 appended.
void store_kdiffusion_tables(const std::vector<double>& timesteps, const std::vector<double>& sigmas,
                             std::vector<float>* timesteps_out, std::vector<float>* sigmas_out);

}  // namespace sdref
