// Whole generations: every pipe_* golden of sets v1, v2 (SDXL base, refiner, base + refiner) and v3 (SD 3), through the
// same generate() the sdref command uses. Model(s), scheduler class and config, prompt, seed, size, steps,
// guidance, strength, micro-conditioning and the refiner's hand-over all come from the golden files. Checked: the latents after every step and at the end (1e-3 of the largest value) and the
// uint8 image (at most 2 levels off, at least 99% identical), as tests/golden/v1/README.md allows.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <tuple>

#include "golden.h"
#include "io/safetensors.h"
#include "kernels/gemm.h"
#include "kernels/ukernel.h"
#include "pipeline/generate.h"

using namespace sdref;

namespace {

// The models a case was made with, as its `about` text names them ("tiny-sd1 img2img, ..." -> {"tiny-sd1"};
// "... tiny-sdxl base ..., then tiny-sdxl-refiner ..." -> {"tiny-sdxl", "tiny-sdxl-refiner"}), in order.
std::vector<std::string> models_of(const std::string& about) {
    std::vector<std::string> models;
    for (size_t at = about.find("tiny-"); at != std::string::npos; at = about.find("tiny-", at + 1)) {
        if (at > 0 && (std::isalnum(static_cast<unsigned char>(about[at - 1])) || about[at - 1] == '-')) continue;
        size_t end = at;
        while (end < about.size() && (std::isalnum(static_cast<unsigned char>(about[end])) || about[end] == '-')) ++end;
        models.push_back(about.substr(at, end - at));
    }
    return models;
}

// An [a, b] pair of the call (diffusers' order: height, width / top, left).
std::pair<int64_t, int64_t> pair_of(const Json& call, const char* key) {
    const std::vector<Json>& v = call.at(key).items();
    REQUIRE(v.size() == 2);
    return {v[0].as_int(), v[1].as_int()};
}

// A1111's "Clip skip: N" when the case states it, else 0 (the model's default).
int clip_skip_of(const std::string& about) {
    const size_t at = about.find("Clip skip: ");
    return at == std::string::npos ? 0 : std::stoi(about.substr(at + 11));
}

// A [C, H, W] picture (or the first of a [1, C, H, W] batch) as an 8-bit image.
Image chw_to_image(const Tensor& stored) {
    const Tensor t = stored.shape().size() == 4 ? test::batch_item(stored, 0) : stored;
    const int64_t C = t.dim(0), H = t.dim(1), W = t.dim(2);
    Image img{int(W), int(H), int(C), std::vector<uint8_t>(size_t(C * H * W))};
    for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < H * W; ++i) img.pixels[size_t(i * C + c)] = uint8_t(t[c * H * W + i]);
    return img;
}

// An 8-bit picture as a [C, H, W] tensor of its levels.
Tensor image_to_u8(const Image& img) {
    Tensor t({int64_t(img.channels), int64_t(img.height), int64_t(img.width)});
    const int64_t HW = int64_t(img.width) * img.height;
    for (int64_t c = 0; c < img.channels; ++c)
        for (int64_t i = 0; i < HW; ++i) t[c * HW + i] = float(img.pixels[size_t(i * img.channels + c)]);
    return t;
}

// The model's VAE decode of latents [z, h, w] with the given shift, as 8-bit levels [3, H, W].
Tensor decode_u8(const StableDiffusionModel& model, const Tensor& latents, float shift) {
    Tensor z = latents;
    for (int64_t i = 0; i < z.numel(); ++i) z[i] = z[i] / model.denoiser().info().vae_scale + shift;
    const Tensor decoded = model.vae().decode(z);
    Tensor image(decoded.shape());
    for (int64_t i = 0; i < image.numel(); ++i) image[i] = std::round(255.0f * std::min(std::max(decoded[i] / 2 + 0.5f, 0.0f), 1.0f));
    return image;
}

// Whether two 8-bit pictures (any leading batch dimension of 1) are the same within the README's tolerance: at most 2
// levels apart, at least 99% identical.
bool same_picture(const Tensor& a, const Tensor& b, const std::string& what) {
    REQUIRE(a.numel() == b.numel());
    int64_t identical = 0, worst = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
        const int64_t d = std::abs(int64_t(a[i]) - int64_t(b[i]));
        identical += d == 0;
        worst = std::max(worst, d);
    }
    UNSCOPED_INFO(what << ": worst difference " << worst << " levels, " << identical << " of " << a.numel() << " identical");
    return worst <= 2 && double(identical) >= 0.99 * double(a.numel());
}

