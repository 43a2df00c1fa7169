// config.cpp: scheduler_config.json and the noise schedule (betas, alpha_bar) in PyTorch's fp32 arithmetic.
#include <cmath>

#include "core/error.h"
#include "schedulers/scheduler.h"

namespace sdref {

void SchedulerConfig::update_from_json(const Json& json, const std::string& source) {
    for (const auto& [key, value] : json.members(source)) {
        const std::string what = source + ": " + key;
        if (value.is_null()) continue;
        if (key == "num_train_timesteps") num_train_timesteps = int(value.as_int(what));
        else if (key == "beta_start") beta_start = value.as_number(what);
        else if (key == "beta_end") beta_end = value.as_number(what);
        else if (key == "beta_schedule") beta_schedule = value.as_string(what);
        else if (key == "steps_offset") steps_offset = int(value.as_int(what));
        else if (key == "set_alpha_to_one") set_alpha_to_one = value.as_bool(what);
        else if (key == "prediction_type") prediction_type = value.as_string(what);
        else if (key == "timestep_spacing") timestep_spacing = value.as_string(what);
        else if (key == "use_karras_sigmas") use_karras_sigmas = value.as_bool(what);
        else if (key == "algorithm_type") algorithm_type = value.as_string(what);
        else if (key == "solver_order") solver_order = int(value.as_int(what));
        else if (key == "lower_order_final") lower_order_final = value.as_bool(what);
        else if (key == "original_inference_steps") original_inference_steps = int(value.as_int(what));
        else if (key == "timestep_scaling") timestep_scaling = value.as_number(what);
        else if (key == "shift") shift = value.as_number(what);
        else if (key == "trained_betas") fail(what, ": explicit trained_betas are not supported");
    }
    if (num_train_timesteps < 2) fail(source, ": num_train_timesteps must be at least 2");
    if (!(shift > 0 && shift <= 100)) fail(source, ": shift must be in (0, 100], got ", shift);
    if (prediction_type != "epsilon" && prediction_type != "v_prediction" && prediction_type != "sample" && prediction_type != "flow")
        fail(source, ": unknown prediction_type \"", prediction_type, "\" (epsilon, v_prediction, sample, flow)");
    if (!timestep_spacing.empty() && timestep_spacing != "leading" && timestep_spacing != "linspace" &&
        timestep_spacing != "trailing")
        fail(source, ": unknown timestep_spacing \"", timestep_spacing, "\" (leading, linspace, trailing)");
    if (algorithm_type != "dpmsolver++" && algorithm_type != "sde-dpmsolver++" && algorithm_type != "deis")
        fail(source, ": unsupported algorithm_type \"", algorithm_type, "\" (dpmsolver++, sde-dpmsolver++)");
    if (solver_order < 1 || solver_order > 2) fail(source, ": solver_order ", solver_order, " is not supported (1 or 2)");
}

namespace {

// torch.linspace(start, end, n, dtype=float32): the first half counts up from start, the second down from end.
std::vector<float> torch_linspace(float start, float end, int n) {
    std::vector<float> v(static_cast<size_t>(n));
    const float step = (end - start) / float(n - 1);
    const int halfway = n / 2;
    for (int i = 0; i < n; ++i) v[size_t(i)] = i < halfway ? start + step * float(i) : end - step * float(n - i - 1);
    return v;
}

}  // namespace

NoiseSchedule::NoiseSchedule(const SchedulerConfig& c) {
    const int T = c.num_train_timesteps;
    if (c.beta_schedule == "linear") {
        betas = torch_linspace(float(c.beta_start), float(c.beta_end), T);
    } else if (c.beta_schedule == "scaled_linear") {
        // linear in sqrt(beta): the schedule Stable Diffusion was trained with
        betas = torch_linspace(float(std::sqrt(c.beta_start)), float(std::sqrt(c.beta_end)), T);
        for (float& b : betas) b = b * b;
    } else if (c.beta_schedule == "squaredcos_cap_v2") {
        // Glide's cosine schedule: alpha_bar(t) = cos^2((t + 0.008) / 1.008 * pi / 2)
        auto alpha_bar = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2); };
        for (int i = 0; i < T; ++i)
            betas.push_back(float(std::min(1 - alpha_bar(double(i + 1) / T) / alpha_bar(double(i) / T), 0.999)));
    } else {
        fail("unknown beta_schedule \"", c.beta_schedule, "\" (linear, scaled_linear, squaredcos_cap_v2)");
    }
    double product = 1.0;
    for (float b : betas) {
        product *= double(1.0f - b);
        alphas_cumprod.push_back(float(product));
    }
}

Tensor Scheduler::add_noise(const Tensor& x0, const Tensor& noise, size_t index) const {
    const float a = schedule_.alphas_cumprod.at(size_t(timesteps_.at(index)));
    const float sa = std::sqrt(a), sb = std::sqrt(1.0f - a);
    Tensor y(x0.shape());
    for (int64_t i = 0; i < y.numel(); ++i) y[i] = sa * x0[i] + sb * noise[i];
    return y;
}

std::vector<float> NoiseSchedule::sigmas() const {
    std::vector<float> s;
    for (float a : alphas_cumprod) s.push_back(std::sqrt((1.0f - a) / a));
    return s;
}

}  // namespace sdref
