// Samplers: every case of schedulers.safetensors (configuration, step count, timesteps, sigmas, the starting
// latent and the latent after every step), driven by the file's analytic stand-in for the U-Net.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "golden.h"
#include "io/safetensors.h"
#include "schedulers/scheduler.h"

using namespace sdref;

namespace {

// The stand-in model the golden file was made with; its formula is asserted against the file's `about` text.
const char* kFakeEpsFormula = "fake_eps(x, t) = x * (0.5 + 0.25*cos(0.001*t)) + 0.05*sin(3*x)";

Tensor fake_eps(const Tensor& x, float t) {
    const float scale = 0.5f + 0.25f * std::cos(0.001f * t);
    Tensor out(x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) out[i] = x[i] * scale + 0.05f * std::sin(3.0f * x[i]);
    return out;
}

void check_vector(const std::string& what, const std::vector<float>& got, const Tensor& ref, double tol) {
    INFO(what);
    REQUIRE(int64_t(got.size()) == ref.numel());
    test::check_close(what, got.data(), ref.data(), got.size(), tol);
}

}  // namespace

TEST_CASE("every sampler matches its golden trace at every step", "[schedulers][golden]") {
    const SafetensorsFile file(test::golden_path("schedulers.safetensors"));
    REQUIRE(file.meta("about").find(kFakeEpsFormula) != std::string::npos);
    const Json base = Json::parse(file.meta("sd15_scheduler_config"), "sd15_scheduler_config");
    const Json cases = Json::parse(file.meta("cases"), "cases");
    const double tol = 1e-5;  // tests/golden/v1/README.md: scheduler traces
    for (const auto& [name, c] : cases.members()) {
        SECTION(name) {
            SchedulerConfig config;
            config.update_from_json(base, "sd15_scheduler_config");
            config.update_from_json(c.at("config_overrides"), name + " config_overrides");
            config.eta = c.at("eta").as_number();
            std::unique_ptr<Scheduler> sched = make_scheduler_by_class(c.at("class").as_string(), config);
            sched->set_timesteps(int(c.at("steps").as_int()));

            check_vector(name + ".timesteps", sched->timesteps(), file.load_f32(name + ".timesteps"), tol);
            if (file.find(name + ".sigmas")) check_vector(name + ".sigmas", sched->sigmas(), file.load_f32(name + ".sigmas"), tol);
            CHECK(sched->init_noise_sigma() == Approx(c.at("init_noise_sigma").as_number()).epsilon(1e-6));

            // x_init = randn((1,4,8,8), seed x_init_seed) * init_noise_sigma, from our generator
            const Tensor x_init = file.load_f32(name + ".x_init");
            TorchGenerator start(uint64_t(c.at("x_init_seed").as_int()));
            Tensor x = start.randn(x_init.shape());
            for (int64_t i = 0; i < x.numel(); ++i) x[i] = x[i] * sched->init_noise_sigma();
            test::check_close(name + ".x_init", x, x_init, tol);

            const Tensor trace = file.load_f32(name + ".trace");
            const size_t calls = size_t(trace.dim(0));
            REQUIRE(sched->timesteps().size() == calls);
            const int64_t per_step = trace.numel() / trace.dim(0);
            TorchGenerator noise(uint64_t(c.at("generator_seed_for_step_noise").as_int()));
            for (size_t i = 0; i < calls; ++i) {
                Tensor in = x;
                sched->scale_model_input(in);
                const Tensor eps = fake_eps(in, sched->timesteps()[i]);
                sched->step(eps, x, noise);
                test::check_close(name + " step " + std::to_string(i), x.data(), trace.data() + int64_t(i) * per_step,
                                  size_t(per_step), tol);
            }
        }
    }
}

