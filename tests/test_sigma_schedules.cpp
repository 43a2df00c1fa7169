// Sigma schedules by name (schedulers/sigma_schedules.h) against sigma_schedules.safetensors (set v4): every
// a1111.<name>.<steps> and comfy.<name>.<steps> the file holds, on A1111's and ComfyUI's sigma tables of its
// training schedule, within the README's bound (1e-5 of max(1, max |ref|)) and with exact lengths.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>

#include "golden.h"
#include "io/safetensors.h"
#include "schedulers/sigma_schedules.h"

using namespace sdref;

TEST_CASE("every named sigma schedule of A1111 and ComfyUI, at every step count of the golden", "[schedulers][golden]") {
    const SafetensorsFile g(test::golden_v4_path("sigma_schedules.safetensors"));
    // the references' names -> sdref's (--scheduler); where ComfyUI's formula differs, sdref has a comfy_ name
    const std::map<std::string, std::string> a1111 = {{"uniform", "uniform"}, {"normal", "normal"}, {"sgm_uniform", "sgm_uniform"},
        {"karras", "karras"}, {"exponential", "exponential"}, {"polyexponential", "polyexponential"}, {"simple", "simple"},
        {"ddim", "ddim_uniform"}, {"beta", "beta"}, {"kl_optimal", "kl_optimal"}, {"align_your_steps", "align_your_steps"},
        {"align_your_steps_sdxl", "align_your_steps_sdxl"}};
    const std::map<std::string, std::string> comfy = {{"normal", "normal"}, {"karras", "karras"}, {"exponential", "exponential"},
        {"sgm_uniform", "sgm_uniform"}, {"simple", "simple"}, {"ddim_uniform", "ddim_uniform"}, {"beta", "comfy_beta"},
        {"kl_optimal", "comfy_kl_optimal"}, {"linear_quadratic", "linear_quadratic"}};
    // the two tables of SD 1.5's training schedule (the file's `about`), checked first
    const Tensor ac = g.load_f32("alphas_cumprod");
    const SigmaTable a_table = a1111_sigma_table(std::vector<float>(ac.data(), ac.data() + ac.numel()));
    const SigmaTable c_table = comfy_sigma_table(alphas_cumprod64(SchedulerConfig{}));
    for (const auto& [key, table] : {std::pair<std::string, const SigmaTable*>{"a1111.model_sigmas", &a_table}, {"comfy.model_sigmas", &c_table}}) {
        const Tensor ref = g.load_f32(key);
        REQUIRE(size_t(ref.numel()) == table->sigmas.size());
        for (int64_t i = 0; i < ref.numel(); ++i) REQUIRE(std::fabs(table->sigmas[size_t(i)] - ref[i]) <= 1e-6 * std::fabs(ref[i]));
    }
    int checked = 0;
    for (const TensorView& v : g.tensors()) {
        const size_t dot1 = v.name.find('.'), dot2 = v.name.rfind('.');
        if (dot1 == dot2 || v.name.find("model_sigmas") != std::string::npos) continue;
        const std::string source = v.name.substr(0, dot1), ref_name = v.name.substr(dot1 + 1, dot2 - dot1 - 1);
        const int steps = std::stoi(v.name.substr(dot2 + 1));
        const auto& names = source == "a1111" ? a1111 : comfy;
        INFO(v.name);
        REQUIRE(names.count(ref_name) == 1);
        const std::vector<double> got = named_sigmas(names.at(ref_name), steps, source == "a1111" ? a_table : c_table);
        const Tensor ref = g.load_f32(v.name);
        REQUIRE(int64_t(got.size()) == ref.numel());
        double top = 1;
        for (int64_t i = 0; i < ref.numel(); ++i) top = std::max(top, double(std::fabs(ref[i])));
        for (int64_t i = 0; i < ref.numel(); ++i) REQUIRE(std::fabs(got[size_t(i)] - ref[i]) <= 1e-5 * top);
        ++checked;
    }
    CHECK(checked > 0);
    CHECK_THROWS_WITH(named_sigmas("cosine", 10, a_table), Catch::Contains("unknown schedule") && Catch::Contains("align_your_steps"));
}

// The samplers step through a named schedule: the k-diffusion ones take its sigmas (the last, 0, as their own end)
// and timesteps t(sigma); the others refuse it by name.
TEST_CASE("a named schedule gives a k-diffusion sampler the named sigmas, the other samplers refuse it", "[schedulers]") {
    const SchedulerConfig config;
    std::vector<float> ac;
    for (float a : NoiseSchedule(config).alphas_cumprod) ac.push_back(a);
    const SigmaTable table = a1111_sigma_table(ac);
    for (const char* sampler : {"euler", "euler_a", "lms"})
        for (const char* name : {"exponential", "align_your_steps", "beta", "sgm_uniform"}) {
            INFO(sampler << " " << name);
            std::unique_ptr<Scheduler> s = make_scheduler(sampler, name, config);
            s->set_timesteps(9);
            const std::vector<double> want = named_sigmas(name, 9, table);
            REQUIRE(s->sigmas().size() == want.size());
            for (size_t i = 0; i < want.size(); ++i) CHECK(s->sigmas()[i] == Approx(want[i]).epsilon(1e-6));
            REQUIRE(s->timesteps().size() == want.size() - 1);
            CHECK(s->timesteps().front() == Approx(999.0).margin(0.6));  // (every one of these starts at sigma_max)
        }
    CHECK_THROWS_WITH(make_scheduler("dpm++2m", "beta", config), Catch::Contains("does not apply to --sampling-method dpm++2m") &&
                                                                   Catch::Contains("euler_a"));
    CHECK_THROWS_WITH(make_scheduler("euler", "cosine", config), Catch::Contains("unknown schedule"));
}
