// pndm.cpp: Pseudo Numerical methods for Diffusion Models (Liu et al. 2022), PLMS variant: the linear
// multistep (Adams-Bashforth) combination of the last noise predictions, fed to DDIM's transfer function.
// SD 1.5's default sampler (skip_prk_steps: no Runge-Kutta warm-up).
//
//   e' = e_0                                        first call, then again at the same t ("pseudo" 2nd call):
//   e' = (e_1 + e_0) / 2                            (the second call of the first step)
//   e' = (3 e_0 - e_1) / 2
//   e' = (23 e_0 - 16 e_1 + 5 e_2) / 12
//   e' = (55 e_0 - 59 e_1 + 37 e_2 - 9 e_3) / 24    from then on
//   x_prev = sqrt(a_prev / a_t) x_t - (a_prev - a_t) e' / (a_t sqrt(1 - a_prev) + sqrt(a_t (1 - a_t) a_prev))
//
// One model call per step plus one extra call at the start. diffusers: PNDMScheduler.
#include <cmath>
#include <deque>

#include "schedulers/ddpm_common.h"
#include "schedulers/samplers.h"

namespace sdref {

namespace {

class Pndm : public Scheduler {
public:
    using Scheduler::Scheduler;

    void set_timesteps(int steps) override {
        steps_ = steps;
        std::vector<float> t = ddpm_timesteps(config_, steps, "leading");  // descending
        // the first timestep is visited twice: [t_0, t_1, t_1, t_2, ...] (ascending order reversed)
        if (t.size() >= 2) t.insert(t.begin() + 1, t[1]);
        timesteps_ = t;
        ets_.clear();
        counter_ = 0;
        index_ = 0;
    }

    void step(const Tensor& model_output, Tensor& x, NoiseSource&) override {
        const int ratio = config_.num_train_timesteps / steps_;
        int t = int(timesteps_[index_]);
        int prev_t = t - ratio;
        if (counter_ != 1) {
            if (ets_.size() > 3) ets_.pop_front();
            ets_.push_back(model_output);
        } else {
            prev_t = t;
            t = t + ratio;
        }
        Tensor e(x.shape());
        const size_t n = ets_.size();
        const int64_t count = x.numel();
        if (n == 1 && counter_ == 0) {
            e = model_output;
            cur_sample_ = x;
        } else if (n == 1 && counter_ == 1) {
            for (int64_t i = 0; i < count; ++i) e[i] = (model_output[i] + ets_[0][i]) / 2;
            x = cur_sample_;
        } else if (n == 2) {
            for (int64_t i = 0; i < count; ++i) e[i] = (3 * ets_[1][i] - ets_[0][i]) / 2;
        } else if (n == 3) {
            for (int64_t i = 0; i < count; ++i) e[i] = (23 * ets_[2][i] - 16 * ets_[1][i] + 5 * ets_[0][i]) / 12;
        } else {
            for (int64_t i = 0; i < count; ++i)
                e[i] = (1.0f / 24) * (55 * ets_[3][i] - 59 * ets_[2][i] + 37 * ets_[1][i] - 9 * ets_[0][i]);
        }
        transfer(x, e, t, prev_t);
        ++counter_;
        ++index_;
    }

private:
    // DDIM's deterministic transfer from t to prev_t given the noise estimate e (formula (9) of the paper).
    void transfer(Tensor& x, const Tensor& e, int t, int prev_t) const {
        const float a_t = schedule_.alphas_cumprod[size_t(t)];
        const float a_prev = alpha_bar_or_final(config_, schedule_, prev_t);
        const float b_t = 1 - a_t, b_prev = 1 - a_prev;
        const float sample_coeff = std::sqrt(a_prev / a_t);
        const float denom = a_t * std::sqrt(b_prev) + std::sqrt(a_t * b_t * a_prev);
        for (int64_t i = 0; i < x.numel(); ++i) {
            float eps = e[i];
            if (config_.prediction_type == "v_prediction") eps = std::sqrt(a_t) * e[i] + std::sqrt(b_t) * x[i];
            x[i] = sample_coeff * x[i] - (a_prev - a_t) * eps / denom;
        }
    }

    int steps_ = 0;
    std::deque<Tensor> ets_;  // the last (up to 4) model outputs, oldest first
    Tensor cur_sample_;
    int counter_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_pndm(const SchedulerConfig& c) { return std::make_unique<Pndm>(c); }

}  // namespace sdref
