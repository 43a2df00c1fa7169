// dpm_solver_singlestep.cpp: DPM-Solver++(2S) singlestep: steps alternate order 1 and order 2; an order-2
// step starts again from the latent x_r at the start of its order-1 predecessor and spans both intervals:
//
//   order 1:  x_t = (sigma_t / sigma_s) x_s - alpha_t (e^{-h} - 1) x0(s)                     h = lambda_t - lambda_s
//   order 2:  x_t = (sigma_t / sigma_r) x_r - alpha_t (e^{-h} - 1) (D0 + D1 / 2)             h = lambda_t - lambda_r
//             D0 = x0(r), D1 = (x0(s) - x0(r)) / ((lambda_s - lambda_r) / h)
//
// Orders [1, 2, 1, 2, ..., (1)]. One model call per step. diffusers: DPMSolverSinglestepScheduler.
#include <cmath>

#include "schedulers/dpm_solver_common.h"
#include "schedulers/samplers.h"

namespace sdref {

namespace {

class DpmSolverSinglestep : public DpmSolverBase {
public:
    using DpmSolverBase::DpmSolverBase;

    void set_timesteps(int steps) override {
        plan_timesteps(steps, "linspace", Repeats::Keep);  // diffusers' singlestep solver ignores timestep_spacing
        orders_.clear();
        const int n = int(timesteps_.size());
        for (int i = 0; i < n; ++i) orders_.push_back(config_.solver_order == 1 || i % 2 == 0 ? 1 : 2);
        has_prev_ = false;
    }

    void step(const Tensor& model_output, Tensor& x, NoiseSource&) override {
        const int s = current_t(), t = next_t();
        const Tensor x0 = predict_x0(model_output, x, s);
        int order = orders_[index_];
        if (order == 2 && !has_prev_) order = 1;  // img2img may start on an order-2 step
        const float alpha_t = alpha_[size_t(t)], sigma_t = sigma_[size_t(t)];
        if (order == 1) {
            start_ = x;
            const float h = lambda_[size_t(t)] - lambda_[size_t(s)];
            const float c = alpha_t * (std::exp(-h) - 1.0f);
            const float ratio = sigma_t / sigma_[size_t(s)];
            for (int64_t i = 0; i < x.numel(); ++i) x[i] = ratio * start_[i] - c * x0[i];
        } else {
            const int r = prev_t_;
            const float h = lambda_[size_t(t)] - lambda_[size_t(r)];
            const float h0 = lambda_[size_t(s)] - lambda_[size_t(r)];
            const float r_inv = 1.0f / (h0 / h);
            const float c = alpha_t * (std::exp(-h) - 1.0f);
            const float ratio = sigma_t / sigma_[size_t(r)];
            for (int64_t i = 0; i < x.numel(); ++i) {
                const float d0 = prev_x0_[i], d1 = r_inv * (x0[i] - prev_x0_[i]);
                x[i] = (ratio * start_[i] - c * d0) - 0.5f * c * d1;
            }
        }
        prev_x0_ = x0;
        prev_t_ = s;
        has_prev_ = true;
        ++index_;
    }

private:
    std::vector<int> orders_;
    Tensor start_;    // the latent the current order-1/order-2 pair started from
    Tensor prev_x0_;  // the previous call's data prediction
    int prev_t_ = 0;
    bool has_prev_ = false;
};

}  // namespace

std::unique_ptr<Scheduler> make_dpm_solver_singlestep(const SchedulerConfig& c) {
    return std::make_unique<DpmSolverSinglestep>(c);
}

}  // namespace sdref
