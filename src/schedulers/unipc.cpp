// unipc.cpp: UniPC (Zhao et al. 2023), bh2 variant with data prediction: after each model call a corrector
// (UniC) refines the latent the previous predictor produced, then a predictor (UniP) takes the next step.
//
// With h = lambda_t - lambda_s, B(h) = e^{-h} - 1 and the data predictions m_s (now) and m_s' (before):
//   UniP order 1:  x_t = (sigma_t / sigma_s) x_s - alpha_t B(h) m_s
//   UniP order 2:  ... - alpha_t B(h) (1/2) D1,                     D1 = (m_s' - m_s) / r,  r = (lambda_s' - lambda_s) / h
//   UniC order k:  x_t^c = (sigma_t / sigma_s) x_s - alpha_t B(h) m_s - alpha_t B(h) (sum_j rho_j D1_j + rho_k (m_t - m_s))
// where the rho solve the order conditions R rho = b (rho = 1/2 for order 1).
// One model call per step; first order first and (below 15 steps) last. diffusers: UniPCMultistepScheduler.
#include <cmath>

#include "schedulers/dpm_solver_common.h"
#include "schedulers/samplers.h"

namespace sdref {

namespace {

class UniPc : public DpmSolverBase {
public:
    using DpmSolverBase::DpmSolverBase;

    void set_timesteps(int steps) override {
        plan_timesteps(steps, configured_spacing(), Repeats::Remove);
        outputs_.clear();
        output_t_.clear();
        lower_order_nums_ = 0;
        this_order_ = 1;
        has_last_ = false;
    }

    void step(const Tensor& model_output, Tensor& x, NoiseSource&) override {
        const int t_now = current_t();
        const Tensor m_now = predict_x0(model_output, x, t_now);
        // 1. correct the latent the last predictor produced, now that the model has seen it
        if (index_ > 0 && has_last_) x = update(last_sample_, t_now, this_order_, &m_now);
        // 2. remember this call's prediction
        outputs_.push_back(m_now);
        output_t_.push_back(t_now);
        if (outputs_.size() > size_t(config_.solver_order)) {
            outputs_.erase(outputs_.begin());
            output_t_.erase(output_t_.begin());
        }
        // 3. predict the next latent
        int order = config_.solver_order;
        if (config_.lower_order_final) order = std::min(order, int(timesteps_.size() - index_));
        this_order_ = std::min(order, lower_order_nums_ + 1);
        last_sample_ = x;
        has_last_ = true;
        x = update(x, next_t(), this_order_, nullptr);
        if (lower_order_nums_ < config_.solver_order) ++lower_order_nums_;
        ++index_;
    }

private:
    // UniP (m_t == nullptr) or UniC (m_t = the data prediction at t) from x at the last stored timestep to t.
    Tensor update(const Tensor& x, int t, int order, const Tensor* m_t) const {
        const int s = output_t_.back();
        const Tensor& m0 = outputs_.back();
        const float h = lambda_[size_t(t)] - lambda_[size_t(s)];
        const float hh = -h;
        const float h_phi_1 = std::expm1(hh);
        const float b_h = std::expm1(hh);  // bh2
        const float alpha_t = alpha_[size_t(t)], ratio = sigma_[size_t(t)] / sigma_[size_t(s)];

        // the order-2 history term: D1 = (m_s' - m_s) / r
        float rk = 0;
        const Tensor* m1 = nullptr;
        if (order >= 2) {
            rk = (lambda_[size_t(output_t_[output_t_.size() - 2])] - lambda_[size_t(s)]) / h;
            m1 = &outputs_[outputs_.size() - 2];
        }
        // weights: predictor rho = 1/2 (order 2); corrector solves [[1, 1], [r, 1]] rho = b (order 2) or rho = 1/2
        float rho_hist = 0.5f, rho_now = 0.5f;
        if (m_t && order >= 2) {
            const double phi = double(h_phi_1) / hh - 1;
            const double b1 = phi / b_h;
            const double b2 = (phi / hh - 0.5) * 2 / b_h;
            rho_hist = float((b1 - b2) / (1.0 - rk));
            rho_now = float(b1 - (b1 - b2) / (1.0 - rk));
        }
        Tensor out(x.shape());
        for (int64_t i = 0; i < x.numel(); ++i) {
            const float base = ratio * x[i] - alpha_t * h_phi_1 * m0[i];
            const float hist = m1 ? rho_hist * (((*m1)[i] - m0[i]) / rk) : 0.0f;
            if (m_t) out[i] = base - alpha_t * b_h * (hist + rho_now * ((*m_t)[i] - m0[i]));
            else out[i] = m1 ? base - alpha_t * b_h * hist : base;
        }
        return out;
    }

    std::vector<Tensor> outputs_;  // the last solver_order data predictions, oldest first
    std::vector<int> output_t_;    // their timesteps
    Tensor last_sample_;           // the latent the last predictor started from
    bool has_last_ = false;
    int lower_order_nums_ = 0;
    int this_order_ = 1;
};

}  // namespace

std::unique_ptr<Scheduler> make_unipc(const SchedulerConfig& c) { return std::make_unique<UniPc>(c); }

}  // namespace sdref
