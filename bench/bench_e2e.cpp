// bench_e2e.cpp: whole generations on a real-size checkpoint (build one with tools/make_random_checkpoint).
//
//   build/bench/sdref_bench_e2e MODEL.safetensors [--size 512] [--steps 2] [--threads 2] [--img2img] [--low-memory]
//                                                  [--precision fp32|bf16] [--profile] [--no-decode]
//   build/bench/sdref_bench_e2e MODEL.safetensors --compare-bf16 [--size 512]
//
// Prints the text-encoder time, seconds per sampling step (with classifier-free guidance: two denoiser calls), the
// work of a step in GFLOP and the rate it ran at, the VAE decode time, with --img2img the VAE encode time, and the
// peak resident memory of each phase. The model's family (SD 1.x/2.x/SDXL/SD 3) comes from its tensors.
// --profile (2 steps or more): also where the last step's time and the VAE decode's went, by kind of kernel call
// (kernels/profile.h), each kind's arithmetic rate, and the GEMM rate to compare them with: the U-Net's
// linear-layer shapes with fp16 weights in the run's precision, timed right before and right after the last step (between steps, not in
// the step's time), since these shared machines drift from minute to minute.
// --no-decode: stop after the sampling loop (for timing steps).
// --compare-bf16 instead runs one denoiser call (t = 500, a seeded random latent and context) in fp32 and in bf16 and
// prints how far apart the outputs are: ||bf16 - fp32|| / ||fp32|| and the largest difference over max |fp32|.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <stdexcept>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/memory.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "kernels/profile.h"
#include "pipeline/generate.h"

using namespace sdref;

namespace {

// GFLOP/s of fp16-weight linear layers at the U-Net's shapes (M x N x K), about a second each, flops over time.
double gemm_rate(kernels::Precision precision) {
    const int64_t shapes[][3] = {{4096, 320, 320}, {4096, 1280, 320}, {1024, 5120, 640}, {4096, 320, 1280}};
    double flops = 0, seconds = 0;
    for (const auto& s : shapes) {
        const int64_t M = s[0], N = s[1], K = s[2];
        std::vector<float> x(size_t(M * K), 0.5f), y(size_t(M * N));
        std::vector<uint16_t> w(size_t(N * K), 0x2e66);  // fp16 0.1
        const auto t0 = std::chrono::steady_clock::now();
        double t = 0;
        do {
            kernels::linear(M, N, K, x.data(), K, w.data(), kernels::ElemType::F16, y.data(), N, {}, precision);
            flops += 2.0 * double(M) * double(N) * double(K);
        } while ((t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()) < 1.0);
        seconds += t;
    }
    return flops / seconds / 1e9;
}

// One table: each kind's share of `wall` seconds, its rate; the rest is time outside the kernel library.
void print_profile(const char* what, const kernels::Profile& p, double wall, double gemm) {
    std::printf("%s: %.2f s\n  %-40s %8s %6s %9s %8s %10s\n", what, wall, "kind", "seconds", "share", "GFLOP", "GFLOP/s", "of GEMM");
    double inside = 0;
    for (size_t k = 0; k < p.size(); ++k) {
        const kernels::ProfileEntry& e = p[k];
        if (!e.calls) continue;
        inside += e.seconds;
        std::printf("  %-40s %8.3f %5.1f%%", kernels::profile_kind_name(kernels::ProfileKind(k)), e.seconds, 100 * e.seconds / wall);
        if (e.flops > 0) std::printf(" %9.1f %8.1f %9.0f%%", e.flops / 1e9, e.flops / e.seconds / 1e9, 100 * e.flops / e.seconds / 1e9 / gemm);
        std::printf("\n");
    }
    std::printf("  %-40s %8.3f %5.1f%%\n", "outside the kernels (tensors, model code)", wall - inside, 100 * (wall - inside) / wall);
}

}  // namespace

