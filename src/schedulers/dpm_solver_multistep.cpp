// dpm_solver_multistep.cpp: DPM-Solver++(2M) (Lu et al. 2022) and its SDE variant (DPM++ 2M SDE).
//
// With h = lambda_t - lambda_s, the data predictions D0 = x0(s) and D1 = (x0(s) - x0(s_prev)) / r, r = h_prev / h:
//   ODE: x_t = (sigma_t / sigma_s) x_s - alpha_t (e^{-h} - 1) (D0 + D1 / 2)
//   SDE: x_t = (sigma_t / sigma_s) e^{-h} x_s + alpha_t (1 - e^{-2h}) (D0 + D1 / 2) + sigma_t sqrt(1 - e^{-2h}) n
// The first step (no history) and, below 15 steps, the last step are first order (D1 = 0).
// One model call per step. diffusers: DPMSolverMultistepScheduler (solver_type midpoint).
#include <cmath>

#include "schedulers/dpm_solver_common.h"
#include "schedulers/samplers.h"

namespace sdref {

namespace {

class DpmSolverMultistep : public DpmSolverBase {
public:
    using DpmSolverBase::DpmSolverBase;

    void set_timesteps(int steps) override {
        plan_timesteps(steps, configured_spacing(), Repeats::Remove);
        history_.clear();
        history_t_.clear();
    }

    void step(const Tensor& model_output, Tensor& x, NoiseSource& generator) override {
        const int s = current_t(), t = next_t();
        const Tensor x0 = predict_x0(model_output, x, s);
        const bool sde = config_.algorithm_type == "sde-dpmsolver++";
        Tensor noise;
        if (sde) noise = generator.randn(x.shape());
        const bool first_order = config_.solver_order == 1 || history_.empty() || lower_order_final_here(1);

        const float h = lambda_[size_t(t)] - lambda_[size_t(s)];
        const float alpha_t = alpha_[size_t(t)], sigma_t = sigma_[size_t(t)], sigma_s = sigma_[size_t(s)];
        float r_inv = 0;  // 1 / r0 for the second-order term
        if (!first_order) {
            const float h_prev = lambda_[size_t(s)] - lambda_[size_t(history_t_.back())];
            r_inv = 1.0f / (h_prev / h);
        }
        const Tensor* prev = first_order ? nullptr : &history_.back();
        for (int64_t i = 0; i < x.numel(); ++i) {
            const float d0 = x0[i];
            const float d1 = prev ? r_inv * (x0[i] - (*prev)[i]) : 0.0f;
            if (!sde) {
                const float c = alpha_t * (std::exp(-h) - 1.0f);
                x[i] = prev ? ((sigma_t / sigma_s) * x[i] - c * d0) - 0.5f * c * d1 : (sigma_t / sigma_s) * x[i] - c * d0;
            } else {
                const float c = alpha_t * (1.0f - std::exp(-2.0f * h));
                const float n = sigma_t * std::sqrt(1.0f - std::exp(-2.0f * h)) * noise[i];
                const float base = (sigma_t / sigma_s * std::exp(-h)) * x[i] + c * d0;
                x[i] = prev ? (base + 0.5f * c * d1) + n : base + n;
            }
        }
        history_ = {x0};
        history_t_ = {s};
        ++index_;
    }

private:
    std::vector<Tensor> history_;  // the previous call's data prediction
    std::vector<int> history_t_;   // and its timestep
};

}  // namespace

std::unique_ptr<Scheduler> make_dpm_solver_multistep(const SchedulerConfig& c) {
    return std::make_unique<DpmSolverMultistep>(c);
}

}  // namespace sdref
