// lms.cpp: linear multistep (k-diffusion's sample_lms): the slopes d_j = (x - x0) / sigma of the last
// `order` (4) steps, weighted by the integral over [sigma_i, sigma_{i+1}] of their Lagrange basis polynomials.
//
//   x <- x + sum_j c_j d_{i-j},   c_j = integral_{sigma_i}^{sigma_{i+1}} prod_{k != j} (s - sigma_{i-k}) / (sigma_{i-j} - sigma_{i-k}) ds
//
// One model call per step, no noise. diffusers: LMSDiscreteScheduler (which integrates numerically; the
// integrand is a polynomial of degree < 4, so 4-point Gauss-Legendre quadrature here is exact).
#include <cmath>
#include <deque>

#include "schedulers/kdiffusion.h"
#include "schedulers/samplers.h"

namespace sdref {

namespace {

constexpr int kOrder = 4;

class Lms : public KDiffusionScheduler {
public:
    using KDiffusionScheduler::KDiffusionScheduler;

    void set_timesteps(int steps) override {
        plan_single_pass(steps, "linspace");
        derivatives_.clear();
    }

    void step(const Tensor& eps, Tensor& x, NoiseSource&) override {
        const float sigma = sigmas_[index_];
        Tensor d(x.shape());
        for (int64_t i = 0; i < x.numel(); ++i) d[i] = slope(eps[i], x[i], sigma);
        derivatives_.push_back(d);
        if (int(derivatives_.size()) > kOrder) derivatives_.pop_front();
        const int order = std::min(int(index_) + 1, kOrder);
        // newest slope first: coefficient j weights derivatives_[size - 1 - j]
        Tensor update(x.shape());
        for (int j = 0; j < order; ++j) {
            const float c = float(coefficient(order, int(index_), j));
            const Tensor& dj = derivatives_[derivatives_.size() - 1 - size_t(j)];
            for (int64_t i = 0; i < x.numel(); ++i) update[i] = update[i] + c * dj[i];
        }
        for (int64_t i = 0; i < x.numel(); ++i) x[i] = x[i] + update[i];
        ++index_;
    }

private:
    // integral over [sigma_t, sigma_{t+1}] of the Lagrange basis polynomial j through sigma_t, ..., sigma_{t-order+1}
    double coefficient(int order, int t, int j) const {
        auto basis = [&](double s) {
            double prod = 1.0;
            for (int k = 0; k < order; ++k) {
                if (k == j) continue;
                prod *= (s - sigmas_[size_t(t - k)]) / (double(sigmas_[size_t(t - j)]) - sigmas_[size_t(t - k)]);
            }
            return prod;
        };
        static const double nodes[] = {-0.8611363115940526, -0.3399810435848563, 0.3399810435848563, 0.8611363115940526};
        static const double weights[] = {0.3478548451374538, 0.6521451548625461, 0.6521451548625461, 0.3478548451374538};
        const double a = sigmas_[size_t(t)], b = sigmas_[size_t(t + 1)];
        double sum = 0;
        for (int q = 0; q < 4; ++q) sum += weights[q] * basis(0.5 * (a + b) + 0.5 * (b - a) * nodes[q]);
        return 0.5 * (b - a) * sum;
    }

    std::deque<Tensor> derivatives_;  // the last `order` slopes, oldest first
};

}  // namespace

std::unique_ptr<Scheduler> make_lms(const SchedulerConfig& c) { return std::make_unique<Lms>(c); }

}  // namespace sdref
