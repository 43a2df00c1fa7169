#include "schedulers/kdiffusion.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "schedulers/sigma_schedules.h"

namespace sdref {

std::vector<double> spaced_timesteps(const std::string& spacing, int steps, int T, int steps_offset) {
    std::vector<double> t;
    if (spacing == "linspace") {
        const double step = double(T - 1) / double(steps - 1);
        for (int i = steps - 1; i >= 0; --i) t.push_back(i == steps - 1 ? double(T - 1) : double(i) * step);
        if (steps == 1) t = {0.0};
    } else if (spacing == "leading") {
        const int ratio = T / steps;
        for (int i = steps - 1; i >= 0; --i) t.push_back(double(i * ratio + steps_offset));
    } else if (spacing == "trailing") {
        // numpy: round(arange(T, 0, -T/steps)) - 1. arange has ceil((stop - start) / step) entries, filled as
        // start + i * delta with delta = (start + step) - start (not step itself: the rounding decides ties)
        const double step = -double(T) / double(steps);
        const auto n = int64_t(std::ceil((0.0 - double(T)) / step));
        const double delta = (double(T) + step) - double(T);
        for (int64_t i = 0; i < n; ++i) t.push_back(std::nearbyint(i == 0 ? double(T) : double(T) + double(i) * delta) - 1);
    } else {
        fail("unknown timestep spacing \"", spacing, "\"");
    }
    return t;
}

std::vector<double> interp_sigmas(const std::vector<double>& timesteps, const std::vector<float>& table) {
    std::vector<double> s;
    const double last = double(table.size() - 1);
    for (double t : timesteps) {
        const double c = std::clamp(t, 0.0, last);
        const size_t i = std::min(size_t(c), table.size() - 2);
        const double w = c - double(i);
        s.push_back(w == 0 ? double(table[i]) : double(table[i]) + w * (double(table[i + 1]) - double(table[i])));
    }
    return s;
}

std::vector<double> karras_sigmas(double first, double last, int steps) {
    const double rho = 7.0;
    const double first_inv = std::pow(first, 1 / rho), last_inv = std::pow(last, 1 / rho);
    std::vector<double> s;
    for (int i = 0; i < steps; ++i) {
        const double ramp = steps == 1 ? 0.0 : double(i) / double(steps - 1);
        s.push_back(std::pow(first_inv + ramp * (last_inv - first_inv), rho));
    }
    return s;
}

double sigma_to_t(double sigma, const std::vector<float>& log_sigmas) {
    const double log_sigma = std::log(sigma);
    // the last table entry at or below log(sigma) (log sigmas ascend with t), kept below the top entry
    size_t low = 0;
    for (size_t i = 0; i < log_sigmas.size(); ++i)
        if (log_sigma - double(log_sigmas[i]) >= 0) low = i;
    low = std::min(low, log_sigmas.size() - 2);
    const float lo = log_sigmas[low], hi = log_sigmas[low + 1];
    const double w = std::clamp((double(lo) - log_sigma) / double(lo - hi), 0.0, 1.0);
    return (1 - w) * double(low) + w * double(low + 1);
}

std::vector<double> flow_sigmas(int steps, int train_steps, double shift) {
    // diffusers computes sigma_min in fp32 at construction: shift(1.0f / T) of float32 values
    const float s1 = 1.0f / float(train_steps), sh = float(shift);
    const double sigma_max = 1.0, sigma_min = double(sh * s1 / (1.0f + (sh - 1.0f) * s1));
    const double first = sigma_max * train_steps, last = sigma_min * train_steps;
    const double step = steps > 1 ? (last - first) / double(steps - 1) : 0.0;
    std::vector<double> sigmas;
    for (int i = 0; i < steps; ++i) {
        const double t = i == steps - 1 && steps > 1 ? last : double(i) * step + first;  // (np.linspace)
        const double s = t / train_steps;
        sigmas.push_back(double(float(shift * s / (1 + (shift - 1) * s))));  // (float64, then stored as fp32)
    }
    return sigmas;
}

void KDiffusionScheduler::plan_sigmas(int steps, const std::string& default_spacing, std::vector<double>* timesteps,
                                      std::vector<double>* sigmas) {
    spacing_ = config_.timestep_spacing.empty() ? default_spacing : config_.timestep_spacing;
    if (flow()) {  // flow matching: its own schedule; the model reads sigma * T (fp32)
        if (!config_.sigma_schedule.empty() || config_.use_karras_sigmas)
            fail("a flow-matching model samples on its own schedule: named schedules and Karras sigmas do not apply");
        *sigmas = flow_sigmas(steps, config_.num_train_timesteps, config_.shift);
        timesteps->clear();
        for (double s : *sigmas) timesteps->push_back(double(float(s) * float(config_.num_train_timesteps)));
        return;
    }
    const std::string& spacing = spacing_;
    const std::vector<float> table = schedule_.sigmas();
    if (!config_.sigma_schedule.empty()) {
        // a named schedule on A1111's sigma table (ComfyUI's for ComfyUI's own names), its timesteps
        // t(sigma) as the reference's model reads them: k-diffusion's interpolation, ComfyUI's nearest entry
        const std::string& name = config_.sigma_schedule;
        const bool comfy = name.rfind("comfy_", 0) == 0 || name == "linear_quadratic" || name == "ddim_uniform";
        const SigmaTable t = comfy ? comfy_sigma_table(alphas_cumprod64(config_)) : a1111_sigma_table(schedule_.alphas_cumprod);
        std::vector<double> s = named_sigmas(name, steps, t);
        s.pop_back();  // (the samplers' tables end with 0: A1111's kl_optimal ends at sigma_min, here at 0)
        *sigmas = s;
        timesteps->clear();
        for (double sigma : s) {
            const double ts = sigma_to_t(sigma, t.log_sigmas);
            timesteps->push_back(comfy ? std::round(ts) : ts);
        }
        return;
    }
    *timesteps = spaced_timesteps(spacing, steps, schedule_.size(), config_.steps_offset);
    *sigmas = interp_sigmas(*timesteps, table);
    if (config_.use_karras_sigmas) {
        std::vector<float> log_sigmas;
        for (float s : table) log_sigmas.push_back(std::log(s));
        *sigmas = karras_sigmas(sigmas->front(), sigmas->back(), steps);
        for (size_t i = 0; i < sigmas->size(); ++i) (*timesteps)[i] = sigma_to_t((*sigmas)[i], log_sigmas);
    }
}

void store_kdiffusion_tables(const std::vector<double>& timesteps, const std::vector<double>& sigmas,
                             std::vector<float>* timesteps_out, std::vector<float>* sigmas_out) {
    timesteps_out->assign(timesteps.begin(), timesteps.end());
    sigmas_out->assign(sigmas.begin(), sigmas.end());
    sigmas_out->push_back(0.0f);
}

void KDiffusionScheduler::plan_single_pass(int steps, const std::string& default_spacing) {
    std::vector<double> t, s;
    plan_sigmas(steps, default_spacing, &t, &s);
    store_kdiffusion_tables(t, s, &timesteps_, &sigmas_);
    index_ = 0;
}

float KDiffusionScheduler::init_noise_sigma() const {
    if (flow()) return 1.0f;  // x_1 is the noise itself
    const float max_sigma = *std::max_element(sigmas_.begin(), sigmas_.end());
    if (spacing_ == "leading") return std::sqrt(max_sigma * max_sigma + 1.0f);
    return max_sigma;
}

void KDiffusionScheduler::scale_model_input(Tensor& x) const {
    if (flow()) return;  // a flow model reads x_sigma as it is
    const float sigma = input_sigma();
    const float scale = std::sqrt(sigma * sigma + 1.0f);
    for (int64_t i = 0; i < x.numel(); ++i) x[i] = x[i] / scale;
}

Tensor KDiffusionScheduler::add_noise(const Tensor& x0, const Tensor& noise, size_t index) const {
    const float sigma = sigmas_.at(index);
    Tensor y(x0.shape());
    if (flow()) {
        for (int64_t i = 0; i < y.numel(); ++i) y[i] = (1.0f - sigma) * x0[i] + sigma * noise[i];
        return y;
    }
    for (int64_t i = 0; i < y.numel(); ++i) y[i] = x0[i] + noise[i] * sigma;
    return y;
}

float KDiffusionScheduler::predict_x0(float model_output, float x, float sigma) const {
    if (config_.prediction_type == "epsilon" || flow()) return x - sigma * model_output;
    if (config_.prediction_type == "v_prediction") {
        const float s2 = sigma * sigma + 1.0f;
        return model_output * (-sigma / std::sqrt(s2)) + x / s2;
    }
    return model_output;  // "sample": the model predicts x_0 itself
}

}  // namespace sdref
