// bench_kernels.cpp: Google Benchmark of the kernel library at the shapes SD 1.5 uses at 512x512.
// Run: make bench, or build/bench/sdref_bench --benchmark_filter=Gemm. Each benchmark reports GFLOP/s
// ("FLOPS" counter) and the ISA path in its label. With OpenBLAS installed, BM_OpenBlasSgemm runs the same
// shapes in the same process, so the ratio is measured under the same conditions; after the runs a summary
// prints the ratios the targets are stated in (bench/RESULTS.md).
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/conv2d.h"
#include "kernels/convert.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "kernels/half.h"
#include "kernels/ukernel.h"

#ifdef SDREF_WITH_OPENBLAS
#include <cblas.h>
#endif

namespace {

using namespace sdref::kernels;

std::vector<float> random_floats(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
}

void set_flops(benchmark::State& state, double flops_per_iteration) {
    state.counters["FLOPS"] = benchmark::Counter(flops_per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}

// y[M, N] = x[M, K] · w[N, K]^T: the linear layers of SD 1.5's transformer blocks at 64x64 and 32x32 latents.
// Registered shape by shape in main(), so sdref and OpenBLAS run side by side under the same machine load.
const int64_t kGemmShapes[][3] = {{4096, 320, 320}, {4096, 1280, 320}, {1024, 5120, 640}, {4096, 320, 1280}};
// The U-Net's other linear layers (fp32 and OpenBLAS only): feed-forward at 64x64, projections and feed-forward
// at 32x32, 16x16 and 8x8 (256 and 64 tokens), the text keys/values of cross-attention (77 tokens).
const int64_t kOtherGemmShapes[][3] = {{4096, 2560, 320}, {1024, 640, 640},  {1024, 640, 2560}, {256, 1280, 1280},
                                       {256, 10240, 1280}, {256, 1280, 5120}, {64, 1280, 1280}, {64, 10240, 1280},
                                       {64, 1280, 5120},  {77, 320, 768}};

void BM_GemmF32(benchmark::State& state) {
    const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
    const std::vector<float> x = random_floats(size_t(M * K), 1), w = random_floats(size_t(N * K), 2);
    std::vector<float> y(size_t(M * N));
    for (auto _ : state) linear(M, N, K, x.data(), K, w.data(), ElemType::F32, y.data(), N);
    set_flops(state, 2.0 * double(M * N * K));
    state.SetLabel(best_micro_kernel().name);
}


// fp16 weights, the products in fp32 or (--precision bf16) in bf16
void BM_GemmF16Weights(benchmark::State& state, Precision precision) {
    if (!precision_supported(precision)) return state.SkipWithError("no bf16 instructions on this CPU");
    const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
    const std::vector<float> x = random_floats(size_t(M * K), 1), wf = random_floats(size_t(N * K), 2);
    std::vector<uint16_t> w(wf.size());
    for (size_t i = 0; i < w.size(); ++i) w[i] = f32_to_f16(wf[i]);
    std::vector<float> y(size_t(M * N));
    for (auto _ : state) linear(M, N, K, x.data(), K, w.data(), ElemType::F16, y.data(), N, {}, precision);
    set_flops(state, 2.0 * double(M * N * K));
    state.SetLabel(best_micro_kernel(precision)->name);
}


#ifdef SDREF_WITH_OPENBLAS
void BM_OpenBlasSgemm(benchmark::State& state) {
    const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
    const std::vector<float> x = random_floats(size_t(M * K), 1), w = random_floats(size_t(N * K), 2);
    std::vector<float> y(size_t(M * N));
    openblas_set_num_threads(num_threads());
    for (auto _ : state)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(M), int(N), int(K), 1.0f, x.data(), int(K), w.data(),
                    int(K), 0.0f, y.data(), int(N));
    set_flops(state, 2.0 * double(M * N * K));
    state.SetLabel("openblas");
}

#endif

// 3x3 convolutions of SD 1.5 at 512x512 (fp16 weights): U-Net 320->320 at 64x64, 640->640 at 32x32, and the
// VAE decoder's 128->128 at 512x512.
void BM_Conv3x3F16(benchmark::State& state, Precision precision) {
    if (!precision_supported(precision)) return state.SkipWithError("no bf16 instructions on this CPU");
    const int64_t C = state.range(0), HW = state.range(1);
    const Conv2dShape s{C, HW, HW, C, 3, 1, 1};
    const std::vector<float> in = random_floats(size_t(C * HW * HW), 3), wf = random_floats(size_t(C * C * 9), 4);
    std::vector<uint16_t> w(wf.size());
    for (size_t i = 0; i < w.size(); ++i) w[i] = f32_to_f16(wf[i] * 0.05f);
    std::vector<float> bias(size_t(C), 0.1f), out(size_t(C * HW * HW));
    GemmEpilogue ep;
    ep.row_bias = bias.data();
    for (auto _ : state) conv2d(s, in.data(), w.data(), ElemType::F16, out.data(), ep, precision);
    set_flops(state, 2.0 * double(C * C * 9) * double(HW * HW));
    state.SetLabel(best_micro_kernel(precision)->name);
}
BENCHMARK_CAPTURE(BM_Conv3x3F16, fp32, Precision::FP32)->Args({320, 64})->Args({640, 32})->Args({128, 512})->ArgNames({"C", "HW"})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Conv3x3F16, bf16, Precision::BF16)->Args({320, 64})->Args({640, 32})->Args({128, 512})->ArgNames({"C", "HW"})->UseRealTime()->Unit(benchmark::kMillisecond);

