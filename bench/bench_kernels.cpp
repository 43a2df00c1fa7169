// Google Benchmark of the kernel library. Run: make bench (or build/bench/sdref_bench --benchmark_filter=...).
#include <benchmark/benchmark.h>

#include <vector>

#include "kernels/convert.h"
#include "kernels/cpu.h"

namespace {

using namespace sdref::kernels;

// fp16 -> fp32 widening of a weight matrix (320x1280, an SD 1.5 feed-forward projection): GB/s of output.
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

void BM_ConvertF16Scalar(benchmark::State& state) {
    const size_t n = size_t(state.range(0));
    std::vector<uint16_t> in(n, 0x3C00);
    std::vector<float> out(n);
    for (auto _ : state) {
        convert_f16_to_f32_scalar(in.data(), out.data(), n);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n) * 6);
}
BENCHMARK(BM_ConvertF16Scalar)->Arg(320 * 1280);

}  // namespace

BENCHMARK_MAIN();
