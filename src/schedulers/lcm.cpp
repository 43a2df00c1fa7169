// lcm.cpp: Latent Consistency Model sampling (Luo et al. 2023): at each step the model's consistency function
// jumps straight to a clean estimate, which is re-noised to the next (much lower) timestep.
//
//   x0      = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)
//   c_skip  = sigma_d^2 / ((10 t)^2 + sigma_d^2),  c_out = 10 t / sqrt((10 t)^2 + sigma_d^2),  sigma_d = 0.5
//   denoised = c_out x0 + c_skip x_t
//   x_prev  = sqrt(a_prev) denoised + sqrt(1 - a_prev) n     (the last step returns denoised)
//
// Timesteps: every (T / 50)-th of the 50 LCM training steps, picked evenly. One model call per step.
// diffusers: LCMScheduler.
#include <cmath>

#include "core/error.h"
#include "schedulers/ddpm_common.h"
#include "schedulers/samplers.h"

namespace sdref {

namespace {

class Lcm : public Scheduler {
public:
    using Scheduler::Scheduler;

    void set_timesteps(int steps) override {
        const int original = config_.original_inference_steps;
        const int k = config_.num_train_timesteps / original;
        if (steps > original) fail("--steps: the LCM sampler takes at most ", original, " steps");
        // the LCM training timesteps k-1, 2k-1, ..., descending, then `steps` of them evenly
        timesteps_.clear();
        for (int i = 0; i < steps; ++i) {
            const int pick = int(std::floor(double(i) * original / steps));
            timesteps_.push_back(float((original - pick) * k - 1));
        }
        index_ = 0;
    }

    void step(const Tensor& model_output, Tensor& x, NoiseSource& generator) override {
        const int t = int(timesteps_[index_]);
        const bool last = index_ + 1 == timesteps_.size();
        const int prev_t = last ? t : int(timesteps_[index_ + 1]);
        const float a_t = schedule_.alphas_cumprod[size_t(t)], b_t = 1 - a_t;
        const float a_prev = alpha_bar_or_final(config_, schedule_, prev_t);
        const float sigma_data = 0.5f;
        const float scaled = float(t) * float(config_.timestep_scaling);
        const float c_skip = sigma_data * sigma_data / (scaled * scaled + sigma_data * sigma_data);
        const float c_out = scaled / std::sqrt(scaled * scaled + sigma_data * sigma_data);
        Tensor denoised(x.shape());
        for (int64_t i = 0; i < x.numel(); ++i)
            denoised[i] = c_out * split_prediction(config_, model_output[i], x[i], a_t, b_t).x0 + c_skip * x[i];
        if (last) {
            x = denoised;
        } else {
            const Tensor noise = generator.randn(x.shape());
            const float sa = std::sqrt(a_prev), sb = std::sqrt(1 - a_prev);
            for (int64_t i = 0; i < x.numel(); ++i) x[i] = sa * denoised[i] + sb * noise[i];
        }
        ++index_;
    }
};

}  // namespace

std::unique_ptr<Scheduler> make_lcm(const SchedulerConfig& c) { return std::make_unique<Lcm>(c); }

}  // namespace sdref
