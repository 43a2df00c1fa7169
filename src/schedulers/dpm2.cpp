// dpm2.cpp: DPM-Solver-2 in k-diffusion form (sample_dpm_2): a half step to the geometric midpoint
// sigma_mid = sqrt(sigma_i sigma_{i+1}), a model call there, and the full step with the midpoint's slope.
//
//   x_mid = x + (x - x0(x, sigma_i)) / sigma_i * (sigma_mid - sigma_i)
//   x    <- x + (x_mid - x0(x_mid, sigma_mid)) / sigma_mid * (sigma_{i+1} - sigma_i)
//
// Two model calls per step (the last step, to sigma = 0, is one Euler call). diffusers: KDPM2DiscreteScheduler.
#include <cmath>

#include "schedulers/dpm2_common.h"
#include "schedulers/samplers.h"

namespace sdref {

namespace {

class Dpm2 : public Dpm2Base {
public:
    using Dpm2Base::Dpm2Base;

    void set_timesteps(int steps) override {
        std::vector<float> ts, ss, log_sigmas;
        plan(steps, &ts, &ss, &log_sigmas);
        // midpoints between consecutive sigmas: mid[i] between sigma_{i-1} and sigma_i (mid[0] unused)
        std::vector<float> mid(ss.size());
        for (size_t i = 0; i < ss.size(); ++i) mid[i] = log_midpoint(ss[i], i ? ss[i - 1] : 0.0f);
        sigmas_ = interleave_pairs(ss);
        mid_ = interleave_pairs(mid);
        timesteps_ = {ts.front()};
        for (size_t i = 1; i < ts.size(); ++i)
            timesteps_.insert(timesteps_.end(), {float(sigma_to_t(mid[i], log_sigmas)), ts[i]});
        first_order_ = true;
        index_ = 0;
    }

    void step(const Tensor& eps, Tensor& x, NoiseSource&) override {
        if (first_order_) {
            const float sigma = sigmas_[index_], sigma_mid = mid_[index_ + 1];
            sample_ = x;
            euler_step(eps, x, x, sigma, sigma_mid - sigma);
        } else {
            const float sigma = sigmas_[index_ - 1], sigma_mid = mid_[index_], sigma_next = sigmas_[index_];
            euler_step(eps, x, sample_, sigma_mid, sigma_next - sigma);
        }
        first_order_ = !first_order_;
        ++index_;
    }

protected:
    float input_sigma() const override { return first_order_ ? sigmas_[index_] : mid_[index_]; }

private:
    std::vector<float> mid_;  // interleaved like sigmas_
};

}  // namespace

std::unique_ptr<Scheduler> make_dpm2(const SchedulerConfig& c) { return std::make_unique<Dpm2>(c); }

}  // namespace sdref
