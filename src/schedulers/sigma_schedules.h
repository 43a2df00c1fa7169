// sigma_schedules.h: the noise levels of a sampling run by the names A1111 and ComfyUI users pick ("Schedule type"),
// for the k-diffusion samplers. n steps give n + 1 sigmas, descending, the last 0 (A1111's kl_optimal ends at
// sigma_min instead, as its reference does). Every formula reads the model's sigma table sigma_t =
// sqrt((1 - alpha_bar_t) / alpha_bar_t), t = 0..T-1, and sigma(t) for a fractional t interpolates log sigma linearly.
//
//   uniform, normal       sigma(linspace(T-1, 0, n)) + 0          sgm_uniform  sigma(linspace(T-1, 0, n+1)[:-1]) + 0
//   karras                (smax^(1/7) + r (smin^(1/7) - smax^(1/7)))^7, r = linspace(0, 1, n), + 0
//   exponential           exp(linspace(ln smax, ln smin, n)) + 0
//   polyexponential       exp(linspace(1, 0, n)^rho (ln smax - ln smin) + ln smin) + 0, rho = 1
//   simple                sigma_table[T-1 - floor(x T / n)], x = 0..n-1, + 0
//   ddim_uniform          sigma_table[1 + k (T div n)] for every index < T, reversed, + 0 (more than n when T mod n != 0)
//   beta                  A1111: smin + ppf(1 - linspace(0, 1, n)) (smax - smin) + 0, ppf of Beta(0.6, 0.6)
//                         ComfyUI (comfy_beta): sigma_table[rint(ppf(1 - linspace(0, 1, n, endpoint=False)) (T-1))], repeats dropped, + 0
//   kl_optimal            A1111: tan((i/n) atan smin + (1 - i/n) atan smax), i = 0..n (no 0)
//                         ComfyUI (comfy_kl_optimal): the same with i/(n-1), i = 0..n-1, + 0
//   linear_quadratic      ComfyUI's (from Mochi): linear then quadratic in [0, 1], times smax
//   align_your_steps(_sdxl)  the published 11-level tables, log-interpolated to n levels, + 0
// The sigma table itself is A1111's (float32 from the float32 alpha_bar buffer: k-diffusion's CompVisDenoiser) or
// ComfyUI's (float64, stored float32); the golden set v4 holds both (`sigma_schedules.safetensors`).
#pragma once

#include <string>
#include <vector>

#include "schedulers/scheduler.h"

namespace sdref {

// A model's sigma table and its logs (float values, as the references store them), and its ends.
struct SigmaTable {
    std::vector<float> sigmas, log_sigmas;
    double min() const { return sigmas.front(); }
    double max() const { return sigmas.back(); }
    double at(double t) const;  // sigma(t), log-linear between table entries
};
// A1111's: sigma = sqrt((1 - a) / a) in float32 of the float32 alpha_bar, log in float32.
SigmaTable a1111_sigma_table(const std::vector<float>& alphas_cumprod);
// ComfyUI's: sigma in float64 from alpha_bar in float64 (`alphas_cumprod64`), stored float32; log of the float64 sigma.
SigmaTable comfy_sigma_table(const std::vector<double>& alphas_cumprod64);
// alpha_bar of a training schedule in float64 (betas = linspace(sqrt(b0), sqrt(b1), T)^2 for scaled_linear,
// linspace(b0, b1, T) for linear), as LDM and ComfyUI compute it.
std::vector<double> alphas_cumprod64(const SchedulerConfig& config);

// The named schedule for n steps on a table. Names: those above, the ComfyUI variants as comfy_beta and
// comfy_kl_optimal. An unknown name is an error listing the valid ones.
std::vector<double> named_sigmas(const std::string& name, int steps, const SigmaTable& table);
const std::vector<std::string>& sigma_schedule_names();
// A1111's label of a schedule ("Karras", "SGM Uniform", "Align Your Steps"), as its PNG parameters and API name them;
// ComfyUI's own variants and sdref's discrete/trailing have none ("").
std::string a1111_schedule_label(const std::string& name);

// The inverse of the regularized incomplete beta function: x with I_x(a, b) = p (the Beta(a, b) distribution's ppf).
double beta_ppf(double p, double a, double b);

}  // namespace sdref
