// dpm2_common.h: what DPM2 and DPM2 ancestral share: the sigma tables, visited twice per step.
#pragma once

#include <cmath>
#include <vector>

#include "schedulers/kdiffusion.h"

namespace sdref {

// [v0, v1, v1, v2, v2, ..., v_{n-1}, v_{n-1}, v_{n-1}]: diffusers' cat([v[:1], v[1:].repeat_interleave(2), v[-1:]]).
inline std::vector<float> interleave_pairs(const std::vector<float>& v) {
    std::vector<float> out = {v.front()};
    for (size_t i = 1; i < v.size(); ++i) out.insert(out.end(), {v[i], v[i]});
    out.push_back(v.back());
    return out;
}

class Dpm2Base : public KDiffusionScheduler {
public:
    using KDiffusionScheduler::KDiffusionScheduler;
    int order() const override { return 2; }

protected:
    // The k-diffusion tables (sigmas end with 0) and the log of the training sigmas.
    void plan(int steps, std::vector<float>* ts, std::vector<float>* ss, std::vector<float>* log_sigmas) {
        std::vector<double> t, s;
        plan_sigmas(steps, "linspace", &t, &s);
        store_kdiffusion_tables(t, s, ts, ss);
        log_sigmas->clear();
        for (float v : schedule_.sigmas()) log_sigmas->push_back(std::log(v));
    }

    // torch.lerp(log a, log b, 0.5).exp() in fp32: the geometric mean; log 0 = -inf gives 0 or NaN.
    static float log_midpoint(float a, float b) {
        const float la = std::log(a), lb = std::log(b);
        return std::exp(lb - (lb - la) * 0.5f);
    }

    bool first_order_ = true;  // the next call is the first of its step
    Tensor sample_;            // x at the start of the step
};

}  // namespace sdref
