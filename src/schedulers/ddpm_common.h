// ddpm_common.h: what the timestep-indexed samplers (DDIM, PNDM, LCM) share: integer timesteps and the
// split of a model output into (x0, eps) at alpha_bar_t.
#pragma once

#include <string>
#include <vector>

#include "schedulers/scheduler.h"

namespace sdref {

// Integer timesteps for a spacing (leading: (arange(n) * (T // n)) + steps_offset; trailing:
// round(arange(T, 0, -T/n)) - 1; linspace: round(linspace(0, T-1, n))), descending, as fp32.
std::vector<float> ddpm_timesteps(const SchedulerConfig& config, int steps, const std::string& default_spacing);

// alpha_bar at t, or for t < 0 the "final" value: 1 with set_alpha_to_one, else alpha_bar_0.
float alpha_bar_or_final(const SchedulerConfig& config, const NoiseSchedule& schedule, int t);

struct DdpmPrediction {
    float x0;   // the predicted clean latent
    float eps;  // the predicted noise
};

// From the model output at x_t: epsilon  x0 = (x - sqrt(b) e) / sqrt(a)
//                                v        x0 = sqrt(a) x - sqrt(b) v,  eps = sqrt(a) v + sqrt(b) x
//                                sample   x0 = output,                 eps = (x - sqrt(a) x0) / sqrt(b)
// with a = alpha_bar_t, b = 1 - a.
DdpmPrediction split_prediction(const SchedulerConfig& config, float model_output, float x, float a, float b);

}  // namespace sdref
