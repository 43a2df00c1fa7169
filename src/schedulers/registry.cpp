// registry.cpp: the one table of samplers: command-line name, diffusers class, constructor.
#include <algorithm>

#include "core/error.h"
#include "schedulers/samplers.h"
#include "schedulers/sigma_schedules.h"

namespace sdref {

namespace {

struct SamplerEntry {
    const char* name;        // --sampling-method
    const char* a1111;       // A1111's name (its API's sampler_name, PNG "Sampler")
    const char* alias;       // k-diffusion's name, which A1111 also accepts
    const char* class_name;  // diffusers
    std::unique_ptr<Scheduler> (*make)(const SchedulerConfig&);
    bool karras;             // whether --scheduler karras applies
    const char* algorithm;   // DPM-Solver algorithm_type, or nullptr
    bool flow;               // whether it samples flow-prediction models (the deterministic sigma-space ODE solvers,
                             // which need only x0 = x - sigma v: kdiffusion.h)
    bool sigma_schedules;    // whether it steps through a list of sigmas, so a named schedule applies (the k-diffusion samplers)
};

const SamplerEntry kSamplers[] = {
    {"ddim", "DDIM", "ddim", "DDIMScheduler", make_ddim, false, nullptr, false, false},
    {"pndm", "PLMS", "plms", "PNDMScheduler", make_pndm, false, nullptr, false, false},
    {"lms", "LMS", "k_lms", "LMSDiscreteScheduler", make_lms, true, nullptr, true, true},
    {"euler", "Euler", "k_euler", "EulerDiscreteScheduler", make_euler, true, nullptr, true, true},
    {"euler_a", "Euler a", "k_euler_a", "EulerAncestralDiscreteScheduler", make_euler_ancestral, true, nullptr, false, true},
    {"heun", "Heun", "k_heun", "HeunDiscreteScheduler", make_heun, true, nullptr, true, true},
    {"dpm2", "DPM2", "k_dpm_2", "KDPM2DiscreteScheduler", make_dpm2, true, nullptr, true, true},
    {"dpm2_a", "DPM2 a", "k_dpm_2_a", "KDPM2AncestralDiscreteScheduler", make_dpm2_ancestral, true, nullptr, false, true},
    {"dpm++2m", "DPM++ 2M", "k_dpmpp_2m", "DPMSolverMultistepScheduler", make_dpm_solver_multistep, true, "dpmsolver++", false, false},
    {"dpm++2m_sde", "DPM++ 2M SDE", "k_dpmpp_2m_sde", "DPMSolverMultistepScheduler", make_dpm_solver_multistep, true, "sde-dpmsolver++", false, false},
    {"dpm++2s", "DPM++ 2S", "k_dpmpp_2s", "DPMSolverSinglestepScheduler", make_dpm_solver_singlestep, true, "dpmsolver++", false, false},
    {"unipc", "UniPC", "uni_pc", "UniPCMultistepScheduler", make_unipc, true, nullptr, false, false},
    {"deis", "DEIS", "deis", "DEISMultistepScheduler", make_deis, true, nullptr, false, false},
    {"lcm", "LCM", "k_lcm", "LCMScheduler", make_lcm, false, nullptr, false, false},
};

std::string joined(const std::vector<std::string>& names) {
    std::string s;
    for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
    return s;
}

}  // namespace

const std::vector<std::string>& sampling_method_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (const SamplerEntry& e : kSamplers) v.push_back(e.name);
        return v;
    }();
    return names;
}

const std::vector<SamplerNames>& sampler_table() {
    static const std::vector<SamplerNames> names = [] {
        std::vector<SamplerNames> v;
        for (const SamplerEntry& e : kSamplers) v.push_back({e.name, e.a1111, e.alias, e.karras});
        return v;
    }();
    return names;
}

const std::vector<std::string>& schedule_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v = {"discrete", "karras", "trailing"};
        for (const std::string& n : sigma_schedule_names())
            if (n != "karras") v.push_back(n);
        return v;
    }();
    return names;
}

std::unique_ptr<Scheduler> make_scheduler(const std::string& sampling_method, const std::string& schedule,
                                          SchedulerConfig config) {
    for (const SamplerEntry& e : kSamplers) {
        if (sampling_method != e.name) continue;
        if (e.algorithm) config.algorithm_type = e.algorithm;
        if (config.prediction_type == "flow" && !e.flow) {
            std::vector<std::string> valid;
            for (const SamplerEntry& f : kSamplers)
                if (f.flow) valid.push_back(f.name);
            fail("--sampling-method ", e.name, " does not sample flow-prediction models (valid: ", joined(valid), ")");
        }
        if (schedule == "karras") {
            if (!e.karras) fail("--scheduler karras does not apply to --sampling-method ", e.name);
            config.use_karras_sigmas = true;
        } else if (schedule == "trailing") {
            config.timestep_spacing = "trailing";
        } else if (schedule != "discrete") {
            const std::vector<std::string>& named = sigma_schedule_names();
            if (std::find(named.begin(), named.end(), schedule) == named.end())
                fail("--scheduler: unknown schedule \"", schedule, "\" (valid: ", joined(schedule_names()), ")");
            if (!e.sigma_schedules) {
                std::vector<std::string> valid;
                for (const SamplerEntry& f : kSamplers)
                    if (f.sigma_schedules) valid.push_back(f.name);
                fail("--scheduler ", schedule, " does not apply to --sampling-method ", e.name, " (it does to ", joined(valid), ")");
            }
            config.sigma_schedule = schedule;
        }
        return e.make(config);
    }
    fail("--sampling-method: unknown sampler \"", sampling_method, "\" (valid: ", joined(sampling_method_names()), ")");
}

std::unique_ptr<Scheduler> make_scheduler_by_class(const std::string& class_name, const SchedulerConfig& config) {
    if (class_name == "FlowMatchEulerDiscreteScheduler") {  // SD 3.x: Euler on the flow-matching schedule
        SchedulerConfig flow = config;
        flow.prediction_type = "flow";
        return make_euler(flow);
    }
    for (const SamplerEntry& e : kSamplers)
        if (class_name == e.class_name) return e.make(config);
    fail("unsupported scheduler class \"", class_name, "\"");
}

}  // namespace sdref
