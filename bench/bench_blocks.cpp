// bench_blocks.cpp: tunes the GEMM's cache blocks on this machine. For one shape y[M,N] = x[M,K] · w[N,K]^T it
// runs the best micro-kernel with each given block setting (MC,KC,NC) and, when built with OpenBLAS, cblas_sgemm,
// alternating them round after round so that load from other processes falls on all alike; then prints the
// best and median GFLOP/s of each. Each round times two calls after one warm-up call, then pauses.
//
//   build/bench/sdref_bench_blocks M N K ROUNDS [MC,KC,NC ...]     e.g. 1024 5120 640 8 120,320,2048 120,640,1024
//   (no setting given: the micro-kernel's own blocks)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/ukernel.h"

#ifdef SDREF_WITH_OPENBLAS
#include <cblas.h>
#endif

using namespace sdref::kernels;

namespace {

double seconds_of(const std::function<void()>& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: sdref_bench_blocks M N K ROUNDS [MC,KC,NC ...]\n");
        return 2;
    }
    const int64_t M = std::atol(argv[1]), N = std::atol(argv[2]), K = std::atol(argv[3]);
    const int rounds = std::atoi(argv[4]);
    if (M <= 0 || N <= 0 || K <= 0 || rounds <= 0) {
        std::fprintf(stderr, "sdref_bench_blocks: M, N, K and ROUNDS must be positive\n");
        return 2;
    }
    struct Variant {
        std::string name;
        std::function<void()> run;
        std::vector<double> seconds;
    };
    std::mt19937 rng(1);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(M * K)), w(static_cast<size_t>(N * K)), y(static_cast<size_t>(M * N));
    for (float& v : x) v = dist(rng);
    for (float& v : w) v = dist(rng);
    const StridedSource a({x.data(), ElemType::F32, 1, K}), b({w.data(), ElemType::F32, 1, K});

    std::vector<Variant> variants;
    std::vector<std::string> settings(argv + 5, argv + argc);
    if (settings.empty()) {
        const MicroKernelInfo& uk = best_micro_kernel();
        settings.push_back(std::to_string(uk.mc) + "," + std::to_string(uk.kc) + "," + std::to_string(uk.nc));
    }
    for (const std::string& setting : settings) {
        MicroKernelInfo uk = best_micro_kernel();
        if (std::sscanf(setting.c_str(), "%d,%d,%d", &uk.mc, &uk.kc, &uk.nc) != 3 || uk.mc < uk.mr || uk.kc < 1 ||
            uk.nc < uk.nr) {
            std::fprintf(stderr, "sdref_bench_blocks: bad block setting '%s' (MC,KC,NC with MC >= %d, NC >= %d)\n",
                         setting.c_str(), uk.mr, uk.nr);
            return 2;
        }
        variants.push_back({std::string(uk.name) + " " + setting,
                            [=, &a, &b, &y] { gemm_with_kernel(uk, M, N, K, a, b, y.data(), N); }, {}});
    }
#ifdef SDREF_WITH_OPENBLAS
    openblas_set_num_threads(num_threads());
    variants.push_back({"openblas", [&] {
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(M), int(N), int(K), 1.0f, x.data(),
                                        int(K), w.data(), int(K), 0.0f, y.data(), int(N));
                        }, {}});
#endif
    for (int r = 0; r < rounds; ++r)
        for (Variant& v : variants) {
            v.run();  // warm-up: packing buffers, caches
            for (int i = 0; i < 2; ++i) v.seconds.push_back(seconds_of(v.run));
            // OpenBLAS's threads spin for ~0.1 s after a call (OpenMP's for less) and would take the cores from
            // the next variant: let them go idle first
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
    const double flops = 2.0 * double(M) * double(N) * double(K);
    std::printf("%lld x %lld x %lld, %d threads, %d rounds (GFLOP/s)\n", (long long)M, (long long)N, (long long)K,
                num_threads(), rounds);
    for (Variant& v : variants) {
        std::sort(v.seconds.begin(), v.seconds.end());
        std::printf("  %-28s best %6.1f  median %6.1f\n", v.name.c_str(), flops / v.seconds.front() * 1e-9,
                    flops / v.seconds[v.seconds.size() / 2] * 1e-9);
    }
    return 0;
}