// Fused attention: SD 1.5 self-attention at 64x64 (8 heads, 4096 x 4096, d = 40), at 32x32 (d = 80), at 16x16
// (d = 160), and cross-attention to the 77 text tokens. FLOPs = 4 heads N_q N_k d (the two products).
void BM_Attention(benchmark::State& state) {
    const AttentionShape s{8, state.range(0), state.range(1), state.range(2)};
    const int64_t w = s.heads * s.head_dim;
    const std::vector<float> q = random_floats(size_t(s.queries * w), 5), k = random_floats(size_t(s.keys * w), 6),
                             v = random_floats(size_t(s.keys * w), 7);
    std::vector<float> o(size_t(s.queries * w));
    for (auto _ : state) attention(s, q.data(), w, k.data(), w, v.data(), w, o.data(), w, 0.158f);
    set_flops(state, 4.0 * double(s.heads * s.queries * s.keys * s.head_dim));
    state.SetLabel(best_micro_kernel().name);
}
BENCHMARK(BM_Attention)->Args({40, 4096, 4096})->Args({80, 1024, 1024})->Args({160, 256, 256})->Args({40, 4096, 77})
    ->ArgNames({"d", "Nq", "Nk"})->UseRealTime()->Unit(benchmark::kMillisecond);

// fp16 -> fp32 widening of a weight matrix (320x1280): bytes moved per second.
void BM_ConvertF16(benchmark::State& state) {
    const size_t n = size_t(state.range(0));
    std::vector<uint16_t> in(n, 0x3C00);
    std::vector<float> out(n);
    for (auto _ : state) {
        convert_f16_to_f32(in.data(), out.data(), n);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n) * 6);
    state.SetLabel(cpu_isa_name());
}
BENCHMARK(BM_ConvertF16)->Arg(320 * 1280);

}  // namespace

// The console output plus, at the end, the comparisons the targets are stated in: each GEMM shape against
// OpenBLAS and fp16 weights against fp32, and convolution and attention against our mean fp32 GEMM rate. Rates
// are medians when the benchmarks are repeated (--benchmark_repetitions), else the single measurement.
class RatioReporter : public benchmark::ConsoleReporter {
public:
    using benchmark::ConsoleReporter::ConsoleReporter;

