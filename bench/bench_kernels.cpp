// bench_kernels.cpp: Google Benchmark of the kernel library at the shapes SD 1.5 uses at 512x512.
// Run: make bench, or build/bench/sdref_bench --benchmark_filter=Gemm. Each benchmark reports GFLOP/s
// ("FLOPS" counter) and the ISA path in its label. With OpenBLAS installed, BM_OpenBlasSgemm runs the same
// shapes in the same process, so the ratio is measured under the same conditions.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

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
void gemm_args(benchmark::internal::Benchmark* b) {
    b->Args({4096, 320, 320})->Args({4096, 1280, 320})->Args({1024, 5120, 640})->Args({4096, 320, 1280});
    b->ArgNames({"M", "N", "K"})->UseRealTime()->Unit(benchmark::kMillisecond);
}

void BM_GemmF32(benchmark::State& state) {
    const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
    const std::vector<float> x = random_floats(size_t(M * K), 1), w = random_floats(size_t(N * K), 2);
    std::vector<float> y(size_t(M * N));
    for (auto _ : state) linear(M, N, K, x.data(), K, w.data(), ElemType::F32, y.data(), N);
    set_flops(state, 2.0 * double(M * N * K));
    state.SetLabel(best_micro_kernel().name);
}
BENCHMARK(BM_GemmF32)->Apply(gemm_args);

void BM_GemmF16Weights(benchmark::State& state) {
    const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
    const std::vector<float> x = random_floats(size_t(M * K), 1), wf = random_floats(size_t(N * K), 2);
    std::vector<uint16_t> w(wf.size());
    for (size_t i = 0; i < w.size(); ++i) w[i] = f32_to_f16(wf[i]);
    std::vector<float> y(size_t(M * N));
    for (auto _ : state) linear(M, N, K, x.data(), K, w.data(), ElemType::F16, y.data(), N);
    set_flops(state, 2.0 * double(M * N * K));
    state.SetLabel(best_micro_kernel().name);
}
BENCHMARK(BM_GemmF16Weights)->Apply(gemm_args);

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
BENCHMARK(BM_OpenBlasSgemm)->Apply(gemm_args);
#endif

// 3x3 convolutions of SD 1.5 at 512x512 (fp16 weights): U-Net 320->320 at 64x64, 640->640 at 32x32, and the
// VAE decoder's 128->128 at 512x512.
void BM_Conv3x3F16(benchmark::State& state) {
    const int64_t C = state.range(0), HW = state.range(1);
    const Conv2dShape s{C, HW, HW, C, 3, 1, 1};
    const std::vector<float> in = random_floats(size_t(C * HW * HW), 3), wf = random_floats(size_t(C * C * 9), 4);
    std::vector<uint16_t> w(wf.size());
    for (size_t i = 0; i < w.size(); ++i) w[i] = f32_to_f16(wf[i] * 0.05f);
    std::vector<float> bias(size_t(C), 0.1f), out(size_t(C * HW * HW));
    GemmEpilogue ep;
    ep.row_bias = bias.data();
    for (auto _ : state) conv2d(s, in.data(), w.data(), ElemType::F16, out.data(), ep);
    set_flops(state, 2.0 * double(C * C * 9) * double(HW * HW));
    state.SetLabel(best_micro_kernel().name);
}
BENCHMARK(BM_Conv3x3F16)->Args({320, 64})->Args({640, 32})->Args({128, 512})->ArgNames({"C", "HW"})->UseRealTime()->Unit(benchmark::kMillisecond);

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

BENCHMARK_MAIN();