// With $SDREF_RECORD_OUTPUTS set (tools/output-hashes.sh), the final latents and the picture as raw floats in
// that folder, NAME.f32: what a refactoring must leave bit for bit as it was.
void record_output(const std::string& file, const GenerationResult& r) {
    const char* dir = std::getenv("SDREF_RECORD_OUTPUTS");
    if (!dir) return;
    std::FILE* f = std::fopen((std::string(dir) + "/" + file + ".f32").c_str(), "wb");
    REQUIRE(f);
    std::fwrite(r.latents.data(), sizeof(float), size_t(r.latents.numel()), f);
    std::fwrite(r.image.data(), sizeof(float), size_t(r.image.numel()), f);
    std::fclose(f);
}

void run_case(const std::string& dir, const std::string& file) {
    INFO("golden " << file);
    const SafetensorsFile g(dir + "/" + file);
    const Json call = Json::parse(g.meta("call"), file + " call");
    const std::string about = g.meta("about");
    const std::vector<std::string> models = models_of(about);
    REQUIRE(!models.empty());
    // a model of the case's own set, else of set v1 (set v2's ControlNet case applies to v1's tiny-sd1)
    auto model_path = [&](const std::string& name) {
        const std::string here = dir + "/" + name + ".safetensors";
        return std::filesystem::exists(here) ? here : test::golden_path(name + ".safetensors");
    };
    // SD 3 without T5: the case was made with text_encoder_3=None
    CheckpointOverrides overrides;
    overrides.skip_t5 = about.find("text_encoder_3=None") != std::string::npos;
    const StableDiffusionModel model = StableDiffusionModel::load(model_path(models[0]), overrides);

    // the scheduler: its class and config in the metadata, or (pipe_controlnet_ddim) "DDIM (SD 1.5 config)" in `about`,
    // SD 1.5's config being SchedulerConfig's defaults
    SchedulerConfig config;
    std::string scheduler_class;
    if (g.metadata().count("scheduler")) {
        config.update_from_json(Json::parse(g.meta("scheduler_config"), file + " scheduler_config"), file + " scheduler_config");
        scheduler_class = g.meta("scheduler");
    } else {
        REQUIRE(about.find("DDIM (SD 1.5 config)") != std::string::npos);
        scheduler_class = "DDIMScheduler";
    }
    std::unique_ptr<Scheduler> scheduler = make_scheduler_by_class(scheduler_class, config);

    GenerationParams p;
    p.prompt = call.at("prompt").as_string();
    if (const Json* n = call.find("negative_prompt")) p.negative_prompt = n->as_string();
    p.cfg_scale = float(call.at("guidance_scale").as_number());
    p.seed = uint64_t((call.find("seed") ? call.at("seed") : call.at("base_seed")).as_int());
    p.clip_skip = clip_skip_of(about);
    if (const Json* s = call.find("strength")) p.strength = float(s->as_number());
    if (call.find("original_size")) std::tie(p.micro.original_height, p.micro.original_width) = pair_of(call, "original_size");
    if (call.find("crops_coords_top_left")) std::tie(p.micro.crop_top, p.micro.crop_left) = pair_of(call, "crops_coords_top_left");
    if (call.find("target_size")) std::tie(p.micro.target_height, p.micro.target_width) = pair_of(call, "target_size");
    if (const Json* a = call.find("aesthetic_score")) p.micro.aesthetic_score = float(a->as_number());
    if (const Json* a = call.find("negative_aesthetic_score")) p.micro.negative_aesthetic_score = float(a->as_number());
    // base + refiner: the refiner takes over at denoising_split. (Its own generator, seeded refiner_seed in the
    // reference, draws no noise that matters with Euler: sdref's refiner continues the base's generator.)
    std::optional<StableDiffusionModel> refiner;
    if (const Json* split = call.find("denoising_split")) {
        REQUIRE(models.size() == 2);
        refiner = StableDiffusionModel::load(model_path(models[1]));
        p.refiner = &*refiner;
        p.refiner_start = float(split->as_number());
    }
    // ControlNet: the set's one ControlNet, tiny-controlnet, guiding with the case's control image / 255
    std::optional<ControlNet> controlnet;
    if (const Json* scale = call.find("controlnet_conditioning_scale")) {
        controlnet = ControlNet::load(dir + "/tiny-controlnet.safetensors");
        Tensor image = g.load_f32("control_image_u8");
        for (int64_t i = 0; i < image.numel(); ++i) image[i] /= 255.0f;
        ControlSpec c;
        c.net = &*controlnet;
        c.image = image;
        c.strength = float(scale->as_number());
        p.controls.push_back(c);
    }
    if (call.find("sld_guidance_scale")) {  // Safe Latent Diffusion with the pipeline's default safety concept
        p.sld.enabled = true;
        p.sld.warmup_steps = int(call.at("sld_warmup_steps").as_int());
        p.sld.guidance_scale = float(call.at("sld_guidance_scale").as_number());
        p.sld.threshold = float(call.at("sld_threshold").as_number());
        p.sld.momentum_scale = float(call.at("sld_momentum_scale").as_number());
        p.sld.mom_beta = float(call.at("sld_mom_beta").as_number());
    }
    if (const Json* layers = call.find("skip_guidance_layers")) {  // SD 3.5's skip-layer guidance
        p.slg.layers.clear();
        for (const Json& l : layers->items()) p.slg.layers.push_back(int(l.as_int()));
        p.slg.scale = float(call.at("skip_layer_guidance_scale").as_number());
        p.slg.start = float(call.at("skip_layer_guidance_start").as_number());
        p.slg.end = float(call.at("skip_layer_guidance_stop").as_number());
    }
    if (const Json* n = call.find("max_sequence_length")) p.max_sequence_length = int(n->as_int());
    Image init, mask;
    if (g.find("init_image_u8")) {
        init = chw_to_image(g.load_f32("init_image_u8"));
        p.init_image = &init;
    }
    if (g.find("mask_u8")) {
        mask = chw_to_image(g.load_f32("mask_u8"));
        p.mask = &mask;
    }
    const Tensor ref_image = g.load_f32("image_u8");
    p.height = call.find("height") ? call.at("height").as_int() : ref_image.dim(2);
    p.width = call.find("width") ? call.at("width").as_int() : ref_image.dim(3);
    // the conditioning, where the case keeps it (SD 3): the prompt's and the negative prompt's, as the model encodes them
    if (g.find("prompt_embeds")) {
        ConditioningOptions o;
        o.width = p.width, o.height = p.height, o.max_sequence_length = p.max_sequence_length;
        const Conditioning cond = model.conditioner().encode(p.prompt, false, o), uncond = model.conditioner().encode(p.negative_prompt, true, o);
        test::check_close(file + " prompt_embeds", cond.context, test::batch_item(g.load_f32("prompt_embeds"), 0), 1e-4);
        test::check_close(file + " pooled_prompt_embeds", cond.vector, test::batch_item(g.load_f32("pooled_prompt_embeds"), 0), 1e-4);
        test::check_close(file + " negative_prompt_embeds", uncond.context, test::batch_item(g.load_f32("negative_prompt_embeds"), 0), 1e-4);
        test::check_close(file + " negative_pooled_prompt_embeds", uncond.vector,
                          test::batch_item(g.load_f32("negative_pooled_prompt_embeds"), 0), 1e-4);
    }

    // the trace holds the last trace.dim(0) steps (with a refiner: the refiner's; the base's end is base_latents)
    const Tensor trace = g.load_f32("latents_trace");
    const int64_t per_step = trace.numel() / trace.dim(0);
    const int steps = int(call.at("num_inference_steps").as_int());
    int64_t seen = 0;
    bool base_checked = false;
    const GenerationResult r = generate(model, p, *scheduler, steps, [&](const StepInfo& s) {
        const int64_t first_traced = s.steps - trace.dim(0);
        if (s.step == first_traced && g.find("base_latents")) {
            test::check_close(file + " base latents at the hand-over", s.latents, test::batch_item(g.load_f32("base_latents"), 0), 1e-3);
            base_checked = true;
        }
        if (s.step <= first_traced) return;
        REQUIRE(seen < trace.dim(0));
        test::check_close(file + " latents after step " + std::to_string(s.step), s.latents.data(), trace.data() + seen * per_step,
                          size_t(per_step), 1e-3);
        ++seen;
    });
    CHECK(seen == trace.dim(0));
    CHECK(base_checked == bool(g.find("base_latents")));
    const Tensor ref_latents = g.load_f32("latents");
    record_output(file, r);
    test::check_close(file + " final latents", r.latents.data(), ref_latents.data(), size_t(ref_latents.numel()), 1e-3);

    // the picture, at most 2 levels off and 99% identical. diffusers' SD 3 inpainting pipeline (0.32) decodes
    // latents / scale without adding the VAE's shift (its txt2img and img2img add it); sdref adds it to every
    // picture. Where the reference picture is that shift-less decode of the reference latents (checked), sdref's
    // picture is checked against the decode with the shift.
    const Image got = tensor_to_image(r.image);
    const DenoiserInfo& info = model.denoiser().info();
    const Tensor ref_decoded = decode_u8(model, test::batch_item(ref_latents, 0), info.vae_shift);
    if (info.vae_shift != 0 && !same_picture(ref_decoded, ref_image, "the reference latents decoded")) {
        INFO("the reference picture is neither the decode of its latents with the VAE's shift nor without it");
        CHECK(same_picture(decode_u8(model, test::batch_item(ref_latents, 0), 0.0f), ref_image, "the reference latents decoded without the shift"));
        CHECK(same_picture(image_to_u8(got), ref_decoded, "the picture"));
    } else {
        CHECK(same_picture(image_to_u8(got), ref_image, "the picture"));
    }
}