namespace {

// Every trace in a file belongs to a case its `cases` lists (so the tests above run every one), and every listed
// case has its trace.
void check_cases_cover_file(const std::string& file_name, const std::string& suffix) {
    const SafetensorsFile file(test::golden_path(file_name));
    const Json cases = Json::parse(file.meta("cases"), file_name + " cases");
    REQUIRE(!cases.members().empty());
    for (const auto& [name, c] : cases.members()) {
        INFO(name);
        CHECK(file.find(name + suffix) != nullptr);
    }
    for (const TensorView& v : file.tensors()) {
        if (v.name.size() <= suffix.size() || v.name.compare(v.name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
        INFO(v.name);
        CHECK(cases.find(v.name.substr(0, v.name.size() - suffix.size())) != nullptr);
    }
}

}  // namespace

TEST_CASE("every golden case is a configuration the file lists", "[schedulers][golden]") {
    check_cases_cover_file("schedulers.safetensors", ".trace");
    check_cases_cover_file("timesteps.safetensors", ".timesteps");
}

TEST_CASE("sampler names: the valid ones build, an unknown one lists them", "[schedulers]") {
    for (const std::string& name : sampling_method_names())
        for (const char* schedule : {"discrete", "trailing"}) CHECK(make_scheduler(name, schedule, {}) != nullptr);
    CHECK(make_scheduler("dpm++2m", "karras", {}) != nullptr);
    CHECK_THROWS_WITH(make_scheduler("euler_b", "discrete", {}),
                      Catch::Contains("--sampling-method") && Catch::Contains("euler_a") && Catch::Contains("dpm++2m"));
    CHECK_THROWS_WITH(make_scheduler("euler", "cosine", {}), Catch::Contains("--scheduler") && Catch::Contains("karras"));
    CHECK_THROWS_WITH(make_scheduler("ddim", "karras", {}), Catch::Contains("does not apply"));
}

// timesteps.safetensors: the schedule alone (timesteps, and sigmas where the class has them) of every class x
// spacing (x Karras) x step count the file lists.
TEST_CASE("every schedule of timesteps.safetensors: same count, same values", "[schedulers][golden]") {
    const SafetensorsFile file(test::golden_path("timesteps.safetensors"));
    const Json base = Json::parse(file.meta("sd15_scheduler_config"), "sd15_scheduler_config");
    const Json cases = Json::parse(file.meta("cases"), "cases");
    const double tol = 1e-5;  // tests/golden/v1/README.md: the scheduler tolerance
    for (const auto& [name, c] : cases.members()) {
        SchedulerConfig config;
        config.update_from_json(base, "sd15_scheduler_config");
        config.update_from_json(c.at("config_overrides"), name + " config_overrides");
        std::unique_ptr<Scheduler> sched = make_scheduler_by_class(c.at("class").as_string(), config);
        sched->set_timesteps(int(c.at("steps").as_int()));
        check_vector(name + ".timesteps", sched->timesteps(), file.load_f32(name + ".timesteps"), tol);
        if (file.find(name + ".sigmas")) check_vector(name + ".sigmas", sched->sigmas(), file.load_f32(name + ".sigmas"), tol);
        if (const Json* s = c.find("init_noise_sigma")) CHECK(sched->init_noise_sigma() == Approx(s->as_number()).epsilon(1e-6));
    }
}

// Flow prediction (SD 3.x): x_sigma = (1 - sigma) x0 + sigma eps, the model predicts v = eps - x0. On one
// straight path from eps to x0, v is the same at every sigma, so every step of an ODE solver stays on the path and
// the last one (sigma 0) lands on x0. The input is x unscaled, the starting noise has sigma 1.
TEST_CASE("flow prediction: the ODE samplers land on the x0 an exact model predicts, the others refuse it", "[schedulers]") {
    SchedulerConfig config;
    config.prediction_type = "flow";
    TorchGenerator gen(3);
    const Tensor x0 = gen.randn({4, 3, 3}), noise = gen.randn({4, 3, 3});
    Tensor v(x0.shape());
    for (int64_t i = 0; i < v.numel(); ++i) v[i] = noise[i] - x0[i];
    for (const char* name : {"euler", "heun", "dpm2", "lms"}) {
        INFO(name);
        std::unique_ptr<Scheduler> s = make_scheduler(name, "discrete", config);
        s->set_timesteps(6);
        CHECK(s->init_noise_sigma() == 1.0f);
        const float sigma0 = s->sigmas()[0];
        Tensor x = s->add_noise(x0, noise, 0);
        CHECK(x[5] == (1.0f - sigma0) * x0[5] + sigma0 * noise[5]);
        for (size_t call = 0; call < s->timesteps().size(); ++call) {
            Tensor in = x;
            s->scale_model_input(in);
            REQUIRE(std::memcmp(in.data(), x.data(), sizeof(float) * size_t(x.numel())) == 0);
            s->step(v, x, gen);
        }
        test::check_close(std::string(name) + " final latents against x0", x, x0, 1e-4);
    }
    CHECK_THROWS_WITH(make_scheduler("ddim", "discrete", config), Catch::Contains("does not sample flow-prediction models") &&
                                                                       Catch::Contains("euler"));
    CHECK_THROWS_WITH(make_scheduler("euler_a", "discrete", config), Catch::Contains("euler_a does not sample flow"));
}

// Flow matching (SD 3 and 3.5) against set v3's scheduler_flow.safetensors: diffusers' FlowMatchEulerDiscreteScheduler
// with the file's scheduler_config (shift), through make_scheduler_by_class: every step count's timesteps and sigmas
// (exact counts, 1e-5), the shift-1 schedule, img2img's tails at the file's t_start, an 8-step Euler trace with the
// file's model outputs, and the forward process (scale_noise) at the file's timestep.
TEST_CASE("flow matching: FlowMatchEulerDiscreteScheduler's schedules, Euler steps and noising", "[schedulers][golden][flow]") {
    const SafetensorsFile g(test::golden_v3_path("scheduler_flow.safetensors"));
    SchedulerConfig config;
    config.update_from_json(Json::parse(g.meta("scheduler_config"), "scheduler_config"), "scheduler_config");
    auto scheduler = [&](double shift) {
        SchedulerConfig c = config;
        c.shift = shift;
        return make_scheduler_by_class("FlowMatchEulerDiscreteScheduler", c);
    };
    const Json counts = Json::parse(g.meta("step_counts"), "step_counts");
    REQUIRE(!counts.items().empty());
    for (const Json& n : counts.items()) {
        const int steps = int(n.as_int());
        const auto s = scheduler(config.shift);
        s->set_timesteps(steps);
        test::check_close("timesteps_" + std::to_string(steps), Tensor({int64_t(s->timesteps().size())}, s->timesteps()),
                          g.load_f32("timesteps_" + std::to_string(steps)), 1e-5);
        test::check_close("sigmas_" + std::to_string(steps), Tensor({int64_t(s->sigmas().size())}, s->sigmas()),
                          g.load_f32("sigmas_" + std::to_string(steps)), 1e-5);
        CHECK(s->init_noise_sigma() == 1.0f);
    }
    // shift 1: the plain linspace (the file's shift1_* keys name their step count)
    for (const TensorView& v : g.tensors()) {
        if (v.name.rfind("shift1_sigmas_", 0) != 0) continue;
        const int steps = std::stoi(v.name.substr(14));
        const auto s = scheduler(1.0);
        s->set_timesteps(steps);
        test::check_close(v.name, Tensor({int64_t(s->sigmas().size())}, s->sigmas()), g.load_f32(v.name), 1e-5);
    }
    // img2img: the schedule's tail from t_start
    const Json img2img = Json::parse(g.meta("img2img"), "img2img");
    for (const Json& c : img2img.items()) {
        const int steps = int(c.at("steps").as_int()), t_start = int(c.at("t_start").as_int());
        const auto s = scheduler(config.shift);
        s->set_timesteps(steps);
        // the tensor named for this step count and strength ("img2img_timesteps_5_1.0": Python's repr of it)
        std::string key;
        const std::string prefix = "img2img_timesteps_" + std::to_string(steps) + "_";
        for (const TensorView& v : g.tensors())
            if (v.name.rfind(prefix, 0) == 0 && std::stod(v.name.substr(prefix.size())) == c.at("strength").as_number()) key = v.name;
        REQUIRE(!key.empty());
        const std::vector<float> tail(s->timesteps().begin() + t_start, s->timesteps().end());
        test::check_close(key, Tensor({int64_t(tail.size())}, tail), g.load_f32(key), 1e-5);
    }
    // an Euler trace: x_next = x + (sigma_next - sigma) v with the file's v at each step
    const Tensor trace_latents = g.load_f32("trace_latents"), outputs = g.load_f32("trace_model_output");
    const int64_t trace_steps = trace_latents.dim(0);
    const auto s = scheduler(config.shift);
    s->set_timesteps(int(trace_steps));
    test::check_close("trace_timesteps", Tensor({trace_steps}, s->timesteps()), g.load_f32("trace_timesteps"), 1e-5);
    Tensor x = test::batch_item(g.load_f32("trace_x0"), 0);
    TorchGenerator unused(0);
    for (int64_t i = 0; i < trace_steps; ++i) {
        s->step(test::batch_item(test::batch_item(outputs, i), 0), x, unused);
        test::check_close("trace_latents[" + std::to_string(i) + "]", x, test::batch_item(test::batch_item(trace_latents, i), 0), 1e-5);
    }
    // scale_noise: sigma noise + (1 - sigma) sample at the call whose timestep the file gives
    const float t = g.load_f32("scale_noise_timestep")[0];
    const auto n = scheduler(config.shift);
    n->set_timesteps(10);
    size_t index = 0;
    while (index < n->timesteps().size() && std::fabs(n->timesteps()[index] - t) > 1e-3f) ++index;
    REQUIRE(index < n->timesteps().size());
    test::check_close("scale_noise_out",
                      n->add_noise(test::batch_item(g.load_f32("scale_noise_sample"), 0), test::batch_item(g.load_f32("scale_noise_noise"), 0), index),
                      test::batch_item(g.load_f32("scale_noise_out"), 0), 1e-5);
}
