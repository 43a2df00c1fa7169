#include "schedulers/dpm_solver_common.h"

#include <algorithm>
#include <cmath>

#include "schedulers/kdiffusion.h"

namespace sdref {

DpmSolverBase::DpmSolverBase(const SchedulerConfig& config) : Scheduler(config) {
    for (float a : schedule_.alphas_cumprod) {
        alpha_.push_back(std::sqrt(a));
        sigma_.push_back(std::sqrt(1.0f - a));
        lambda_.push_back(std::log(alpha_.back()) - std::log(sigma_.back()));
    }
}

void DpmSolverBase::plan_timesteps(int steps, const std::string& spacing, Repeats repeats) {
    const int T = config_.num_train_timesteps;
    std::vector<double> t;
    if (spacing == "linspace") {
        t = spaced_timesteps("linspace", steps + 1, T, 0);
        t.pop_back();
    } else if (spacing == "leading") {
        const int ratio = T / (steps + 1);
        for (int i = steps; i >= 1; --i) t.push_back(double(i * ratio + config_.steps_offset));
    } else {
        t = spaced_timesteps("trailing", steps, T, 0);
    }
    const std::vector<float> table = schedule_.sigmas();
    sigmas_ = table;
    if (config_.use_karras_sigmas) {
        std::vector<float> log_sigmas;
        for (float s : table) log_sigmas.push_back(std::log(s));
        const std::vector<double> karras = karras_sigmas(table.front(), table.back(), steps);  // ascending
        sigmas_.assign(karras.begin(), karras.end());
        t.clear();
        for (auto it = karras.rbegin(); it != karras.rend(); ++it) t.push_back(sigma_to_t(*it, log_sigmas));
    }
    timesteps_.clear();
    for (double v : t) {
        const float rounded = float(std::nearbyint(v));
        if (repeats == Repeats::Keep || std::find(timesteps_.begin(), timesteps_.end(), rounded) == timesteps_.end())
            timesteps_.push_back(rounded);
    }
    index_ = 0;
}

Tensor DpmSolverBase::predict_x0(const Tensor& model_output, const Tensor& x, int t) const {
    const float a = alpha_[size_t(t)], s = sigma_[size_t(t)];
    Tensor x0(x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) {
        if (config_.prediction_type == "epsilon") x0[i] = (x[i] - s * model_output[i]) / a;
        else if (config_.prediction_type == "v_prediction") x0[i] = a * x[i] - s * model_output[i];
        else x0[i] = model_output[i];
    }
    return x0;
}

}  // namespace sdref