std::vector<std::string> pipeline_goldens(const std::string& dir, bool sld, const std::string& prefix = "pipe_") {
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        const std::string name = e.path().filename().string();
        if (name.rfind(prefix, 0) == 0 && (name.find("_sld_") != std::string::npos) == sld) files.push_back(name);
    }
    std::sort(files.begin(), files.end());
    return files;
}

}  // namespace

TEST_CASE("every pipeline golden (except Safe Latent Diffusion) matches", "[pipeline][golden]") {
    const std::vector<std::string> files = pipeline_goldens(test::golden_dir(), false);
    REQUIRE(files.size() >= 10);
    for (const std::string& f : files)
        SECTION(f) { run_case(test::golden_dir(), f); }
}

TEST_CASE("the Safe Latent Diffusion pipeline goldens match", "[pipeline][safety][golden]") {
    const std::vector<std::string> files = pipeline_goldens(test::golden_dir(), true);
    REQUIRE(files.size() >= 2);
    for (const std::string& f : files)
        SECTION(f) { run_case(test::golden_dir(), f); }
}

TEST_CASE("the ControlNet pipeline golden matches", "[pipeline][controlnet][golden]") {
    const std::vector<std::string> files = pipeline_goldens(test::golden_v2_dir(), false, "pipe_controlnet_");
    REQUIRE(files.size() >= 1);
    for (const std::string& f : files)
        SECTION(f) { run_case(test::golden_v2_dir(), f); }
}

