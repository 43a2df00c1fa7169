// Fused attention against the direct double-precision computation; identical bits for 1 and 2 threads.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "kernels/ukernel.h"

using namespace sdref::kernels;

namespace {

struct Problem {
    AttentionShape s;
    std::vector<float> q, k, v;
    int64_t width() const { return s.heads * s.head_dim; }
};

Problem make(int64_t heads, int64_t d, int64_t nq, int64_t nk, float magnitude, unsigned seed, bool causal = false) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, magnitude);
    Problem p{{heads, d, nq, nk, causal}, {}, {}, {}};
    p.q.resize(size_t(nq * heads * d));
    p.k.resize(size_t(nk * heads * d));
    p.v.resize(size_t(nk * heads * d));
    for (float& x : p.q) x = dist(rng);
    for (float& x : p.k) x = dist(rng);
    for (float& x : p.v) x = dist(rng) / magnitude;
    return p;
}

std::vector<float> run(const Problem& p, bool reference, Precision precision = Precision::FP32) {
    const int64_t w = p.width();
    std::vector<float> o(size_t(p.s.queries * w), NAN);
    const float scale = 1.0f / std::sqrt(float(p.s.head_dim));
    if (reference) attention_reference(p.s, p.q.data(), w, p.k.data(), w, p.v.data(), w, o.data(), w, scale);
    else attention(p.s, p.q.data(), w, p.k.data(), w, p.v.data(), w, o.data(), w, scale, precision);
    return o;
}

// The largest |got - ref| and the largest |ref|.
std::pair<double, double> largest_difference(const std::vector<float>& got, const std::vector<float>& ref) {
    double worst = 0, ref_max = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        worst = std::max(worst, double(std::fabs(got[i] - ref[i])));
        ref_max = std::max(ref_max, double(std::fabs(ref[i])));
    }
    return {worst, ref_max};
}

}  // namespace

TEST_CASE("fused attention matches the direct softmax(QK^T)V", "[kernels][attention]") {
    // shapes of SD's self- and cross-attention (scaled down), odd sizes, key counts across block edges
    // {heads, d, queries, keys, causal}
    const int64_t cases[][5] = {{8, 40, 300, 300, 0}, {8, 40, 257, 77, 0}, {2, 160, 64, 64, 0}, {5, 64, 33, 513, 0},
                                {1, 8, 1, 1, 0}, {3, 80, 100, 1000, 0}, {8, 40, 7, 3, 0}, {4, 8, 77, 77, 1},
                                {12, 64, 77, 77, 1}, {2, 16, 600, 600, 1}, {3, 26, 50, 90, 0}};  // d 26: 2 rows past whole panels
    for (const auto& c : cases) {
        for (float magnitude : {1.0f, 4.0f}) {  // 4: peaked softmax rows, where the online rescaling matters
            INFO("heads " << c[0] << " d " << c[1] << " queries " << c[2] << " keys " << c[3] << " causal " << c[4]
                          << " |q|,|k| ~ " << magnitude);
            const Problem p = make(c[0], c[1], c[2], c[3], magnitude, unsigned(c[2] * 31 + c[3]), c[4] != 0);
            const std::vector<float> got = run(p, false), ref = run(p, true);
            double worst = 0, ref_max = 0;
            for (size_t i = 0; i < ref.size(); ++i) {
                worst = std::max(worst, double(std::fabs(got[i] - ref[i])));
                ref_max = std::max(ref_max, double(std::fabs(ref[i])));
            }
            CHECK(worst <= 2e-5 * std::max(1.0, ref_max));
        }
    }
}

TEST_CASE("fused attention gives the same bits for 1 and 2 threads", "[kernels][attention]") {
    const Problem p = make(4, 40, 500, 400, 2.0f, 1);
    set_num_threads(1);
    const std::vector<float> one = run(p, false);
    set_num_threads(2);
    const std::vector<float> two = run(p, false);
    set_num_threads(0);
    CHECK(std::memcmp(one.data(), two.data(), one.size() * 4) == 0);
}

