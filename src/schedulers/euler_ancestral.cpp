// euler_ancestral.cpp: Euler ancestral ("Euler a"): an Euler step down to sigma_down, then fresh noise back
// up to sigma_{i+1}, so each step forgets part of the path (k-diffusion's sample_euler_ancestral, eta = 1).
//
//   sigma_up   = sqrt(sigma_{i+1}^2 (sigma_i^2 - sigma_{i+1}^2) / sigma_i^2)
//   sigma_down = sqrt(sigma_{i+1}^2 - sigma_up^2)
//   x <- x + (x - x0) / sigma_i * (sigma_down - sigma_i) + sigma_up * n,   n ~ N(0, I)
//
// One model call per step. diffusers: EulerAncestralDiscreteScheduler.
#include <cmath>

#include "schedulers/kdiffusion.h"
#include "schedulers/samplers.h"

namespace sdref {

namespace {

class EulerAncestral : public KDiffusionScheduler {
public:
    using KDiffusionScheduler::KDiffusionScheduler;

    void set_timesteps(int steps) override { plan_single_pass(steps, "linspace"); }

    void step(const Tensor& eps, Tensor& x, NoiseSource& generator) override {
        const float sigma_from = sigmas_[index_], sigma_to = sigmas_[index_ + 1];
        const float sigma_up =
            std::sqrt(sigma_to * sigma_to * (sigma_from * sigma_from - sigma_to * sigma_to) / (sigma_from * sigma_from));
        const float sigma_down = std::sqrt(sigma_to * sigma_to - sigma_up * sigma_up);
        const float dt = sigma_down - sigma_from;
        const Tensor noise = generator.randn(x.shape());
        euler_step(eps, x, x, sigma_from, dt);
        for (int64_t i = 0; i < x.numel(); ++i) x[i] += noise[i] * sigma_up;
        ++index_;
    }
};

}  // namespace

std::unique_ptr<Scheduler> make_euler_ancestral(const SchedulerConfig& c) { return std::make_unique<EulerAncestral>(c); }

}  // namespace sdref