TEST_CASE("every SDXL pipeline golden (base, zero unconditional, refiner img2img, base + refiner) matches", "[pipeline][sdxl][golden]") {
    const std::vector<std::string> files = pipeline_goldens(test::golden_v2_dir(), false, "pipe_sdxl_");
    REQUIRE(files.size() >= 4);
    for (const std::string& f : files)
        SECTION(f) { run_case(test::golden_v2_dir(), f); }
}

TEST_CASE("every SD 3 pipeline golden (txt2img, without T5, img2img, skip-layer guidance, inpainting) matches", "[pipeline][sd3][golden]") {
    const std::vector<std::string> files = pipeline_goldens(test::golden_v3_dir(), false, "pipe_sd3_");
    REQUIRE(files.size() >= 5);
    for (const std::string& f : files)
        SECTION(f) { run_case(test::golden_v3_dir(), f); }
}

TEST_CASE("Safe Latent Diffusion presets are diffusers' SafetyConfig", "[pipeline][safety]") {
    const SafeLatentDiffusion medium = SafeLatentDiffusion::preset("medium");
    CHECK(medium.warmup_steps == 10);
    CHECK(medium.guidance_scale == 1000.0f);
    const SafeLatentDiffusion strong = SafeLatentDiffusion::preset("strong");
    CHECK(strong.warmup_steps == 7);
    CHECK(strong.threshold == 0.025f);
    CHECK(SafeLatentDiffusion::preset("max").guidance_scale == 5000.0f);
    CHECK(SafeLatentDiffusion::preset("weak").momentum_scale == 0.0f);
    CHECK_THROWS_WITH(SafeLatentDiffusion::preset("extreme"), Catch::Contains("unknown preset \"extreme\""));
    CHECK(SafeLatentDiffusion().guidance_scale == medium.guidance_scale);  // the struct's values are medium's
}

