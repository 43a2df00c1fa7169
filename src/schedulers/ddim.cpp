// ddim.cpp: Denoising Diffusion Implicit Models (Song et al. 2020, eq. 12).
//
//   x0     = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)                       a = alpha_bar
//   sigma  = eta * sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))
//   x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev - sigma^2) eps + sigma * n,   n ~ N(0, I) when eta > 0
//
// eta = 0 is deterministic; eta = 1 matches DDPM's variance. One model call per step. diffusers: DDIMScheduler.
#include <cmath>

#include "schedulers/ddpm_common.h"
#include "schedulers/samplers.h"

namespace sdref {

namespace {

class Ddim : public Scheduler {
public:
    using Scheduler::Scheduler;

    void set_timesteps(int steps) override {
        steps_ = steps;
        timesteps_ = ddpm_timesteps(config_, steps, "leading");
        index_ = 0;
    }

    void step(const Tensor& model_output, Tensor& x, NoiseSource& generator) override {
        const int t = int(timesteps_[index_]);
        const int prev_t = t - config_.num_train_timesteps / steps_;
        const float a_t = schedule_.alphas_cumprod[size_t(t)];
        const float a_prev = alpha_bar_or_final(config_, schedule_, prev_t);
        const float b_t = 1.0f - a_t, b_prev = 1.0f - a_prev;
        const float variance = (b_prev / b_t) * (1.0f - a_t / a_prev);
        const float std_dev = float(config_.eta) * std::sqrt(variance);
        const float direction = std::sqrt(1.0f - a_prev - std_dev * std_dev);
        const float sqrt_a_prev = std::sqrt(a_prev);
        for (int64_t i = 0; i < x.numel(); ++i) {
            const DdpmPrediction p = split_prediction(config_, model_output[i], x[i], a_t, b_t);
            x[i] = sqrt_a_prev * p.x0 + direction * p.eps;
        }
        if (config_.eta > 0) {
            const Tensor noise = generator.randn(x.shape());
            for (int64_t i = 0; i < x.numel(); ++i) x[i] = x[i] + std_dev * noise[i];
        }
        ++index_;
    }

private:
    int steps_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_ddim(const SchedulerConfig& c) { return std::make_unique<Ddim>(c); }

}  // namespace sdref
