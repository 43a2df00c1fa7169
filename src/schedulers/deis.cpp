// deis.cpp: DEIS (Zhang & Chen 2022), 2nd-order multistep in rho = sigma / alpha ("logrho"), with the noise
// prediction eps(s) and a Lagrange fit through the last two in log rho, integrated exactly:
//
//   order 1:  x_t = (alpha_t / alpha_s) x_s - sigma_t (e^{h} - 1) eps_s                      h = lambda_t - lambda_s
//   order 2:  x_t = alpha_t (x_s / alpha_s + c0 eps_s + c1 eps_{s'})
//             c0 = F(rho_t; rho_s, rho_s') - F(rho_s; rho_s, rho_s'),  c1 = F(rho_t; rho_s', rho_s) - F(rho_s; rho_s', rho_s)
//             F(r; b, c) = r (log r - log c - 1) / (log b - log c)
//
// One model call per step; first order first and (below 15 steps) last. diffusers: DEISMultistepScheduler.
#include <cmath>

#include "schedulers/dpm_solver_common.h"
#include "schedulers/samplers.h"

namespace sdref {

namespace {

class Deis : public DpmSolverBase {
public:
    using DpmSolverBase::DpmSolverBase;

    void set_timesteps(int steps) override {
        plan_timesteps(steps, configured_spacing(), Repeats::Remove);
        has_prev_ = false;
    }

    void step(const Tensor& model_output, Tensor& x, NoiseSource&) override {
        const int s = current_t(), t = next_t();
        // the noise prediction, recomputed from the data prediction as diffusers does
        const Tensor x0 = predict_x0(model_output, x, s);
        Tensor eps(x.shape());
        for (int64_t i = 0; i < x.numel(); ++i) eps[i] = (x[i] - alpha_[size_t(s)] * x0[i]) / sigma_[size_t(s)];
        const bool first_order = config_.solver_order == 1 || !has_prev_ || lower_order_final_here(1);
        const float alpha_t = alpha_[size_t(t)], alpha_s = alpha_[size_t(s)], sigma_t = sigma_[size_t(t)];
        if (first_order) {
            const float h = lambda_[size_t(t)] - lambda_[size_t(s)];
            const float c = sigma_t * (std::exp(h) - 1.0f);
            for (int64_t i = 0; i < x.numel(); ++i) x[i] = (alpha_t / alpha_s) * x[i] - c * eps[i];
        } else {
            const int p = prev_t_;
            const double rho_t = sigma_t / alpha_t, rho_s = sigma_[size_t(s)] / alpha_s;
            const double rho_p = sigma_[size_t(p)] / alpha_[size_t(p)];
            auto F = [](double r, double b, double c) { return r * (-std::log(c) + std::log(r) - 1) / (std::log(b) - std::log(c)); };
            const float c0 = float(F(rho_t, rho_s, rho_p) - F(rho_s, rho_s, rho_p));
            const float c1 = float(F(rho_t, rho_p, rho_s) - F(rho_s, rho_p, rho_s));
            for (int64_t i = 0; i < x.numel(); ++i) x[i] = alpha_t * ((x[i] / alpha_s + c0 * eps[i]) + c1 * prev_eps_[i]);
        }
        prev_eps_ = eps;
        prev_t_ = s;
        has_prev_ = true;
        ++index_;
    }

private:
    Tensor prev_eps_;
    int prev_t_ = 0;
    bool has_prev_ = false;
};

}  // namespace

std::unique_ptr<Scheduler> make_deis(const SchedulerConfig& c) { return std::make_unique<Deis>(c); }

}  // namespace sdref
