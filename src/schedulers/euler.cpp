// euler.cpp: Euler's method on the probability-flow ODE (Karras et al. 2022, Algorithm 2 without churn).
//
//   d = (x - x0(x, sigma_i)) / sigma_i         the ODE's slope dx/dsigma
//   x <- x + d * (sigma_{i+1} - sigma_i)
//
// One model call per step, no noise. diffusers: EulerDiscreteScheduler.
#include "schedulers/kdiffusion.h"
#include "schedulers/samplers.h"

namespace sdref {

namespace {

class Euler : public KDiffusionScheduler {
public:
    using KDiffusionScheduler::KDiffusionScheduler;

    void set_timesteps(int steps) override { plan_single_pass(steps, "linspace"); }

    void step(const Tensor& eps, Tensor& x, NoiseSource& generator) override {
        const float sigma = sigmas_[index_];
        const float dt = sigmas_[index_ + 1] - sigma;
        // diffusers draws a churn noise tensor every step (unused without churn): keep the generator in step.
        generator.randn(x.shape());
        euler_step(eps, x, x, sigma, dt);
        ++index_;
    }
};

}  // namespace

std::unique_ptr<Scheduler> make_euler(const SchedulerConfig& c) { return std::make_unique<Euler>(c); }

}  // namespace sdref
