// heun.cpp: Heun's method (Karras et al. 2022, Algorithm 1): an Euler step to sigma_{i+1}, a second model
// call there, and the step redone with the average of both slopes. The last step (to sigma = 0) is plain Euler.
//
//   d   = (x - x0(x, sigma_i)) / sigma_i;       x' = x + d (sigma_{i+1} - sigma_i)
//   d'  = (x' - x0(x', sigma_{i+1})) / sigma_{i+1}
//   x  <- x + (d + d') / 2 (sigma_{i+1} - sigma_i)
//
// Two model calls per step (2N - 1 in all). diffusers: HeunDiscreteScheduler; timesteps() lists every call.
#include "schedulers/kdiffusion.h"
#include "schedulers/samplers.h"

namespace sdref {

namespace {

class Heun : public KDiffusionScheduler {
public:
    using KDiffusionScheduler::KDiffusionScheduler;
    int order() const override { return 2; }

    void set_timesteps(int steps) override {
        std::vector<double> t, s;
        plan_sigmas(steps, "linspace", &t, &s);
        std::vector<float> ts, ss;
        store_kdiffusion_tables(t, s, &ts, &ss);
        // every sigma but the first and the final 0 is visited twice: [s0, s1, s1, s2, s2, ..., 0]
        sigmas_ = {ss.front()};
        timesteps_ = {ts.front()};
        for (size_t i = 1; i + 1 < ss.size(); ++i) sigmas_.insert(sigmas_.end(), {ss[i], ss[i]});
        for (size_t i = 1; i < ts.size(); ++i) timesteps_.insert(timesteps_.end(), {ts[i], ts[i]});
        sigmas_.push_back(0.0f);
        first_order_ = true;
        index_ = 0;
    }

    void step(const Tensor& eps, Tensor& x, NoiseSource&) override {
        if (first_order_) {
            const float sigma = sigmas_[index_], sigma_next = sigmas_[index_ + 1];
            dt_ = sigma_next - sigma;
            derivative_ = Tensor(x.shape());
            for (int64_t i = 0; i < x.numel(); ++i) derivative_[i] = slope(eps[i], x[i], sigma);
            sample_ = x;
            for (int64_t i = 0; i < x.numel(); ++i) x[i] = x[i] + derivative_[i] * dt_;
            // a step that lands on sigma = 0 has no second call
            first_order_ = sigma_next == 0.0f;
        } else {
            const float sigma_next = sigmas_[index_];
            for (int64_t i = 0; i < x.numel(); ++i) {
                const float d = slope(eps[i], x[i], sigma_next);
                x[i] = sample_[i] + ((derivative_[i] + d) / 2) * dt_;
            }
            first_order_ = true;
        }
        ++index_;
    }

private:
    bool first_order_ = true;
    float dt_ = 0;
    Tensor derivative_;  // the first call's slope
    Tensor sample_;      // x before the first call's Euler step
};

}  // namespace

std::unique_ptr<Scheduler> make_heun(const SchedulerConfig& c) { return std::make_unique<Heun>(c); }

}  // namespace sdref