    void ReportRuns(const std::vector<Run>& reports) override {
        benchmark::ConsoleReporter::ReportRuns(reports);
        for (const Run& r : reports) {
            const auto flops = r.counters.find("FLOPS");
            if (r.error_occurred || flops == r.counters.end()) continue;
            Rate& rate = rates_[{r.run_name.function_name, r.run_name.args}];
            if (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median") rate.median = flops->second.value;
            if (r.run_type == Run::RT_Iteration) rate.runs.push_back(flops->second.value);
        }
    }

    void Finalize() override {
        benchmark::ConsoleReporter::Finalize();
        bool repeated = false;
        for (const auto& entry : rates_) repeated = repeated || entry.second.median > 0 || entry.second.runs.size() > 1;
        std::printf("\nRatios (GFLOP/s%s):\n", repeated ? ", medians" : "");
        double gemm_sum = 0;
        int gemm_count = 0;
        for (const auto& shape : kGemmShapes) {
            const std::string args = shape_args(shape);
            const double f32 = get("BM_GemmF32", args), f16 = get("BM_GemmF16Weights/fp32", args),
                         bf16 = get("BM_GemmF16Weights/bf16", args), blas = get("BM_OpenBlasSgemm", args);
            if (f32 <= 0 && blas <= 0) continue;  // filtered out
            if (f32 > 0) gemm_sum += f32, ++gemm_count;
            std::printf("  GEMM %-20s fp32 %6.1f  fp16 weights %6.1f (%s fp32)  bf16 %6.1f (%s fp32)  OpenBLAS %6.1f  fp32 / OpenBLAS %s\n",
                        args.c_str(), f32 * 1e-9, f16 * 1e-9, ratio(f16, f32).c_str(), bf16 * 1e-9, ratio(bf16, f32).c_str(),
                        blas * 1e-9, ratio(f32, blas).c_str());
        }
        for (const auto& shape : kOtherGemmShapes) {
            const std::string args = shape_args(shape);
            const double f32 = get("BM_GemmF32", args), blas = get("BM_OpenBlasSgemm", args);
            if (f32 > 0 || blas > 0)
                std::printf("  GEMM %-20s fp32 %6.1f  OpenBLAS %6.1f  fp32 / OpenBLAS %s   (other U-Net layers)\n",
                            args.c_str(), f32 * 1e-9, blas * 1e-9, ratio(f32, blas).c_str());
        }
        if (gemm_count == 0) return;
        const double gemm_mean = gemm_sum / gemm_count;
        std::printf("  mean fp32 GEMM rate %.1f; against it:\n", gemm_mean * 1e-9);
        for (const auto& [key, rate] : rates_)
            if (key.first.rfind("BM_Conv3x3F16", 0) == 0 || key.first == "BM_Attention")
                std::printf("  %-15s %-22s %6.1f  %s x GEMM\n", key.first.c_str(), key.second.c_str(), value(rate) * 1e-9,
                            ratio(value(rate), gemm_mean).c_str());
    }

private:
    struct Rate {
        double median = 0;
        std::vector<double> runs;
    };
    std::map<std::pair<std::string, std::string>, Rate> rates_;  // by (function, arguments)

    static double value(const Rate& r) {
        if (r.median > 0) return r.median;
        if (r.runs.empty()) return 0;
        std::vector<double> v = r.runs;
        std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(v.size() / 2), v.end());
        return v[v.size() / 2];
    }
    double get(const std::string& function, const std::string& args) {
        const auto it = rates_.find({function, args});
        return it == rates_.end() ? 0.0 : value(it->second);
    }
    static std::string shape_args(const int64_t* shape) {
        return "M:" + std::to_string(shape[0]) + "/N:" + std::to_string(shape[1]) + "/K:" + std::to_string(shape[2]);
    }
    static std::string ratio(double a, double b) {
        if (a <= 0 || b <= 0) return "  -  ";
        char buf[16];
        std::snprintf(buf, sizeof buf, "%.2f", a / b);
        return buf;
    }
};

int main(int argc, char** argv) {
    auto add = [](const char* name, void (*fn)(benchmark::State&), const int64_t* shape) {
        benchmark::RegisterBenchmark(name, fn)->Args({shape[0], shape[1], shape[2]})->ArgNames({"M", "N", "K"})
            ->UseRealTime()->Unit(benchmark::kMillisecond);
    };
    for (const auto& shape : kGemmShapes) {
        add("BM_GemmF32", BM_GemmF32, shape);
        benchmark::RegisterBenchmark("BM_GemmF16Weights/fp32", BM_GemmF16Weights, Precision::FP32)->Args({shape[0], shape[1], shape[2]})
            ->ArgNames({"M", "N", "K"})->UseRealTime()->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark("BM_GemmF16Weights/bf16", BM_GemmF16Weights, Precision::BF16)->Args({shape[0], shape[1], shape[2]})
            ->ArgNames({"M", "N", "K"})->UseRealTime()->Unit(benchmark::kMillisecond);
#ifdef SDREF_WITH_OPENBLAS
        add("BM_OpenBlasSgemm", BM_OpenBlasSgemm, shape);
#endif
    }
    for (const auto& shape : kOtherGemmShapes) {
        add("BM_GemmF32", BM_GemmF32, shape);
#ifdef SDREF_WITH_OPENBLAS
        add("BM_OpenBlasSgemm", BM_OpenBlasSgemm, shape);
#endif
    }
    // a --benchmark_format other than the console's keeps Google Benchmark's own reporter
    bool console = true;
    for (int i = 1; i < argc; ++i)
        if (std::strncmp(argv[i], "--benchmark_format=", 19) == 0) console = std::strcmp(argv[i] + 19, "console") == 0;
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    if (console) {
        RatioReporter reporter(isatty(fileno(stdout)) ? RatioReporter::OO_Color : RatioReporter::OO_None);
        benchmark::RunSpecifiedBenchmarks(&reporter);
    } else {
        benchmark::RunSpecifiedBenchmarks();
    }
    benchmark::Shutdown();
    return 0;
}
