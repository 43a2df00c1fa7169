// dpm_solver_common.h: what the exponential-integrator samplers (DPM-Solver++, DEIS, UniPC) share.
//
// They write the latent at timestep t as x_t = alpha_t x_0 + sigma_t eps with alpha_t = sqrt(alpha_bar_t),
// sigma_t = sqrt(1 - alpha_bar_t), and step in lambda_t = log(alpha_t / sigma_t) (half the log-SNR), where
// the linear part of the diffusion ODE integrates exactly. Everything is indexed by integer timestep.
#pragma once

#include <vector>

#include "schedulers/scheduler.h"

namespace sdref {

class DpmSolverBase : public Scheduler {
public:
    DpmSolverBase(const SchedulerConfig& config);

protected:
    // round(linspace(0, T - 1, steps + 1))[::-1][:-1] (or `spacing`: leading, trailing), or with Karras sigmas
    // the rounded timesteps of the Karras ramp, repeated timesteps removed or kept (diffusers' multistep
    // solvers remove them, the singlestep one keeps them). Fills timesteps_ and sigmas_ (diffusers' table: the
    // training sigmas, or the Karras ramp).
    enum class Repeats { Remove, Keep };
    void plan_timesteps(int steps, const std::string& spacing, Repeats repeats);
    // The configured timestep_spacing, linspace when none is set.
    std::string configured_spacing() const { return config_.timestep_spacing.empty() ? "linspace" : config_.timestep_spacing; }
    // The timestep of the current call and of the next one (0 after the last call).
    int current_t() const { return int(timesteps_[index_]); }
    int next_t() const { return index_ + 1 < timesteps_.size() ? int(timesteps_[index_ + 1]) : 0; }
    // True for the last call, and for the one before it, when lower_order_final applies (fewer than 15 steps).
    bool lower_order_final_here(size_t from_end) const {
        return config_.lower_order_final && timesteps_.size() < 15 && index_ + from_end == timesteps_.size();
    }
    // The data (x_0) prediction of the model output at timestep t.
    Tensor predict_x0(const Tensor& model_output, const Tensor& x, int t) const;

    std::vector<float> alpha_;   // [T] sqrt(alpha_bar_t)
    std::vector<float> sigma_;   // [T] sqrt(1 - alpha_bar_t)
    std::vector<float> lambda_;  // [T] log(alpha_t) - log(sigma_t)
};

}  // namespace sdref