int main(int argc, char** argv) {
    kernels::run_with_passive_omp_waits(argv);  // as the sdref command runs
    if (argc < 2) {
        std::fprintf(stderr, "usage: sdref_bench_e2e MODEL [--size N] [--steps N] [--threads N] [--img2img] [--low-memory] [--precision fp32|bf16] "
                             "[--profile] [--no-decode] | --compare-bf16\n");
        return 2;
    }
    int size = 512, steps = 2;
    bool img2img = false, low_memory = false, compare_bf16 = false, profile = false, decode = true;
    ForwardContext forward;  // --precision
    for (int i = 2; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--size") && i + 1 < argc) size = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) steps = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) kernels::set_num_threads(std::atoi(argv[++i]));
        else if (!std::strcmp(argv[i], "--img2img")) img2img = true;
        else if (!std::strcmp(argv[i], "--low-memory")) low_memory = true;
        else if (!std::strcmp(argv[i], "--compare-bf16")) compare_bf16 = true;
        else if (!std::strcmp(argv[i], "--profile")) profile = true;
        else if (!std::strcmp(argv[i], "--no-decode")) decode = false;
        else if (!std::strcmp(argv[i], "--precision") && i + 1 < argc) {
            const std::string v = argv[++i];
            if (v != "fp32" && v != "bf16") return std::fprintf(stderr, "sdref_bench_e2e: --precision: fp32 or bf16, got %s\n", v.c_str()), 2;
            if (v == "bf16" && !kernels::precision_supported(kernels::Precision::BF16))
                return std::fprintf(stderr, "sdref_bench_e2e: --precision bf16: %s\n", kernels::bf16_fallback_reason()), 2;
            forward.precision = v == "bf16" ? kernels::Precision::BF16 : kernels::Precision::FP32;
        } else return std::fprintf(stderr, "sdref_bench_e2e: unknown argument %s\n", argv[i]), 2;
    }
    if (low_memory) return_freed_memory_at_once();
    else keep_freed_memory_for_reuse();
    try {
        const auto t0 = std::chrono::steady_clock::now();
        const StableDiffusionModel model = StableDiffusionModel::load(argv[1]);
        std::printf("model %s (%s), %dx%d, %d steps, %d threads, %s, %s%s\n", argv[1], model.info().family->name, size, size, steps,
                    kernels::num_threads(), kernels::cpu_isa_name(), forward.precision == kernels::Precision::BF16 ? "bf16" : "fp32",
                    low_memory ? ", --low-memory" : "");
        if (compare_bf16) {
            if (!kernels::precision_supported(kernels::Precision::BF16)) throw std::runtime_error(std::string("--compare-bf16: ") + kernels::bf16_fallback_reason());
            std::mt19937 gen(1);
            std::normal_distribution<float> normal(0.0f, 1.0f);
            auto random = [&](Shape shape) {
                Tensor t(shape);
                for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = normal(gen);
                return t;
            };
            const DenoiserInfo& info = model.denoiser().info();
            const Tensor x = random({info.latent_channels, size / 8, size / 8});
            Conditioning c;
            c.context = random({ClipTokenizer::kContextLength, info.context_width});
            if (info.vector_width) c.vector = random({info.vector_width});
            Tensor out[2];
            for (int i = 0; i < 2; ++i) {
                ForwardContext call;
                call.precision = i ? kernels::Precision::BF16 : kernels::Precision::FP32;
                const auto ts = std::chrono::steady_clock::now();
                out[i] = model.denoiser().predict(x, 500.0f, c, {}, call);
                std::printf("%s call, %s: %.2f s\n", model.denoiser().name(), i ? "bf16" : "fp32", std::chrono::duration<double>(std::chrono::steady_clock::now() - ts).count());
            }
            double diff2 = 0, ref2 = 0, max_diff = 0, max_ref = 0;
            for (int64_t i = 0; i < out[0].numel(); ++i) {
                const double a = out[0].data()[i], d = out[1].data()[i] - a;
                diff2 += d * d, ref2 += a * a;
                max_diff = std::max(max_diff, std::fabs(d)), max_ref = std::max(max_ref, std::fabs(a));
            }
            std::printf("bf16 against fp32: relative L2 %.3g, largest difference %.3g of max |fp32| (%.3g)\n", std::sqrt(diff2 / ref2),
                        max_diff / max_ref, max_ref);
            return 0;
        }
        GenerationParams p;
        p.prompt = "a photograph of an astronaut riding a horse";
        p.width = p.height = size;
        forward.stream_weights = low_memory;
        p.forward = forward;
        p.decode = decode;
        p.vae_tile = low_memory ? Vae::kTile : 0;
        Image init;
        if (img2img) {
            init = Image{size, size, 3, std::vector<uint8_t>(size_t(size) * size_t(size) * 3)};
            for (size_t i = 0; i < init.pixels.size(); ++i) init.pixels[i] = uint8_t((i * 2654435761u) >> 24);
            p.init_image = &init;
            p.strength = 1.0f;
            const auto te = std::chrono::steady_clock::now();
            (void)model.vae().encode(image_to_tensor(init));
            std::printf("VAE encode %dx%d: %.2f s\n", size, size, std::chrono::duration<double>(std::chrono::steady_clock::now() - te).count());
        }
        // SD 1.x/2.x/SDXL: Euler a as before; a flow model: its family's sampler (Euler)
        const DenoiserInfo& info = model.denoiser().info();
        auto sched = make_scheduler(info.scheduler.prediction_type == "flow" ? info.default_sampler : "euler_a", "discrete", info.scheduler);
        if (profile && steps < 2) throw std::runtime_error("--profile: needs --steps 2 or more");
        kernels::set_profiling(profile);
        kernels::Profile last_step;
        double gemm_before = 0, gemm_after = 0;
        const GenerationResult r = generate(model, p, *sched, steps, [&](const StepInfo& s) {
            if (s.step == s.steps) last_step = kernels::take_profile();
            if (profile && s.step + 1 >= s.steps) (s.step == s.steps ? gemm_after : gemm_before) = gemm_rate(forward.precision);
            (void)kernels::take_profile();  // (the text encoder's, the earlier steps', the GEMM rate's own)
        });
        const kernels::Profile decode_profile = kernels::take_profile();
        kernels::set_profiling(false);
        double total = 0;
        for (size_t i = 0; i < r.step_seconds.size(); ++i) {
            std::printf("step %zu: %.2f s\n", i + 1, r.step_seconds[i]);
            total += r.step_seconds[i];
        }
        const double per_step = total / double(r.step_seconds.size());
        const double step_gflop = 2 * model.denoiser().predict_flops(size / 8, size / 8, r.context_tokens) / 1e9;
        std::printf("text encoder: %.2f s\nsampling: %.2f s/step (mean of %zu, CFG)\nwork of a step: %.0f GFLOP (2 %s calls, %lld text tokens), "
                    "%.1f GFLOP/s\nVAE decode: %.2f s\n", r.text_seconds, per_step, r.step_seconds.size(), step_gflop, model.denoiser().name(),
                    (long long)r.context_tokens, step_gflop / per_step, r.vae_seconds);
        std::printf("peak resident memory: text encoders %.0f MB, sampling %.0f MB, decode %.0f MB\n", double(r.text_peak) / 1e6,
                    double(r.sampling_peak) / 1e6, double(r.decode_peak) / 1e6);
        if (profile) {
            const double gemm = (gemm_before + gemm_after) / 2;
            std::printf("GEMM rate (fp16 weights, the U-Net's linear shapes): %.1f GFLOP/s before the last step, %.1f after\n",
                        gemm_before, gemm_after);
            std::printf("the last step: %.1f GFLOP/s, %.0f%% of the GEMM rate (their mean)\n", step_gflop / r.step_seconds.back(),
                        100 * step_gflop / r.step_seconds.back() / gemm);
            print_profile("the last step", last_step, r.step_seconds.back(), gemm);
        }
        if (profile && decode) {
            const double decode_gflop = model.vae().decode_flops(size / 8, size / 8) / 1e9;
            std::printf("the VAE decode: %.0f GFLOP, %.1f GFLOP/s, %.0f%% of the GEMM rate after the last step\n", decode_gflop,
                        decode_gflop / r.vae_seconds, 100 * decode_gflop / r.vae_seconds / gemm_after);
            print_profile("the VAE decode", decode_profile, r.vae_seconds, gemm_after);
        }
        std::printf("total: %.1f s, peak resident memory: %.0f MB (the largest phase)\n",
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                    double(std::max({r.text_peak, r.sampling_peak, r.decode_peak})) / 1e6);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sdref_bench_e2e: error: %s\n", e.what());
        return 1;
    }
}