// A 64x64 generation with a prompt and a negative prompt (the tiny models' tests of the pipeline's own properties).
namespace {
GenerationParams small_generation(const std::string& prompt, uint64_t seed) {
    GenerationParams p;
    p.prompt = prompt;
    p.negative_prompt = "blurry";
    p.width = 64;
    p.height = 64;
    p.seed = seed;
    return p;
}
}  // namespace

TEST_CASE("a whole generation gives the same bits with 1 and 2 threads (ForwardContext::threads)", "[pipeline]") {
    const StableDiffusionModel model = StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"));
    GenerationParams p = small_generation("a (red:1.2) cat", 9);
    Tensor latents[2];
    const int callers = kernels::num_threads();
    for (int threads : {1, 2}) {
        p.forward.threads = threads;
        int seen = 0;  // the kernels' thread count while it runs
        auto sched = make_scheduler("dpm++2m_sde", "karras", model.denoiser().info().scheduler);
        latents[threads - 1] = generate(model, p, *sched, 4, [&](const StepInfo&) { seen = kernels::num_threads(); }).latents;
        CHECK(seen == threads);
        CHECK(kernels::num_threads() == callers);  // and the caller's own count again after
    }
    REQUIRE(latents[0].shape() == latents[1].shape());
    CHECK(std::memcmp(latents[0].data(), latents[1].data(), size_t(latents[0].numel()) * 4) == 0);
}

// The sampling loop packs the U-Net's weights into the GEMM's panels once and keeps them with the model
// (kernels/weight_panels.h); --low-memory streams them instead. Same bits either way, in both precisions.
TEST_CASE("weights packed once for the sampling loop give the bits of packing them per call, and stay with the model", "[pipeline]") {
    const StableDiffusionModel model = StableDiffusionModel::load(test::golden_path("tiny-sd1.safetensors"));
    GenerationParams p = small_generation("a red cat", 5);
    p.decode = false;
    for (kernels::Precision precision : {kernels::Precision::FP32, kernels::Precision::BF16}) {
        p.forward.precision = precision;
        auto latents = [&](bool low_memory) {
            p.forward.stream_weights = low_memory;
            auto sched = make_scheduler("euler_a", "discrete", model.denoiser().info().scheduler);
            return generate(model, p, *sched, 3).latents;
        };
        const Tensor packed = latents(false);
        const int64_t weights = model.denoiser_panels().weights(), bytes = model.denoiser_panels().bytes();
        INFO("precision " << (precision == kernels::Precision::BF16 ? "bf16" : "fp32"));
        // fp16 weights: fp32 panels would take twice the file, bf16 pairs the same (the 32- and 64-wide layers'
        // 12-row panels pad past 5%: those weights stay unpacked)
        const bool pairs = kernels::micro_kernel_for(precision).bf16();
        if (pairs) CHECK(weights >= 20);
        else CHECK(weights == 0);
        const Tensor again = latents(false);
        CHECK(model.denoiser_panels().weights() == weights);  // kept, not packed again
        CHECK(model.denoiser_panels().bytes() == bytes);
        const Tensor streamed = latents(true);
        CHECK(model.denoiser_panels().weights() == 0);
        REQUIRE(packed.shape() == streamed.shape());
        CHECK(std::memcmp(packed.data(), again.data(), size_t(packed.numel()) * 4) == 0);
        CHECK(std::memcmp(packed.data(), streamed.data(), size_t(packed.numel()) * 4) == 0);
    }
}
