#include "schedulers/ddpm_common.h"

#include <cmath>

#include "schedulers/kdiffusion.h"

namespace sdref {

std::vector<float> ddpm_timesteps(const SchedulerConfig& config, int steps, const std::string& default_spacing) {
    const std::string spacing = config.timestep_spacing.empty() ? default_spacing : config.timestep_spacing;
    std::vector<float> t;
    for (double v : spaced_timesteps(spacing, steps, config.num_train_timesteps, config.steps_offset))
        t.push_back(float(std::nearbyint(v)));
    return t;
}

float alpha_bar_or_final(const SchedulerConfig& config, const NoiseSchedule& schedule, int t) {
    if (t >= 0) return schedule.alphas_cumprod[size_t(t)];
    return config.set_alpha_to_one ? 1.0f : schedule.alphas_cumprod[0];
}

DdpmPrediction split_prediction(const SchedulerConfig& config, float model_output, float x, float a, float b) {
    const float sa = std::sqrt(a), sb = std::sqrt(b);
    if (config.prediction_type == "epsilon") return {(x - sb * model_output) / sa, model_output};
    if (config.prediction_type == "v_prediction") return {sa * x - sb * model_output, sa * model_output + sb * x};
    return {model_output, (x - sa * model_output) / sb};
}

}  // namespace sdref