// --precision bf16: both products on the bf16 micro-kernel. Against the double-precision reference within bf16's
// rounding (q, k, v and the probabilities rounded to 8 significant bits: a few 1e-3 of the output's range), the
// same bits for 1 and 3 threads, and not fp32's bits (so it did run in bf16).
TEST_CASE("fused attention in bf16: within bf16's rounding, the same bits for any thread count", "[kernels][attention][bf16]") {
    const int64_t cases[][5] = {{8, 40, 300, 300, 0}, {8, 40, 257, 77, 0}, {5, 64, 33, 513, 0}, {3, 80, 100, 1000, 0}, {4, 8, 77, 77, 1}, {3, 26, 50, 90, 0}};
    for (const auto& c : cases) {
        INFO("heads " << c[0] << " d " << c[1] << " queries " << c[2] << " keys " << c[3] << " causal " << c[4]);
        const Problem p = make(c[0], c[1], c[2], c[3], 1.0f, unsigned(c[2] * 7 + c[3]), c[4] != 0);
        const std::vector<float> fp32 = run(p, false), ref = run(p, true);
        set_num_threads(1);
        const std::vector<float> one = run(p, false, Precision::BF16);
        set_num_threads(3);
        const std::vector<float> three = run(p, false, Precision::BF16);
        set_num_threads(0);
        CHECK(std::memcmp(one.data(), three.data(), one.size() * 4) == 0);
        if (!precision_supported(Precision::BF16)) {
            CHECK(std::memcmp(one.data(), fp32.data(), one.size() * 4) == 0);
            continue;
        }
        const auto [worst, ref_max] = largest_difference(one, ref);
        INFO("largest difference " << worst << " of " << ref_max);
        CHECK(worst <= 1e-2 * ref_max);
        CHECK(std::memcmp(one.data(), fp32.data(), one.size() * 4) != 0);
    }
}

// The tile contract (AMX) through attention's panels: the tile oracle within bf16's rounding of the reference (so
// attention's K, V^T, Q^T and P^T reach it in the tile layouts: rows of 32 steps, head dimensions padded to 32),
// the same bits for 1 and 3 threads; and AMX, where this CPU has it, bit for bit the oracle.
TEST_CASE("fused attention on the bf16 tile contract: the oracle within bf16's rounding, AMX its bits", "[kernels][attention][bf16]") {
    const int64_t cases[][5] = {{2, 40, 70, 300, 0}, {2, 64, 33, 77, 0}, {2, 8, 40, 40, 1}, {1, 80, 20, 257, 0}};
    for (const auto& c : cases) {
        INFO("heads " << c[0] << " d " << c[1] << " queries " << c[2] << " keys " << c[3] << " causal " << c[4]);
        const Problem p = make(c[0], c[1], c[2], c[3], 1.0f, unsigned(c[2] * 5 + c[3]), c[4] != 0);
        const std::vector<float> ref = run(p, true);
        auto on = [&](const MicroKernelInfo& uk, int threads) {
            const int64_t w = p.width();
            std::vector<float> o(size_t(p.s.queries * w), NAN);
            set_num_threads(threads);
            attention_with_kernel(uk, p.s, p.q.data(), w, p.k.data(), w, p.v.data(), w, o.data(), w, 1.0f / std::sqrt(float(p.s.head_dim)));
            set_num_threads(0);
            return o;
        };
        const std::vector<float> one = on(kScalarBf16Tiles_4x4, 1), three = on(kScalarBf16Tiles_4x4, 3);
        CHECK(std::memcmp(one.data(), three.data(), one.size() * 4) == 0);
        const auto [worst, ref_max] = largest_difference(one, ref);
        INFO("largest difference " << worst << " of " << ref_max);
        CHECK(worst <= 1e-2 * ref_max);
        CHECK(worst > 0);  // (it did round to bf16)
#if defined(__x86_64__)
        if (cpu_features().amx_bf16) {
            const std::vector<float> amx = on(kAmx_32x32, 2);
            CHECK(std::memcmp(one.data(), amx.data(), one.size() * 4) == 0);
        }
#endif
    }
    if (!cpu_features().amx_bf16) WARN("AMX attention skipped: this CPU has no usable AMX-BF16 (the tile oracle ran)");
}
