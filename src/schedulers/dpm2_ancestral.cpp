// dpm2_ancestral.cpp: DPM-Solver-2 ancestral (k-diffusion's sample_dpm_2_ancestral, eta = 1): the DPM2 step
// aimed at sigma_down instead of sigma_{i+1}, then fresh noise of size sigma_up, as in Euler a.
//
//   sigma_up = sqrt(sigma_{i+1}^2 (sigma_i^2 - sigma_{i+1}^2) / sigma_i^2),  sigma_down = sqrt(sigma_{i+1}^2 - sigma_up^2)
//   sigma_mid = sqrt(sigma_i sigma_down)
//   x_mid = x + (x - x0(x, sigma_i)) / sigma_i * (sigma_mid - sigma_i)
//   x    <- x + (x_mid - x0(x_mid, sigma_mid)) / sigma_mid * (sigma_down - sigma_i) + sigma_up * n
//
// Two model calls per step; noise is drawn at every call and added after the second.
// diffusers: KDPM2AncestralDiscreteScheduler.
#include <cmath>

#include "schedulers/dpm2_common.h"
#include "schedulers/samplers.h"

namespace sdref {

namespace {

// torch's sigma_to_t, all in fp32.
float sigma_to_t_f32(float sigma, const std::vector<float>& log_sigmas) {
    const float log_sigma = std::log(sigma);
    size_t low = 0;
    for (size_t i = 0; i < log_sigmas.size(); ++i)
        if (log_sigma - log_sigmas[i] >= 0) low = i;
    low = std::min(low, log_sigmas.size() - 2);
    const float lo = log_sigmas[low], hi = log_sigmas[low + 1];
    const float w = std::min(std::max((lo - log_sigma) / (lo - hi), 0.0f), 1.0f);
    return (1 - w) * float(low) + w * float(low + 1);
}

class Dpm2Ancestral : public Dpm2Base {
public:
    using Dpm2Base::Dpm2Base;

    void set_timesteps(int steps) override {
        std::vector<float> ts, ss, log_sigmas;
        plan(steps, &ts, &ss, &log_sigmas);
        const size_t n = ss.size();
        std::vector<float> up(n), down(n), mid(n);
        for (size_t i = 0; i < n; ++i) {
            const float s = ss[i], next = i + 1 < n ? ss[i + 1] : 0.0f;
            up[i] = std::sqrt(next * next * (s * s - next * next) / (s * s));
            down[i] = i + 1 < n ? std::sqrt(next * next - up[i] * up[i]) : 0.0f;
            mid[i] = i + 2 < n ? log_midpoint(s, down[i]) : 0.0f;
        }
        sigmas_ = interleave_pairs(ss);
        up_ = interleave_pairs(up);
        down_ = interleave_pairs(down);
        mid_ = interleave_pairs(mid);
        timesteps_ = {ts.front()};
        for (size_t i = 1; i < ts.size(); ++i)
            timesteps_.insert(timesteps_.end(), {sigma_to_t_f32(mid[i - 1], log_sigmas), ts[i]});
        first_order_ = true;
        index_ = 0;
    }

    void step(const Tensor& eps, Tensor& x, NoiseSource& generator) override {
        const Tensor noise = generator.randn(x.shape());
        if (first_order_) {
            const float sigma = sigmas_[index_], sigma_mid = mid_[index_];
            sample_ = x;
            euler_step(eps, x, x, sigma, sigma_mid - sigma);
        } else {
            const size_t k = index_ - 1;
            const float sigma = sigmas_[k], sigma_mid = mid_[k], sigma_up = up_[k], sigma_down = down_[k];
            euler_step(eps, x, sample_, sigma_mid, sigma_down - sigma);
            for (int64_t i = 0; i < x.numel(); ++i) x[i] += noise[i] * sigma_up;
        }
        first_order_ = !first_order_;
        ++index_;
    }

protected:
    float input_sigma() const override { return first_order_ ? sigmas_[index_] : mid_[index_ - 1]; }

private:
    std::vector<float> up_, down_, mid_;  // interleaved like sigmas_
};

}  // namespace

std::unique_ptr<Scheduler> make_dpm2_ancestral(const SchedulerConfig& c) { return std::make_unique<Dpm2Ancestral>(c); }

}  // namespace sdref
