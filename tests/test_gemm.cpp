// GEMM: every micro-kernel and the whole driver against a naive FMA-chain oracle, bit for bit, over odd shapes,
// all operand types and layouts; epilogues against the scalar definitions; identical bits for 1 and 2 threads.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/activation.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "kernels/half.h"
#include "kernels/ukernel.h"
#include "kernels/weight_panels.h"

using namespace sdref::kernels;

namespace {

struct Operand {
    std::vector<float> values;     // the exact values (after rounding to the stored type)
    std::vector<uint16_t> half;    // storage for F16/BF16
    StridedMatrix m;
};

// A K x W operand with the given type and layout, random values exactly representable in its type.
Operand make_operand(int64_t K, int64_t W, ElemType type, bool k_contiguous, std::mt19937& rng) {
    std::normal_distribution<float> dist(0.0f, 1.0f);
    Operand op;
    op.values.resize(size_t(K * W));
    op.half.resize(size_t(K * W));
    const int64_t ks = k_contiguous ? 1 : W, ws = k_contiguous ? K : 1;
    for (int64_t k = 0; k < K; ++k)
        for (int64_t w = 0; w < W; ++w) {
            float v = dist(rng);
            const size_t at = size_t(k * ks + w * ws);
            if (type == ElemType::F16) {
                op.half[at] = f32_to_f16(v);
                v = f16_to_f32(op.half[at]);
            } else if (type == ElemType::BF16) {
                uint32_t bits;
                std::memcpy(&bits, &v, 4);
                op.half[at] = uint16_t(bits >> 16);
                v = bf16_to_f32(op.half[at]);
            }
            op.values[at] = v;
        }
    op.m = {type == ElemType::F32 ? static_cast<const void*>(op.values.data()) : op.half.data(), type, ks, ws};
    return op;
}

float at(const Operand& op, int64_t k, int64_t w) { return op.values[size_t(k * op.m.k_stride + w * op.m.w_stride)]; }

// C[i][j] = fma chain over k of A(i, k) * B(k, j), starting from 0.
std::vector<float> oracle(int64_t M, int64_t N, int64_t K, const Operand& a, const Operand& b) {
    std::vector<float> c(size_t(M * N));
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
            float acc = 0;
            for (int64_t k = 0; k < K; ++k) acc = std::fma(at(a, k, i), at(b, k, j), acc);
            c[size_t(i * N + j)] = acc;
        }
    return c;
}

size_t differing_bits(const std::vector<float>& x, const std::vector<float>& y) {
    size_t bad = 0;
    for (size_t i = 0; i < x.size(); ++i) bad += std::memcmp(&x[i], &y[i], 4) != 0;
    return bad;
}

std::vector<const MicroKernelInfo*> kernels_to_test() {
    std::vector<const MicroKernelInfo*> ks = {&scalar_micro_kernel()};
    if (&best_micro_kernel() != &scalar_micro_kernel()) ks.push_back(&best_micro_kernel());
    return ks;
}

// Owns every weight, and counts what it is told was packed.
struct EveryWeight : WeightOwner {
    mutable int packed_weights = 0;
    bool owns(const void*, size_t) const override { return true; }
    void packed(const void*, size_t) const override { ++packed_weights; }
};

}  // namespace

TEST_CASE("GEMM equals the FMA-chain oracle bit for bit: odd shapes, all types and layouts", "[kernels][gemm]") {
    std::mt19937 rng(7);
    const int64_t sizes[][3] = {{1, 1, 1}, {5, 7, 3}, {6, 16, 256}, {13, 33, 257}, {77, 40, 300},
                                {170, 50, 513}, {31, 4097, 9}, {200, 130, 64}};
    for (const auto& s : sizes) {
        const int64_t M = s[0], N = s[1], K = s[2];
        for (ElemType bt : {ElemType::F32, ElemType::F16, ElemType::BF16}) {
            for (bool b_kcontig : {true, false}) {
                const Operand a = make_operand(K, M, ElemType::F32, true, rng);
                const Operand b = make_operand(K, N, bt, b_kcontig, rng);
                const std::vector<float> ref = oracle(M, N, K, a, b);
                for (const MicroKernelInfo* uk : kernels_to_test()) {
                    INFO("M=" << M << " N=" << N << " K=" << K << " B type " << int(bt) << " k-contiguous "
                              << b_kcontig << " kernel " << uk->name);
                    std::vector<float> c(size_t(M * N), NAN);
                    gemm_with_kernel(*uk, M, N, K, StridedSource(a.m), StridedSource(b.m), c.data(), N);
                    CHECK(differing_bits(c, ref) == 0);
                }
            }
        }
    }
}

TEST_CASE("GEMM with small cache blocks: every block loop, tall and wide, edges, epilogue once", "[kernels][gemm]") {
    // Blocks a few panels big, so that these small problems run through several N blocks or chunks, K blocks
    // and M blocks of both loop nests (tall: M >= N, wide: N > M), with partial panels at every edge.
    std::mt19937 rng(13);
    const int64_t sizes[][3] = {{97, 45, 70}, {45, 97, 70}, {130, 131, 33}, {7, 300, 129}, {300, 7, 129}, {64, 64, 64}};
    for (const auto& s : sizes) {
        const int64_t M = s[0], N = s[1], K = s[2];
        const Operand a = make_operand(K, M, ElemType::F32, true, rng);
        const Operand b = make_operand(K, N, ElemType::F16, true, rng);
        const std::vector<float> ab = oracle(M, N, K, a, b);
        std::vector<float> bias(static_cast<size_t>(N));
        for (auto& v : bias) v = float(rng() % 100) / 50 - 1;
        for (const MicroKernelInfo* kernel : kernels_to_test()) {
            for (int kc : {8, 20, 64}) {
                MicroKernelInfo uk = *kernel;
                uk.mc = 2 * uk.mr;
                uk.kc = kc;
                uk.nc = 3 * uk.nr;
                INFO("M=" << M << " N=" << N << " K=" << K << " kernel " << uk.name << " KC " << kc);
                std::vector<float> c(size_t(M * N), NAN);
                gemm_with_kernel(uk, M, N, K, StridedSource(a.m), StridedSource(b.m), c.data(), N);
                CHECK(differing_bits(c, ab) == 0);
                // the bias must be added once, after the last K block
                GemmEpilogue ep;
                ep.col_bias = bias.data();
                gemm_with_kernel(uk, M, N, K, StridedSource(a.m), StridedSource(b.m), c.data(), N, ep);
                size_t bad = 0;
                for (int64_t i = 0; i < M; ++i)
                    for (int64_t j = 0; j < N; ++j) bad += c[size_t(i * N + j)] != ab[size_t(i * N + j)] + bias[size_t(j)];
                CHECK(bad == 0);
            }
        }
    }
}

TEST_CASE("GEMM results do not depend on the thread count", "[kernels][gemm]") {
    // both loop nests: wide (N > M, threads share N chunks) and tall (M >= N, threads share M blocks)
    std::mt19937 rng(11);
    for (const auto& shape : {std::pair<int64_t, int64_t>{301, 517}, std::pair<int64_t, int64_t>{517, 301}}) {
        const int64_t M = shape.first, N = shape.second, K = 700;
        const Operand a = make_operand(K, M, ElemType::F32, true, rng);
        const Operand b = make_operand(K, N, ElemType::F16, true, rng);
        std::vector<float> one(size_t(M * N)), two(size_t(M * N)), three(size_t(M * N));
        set_num_threads(1);
        gemm(M, N, K, StridedSource(a.m), StridedSource(b.m), one.data(), N);
        set_num_threads(2);
        gemm(M, N, K, StridedSource(a.m), StridedSource(b.m), two.data(), N);
        set_num_threads(3);
        gemm(M, N, K, StridedSource(a.m), StridedSource(b.m), three.data(), N);
        set_num_threads(0);
        INFO("M=" << M << " N=" << N);
        CHECK(differing_bits(one, two) == 0);
        CHECK(differing_bits(one, three) == 0);
    }
}

TEST_CASE("GEMM epilogues: bias along rows and columns, activations, residual, leading dimension", "[kernels][gemm]") {
    std::mt19937 rng(3);
    const int64_t M = 37, N = 45, K = 29, ldc = 50;
    const Operand a = make_operand(K, M, ElemType::F32, true, rng);
    const Operand b = make_operand(K, N, ElemType::F32, false, rng);
    const std::vector<float> ab = oracle(M, N, K, a, b);
    std::vector<float> row_bias(static_cast<size_t>(M)), col_bias(static_cast<size_t>(N)), residual(static_cast<size_t>(M * ldc));
    for (auto& v : row_bias) v = float(rng() % 100) / 50 - 1;
    for (auto& v : col_bias) v = float(rng() % 100) / 50 - 1;
    for (auto& v : residual) v = float(rng() % 100) / 50 - 1;
    for (Activation act : {Activation::None, Activation::Silu, Activation::Gelu, Activation::QuickGelu}) {
        INFO("activation " << int(act));
        GemmEpilogue ep;
        ep.row_bias = row_bias.data();
        ep.col_bias = col_bias.data();
        ep.activation = act;
        ep.residual = residual.data();
        std::vector<float> c(size_t(M * ldc), -7.0f);
        gemm(M, N, K, StridedSource(a.m), StridedSource(b.m), c.data(), ldc, ep);
        double worst = 0;
        for (int64_t i = 0; i < M; ++i) {
            for (int64_t j = 0; j < N; ++j) {
                float v = ab[size_t(i * N + j)] + row_bias[size_t(i)] + col_bias[size_t(j)];
                apply_activation_scalar(&v, 1, act);
                v += residual[size_t(i * ldc + j)];
                worst = std::max(worst, double(std::fabs(v - c[size_t(i * ldc + j)])));
            }
            for (int64_t j = N; j < ldc; ++j) REQUIRE(c[size_t(i * ldc + j)] == -7.0f);  // outside C untouched
        }
        CHECK(worst <= 1e-5);
    }
}

TEST_CASE("linear(): x · w^T with fp16 weights in PyTorch layout", "[kernels][gemm]") {
    std::mt19937 rng(5);
    const int64_t M = 10, N = 24, K = 19;
    const Operand x = make_operand(K, M, ElemType::F32, true, rng);
    const Operand w = make_operand(K, N, ElemType::F16, true, rng);  // stored [N, K]
    const std::vector<float> ref = oracle(M, N, K, x, w);
    std::vector<float> y(size_t(M * N));
    linear(M, N, K, x.values.data(), K, w.half.data(), ElemType::F16, y.data(), N);
    CHECK(differing_bits(y, ref) == 0);
}

// ---- bf16 ----------------------------------------------------------------------------------------------------

namespace {

// Both bf16 oracles (pairs and tiles), AVX512_BF16 and AMX where this CPU has them (SDREF_ISA=avx512bf16 takes
// AVX512_BF16 where it is not the best), and the best kernel.
std::vector<const MicroKernelInfo*> bf16_kernels_to_test() {
    std::vector<const MicroKernelInfo*> ks = {&scalar_micro_kernel(Precision::BF16), &kScalarBf16Tiles_4x4};
#if defined(__x86_64__)
    if (cpu_features().avx512_bf16) ks.push_back(&kAvx512Bf16_12x32);
    if (cpu_features().amx_bf16) ks.push_back(&kAmx_32x32);
#endif
    const MicroKernelInfo* best = best_micro_kernel(Precision::BF16);
    if (best && std::find(ks.begin(), ks.end(), best) == ks.end()) ks.push_back(best);
    return ks;
}

// The bf16 contract of ukernel.h, written out: operands rounded to bf16, pairs of k steps, the odd one first,
// each sum rounded with subnormal sums flushed to zero.
std::vector<float> bf16_oracle(int64_t M, int64_t N, int64_t K, const Operand& a, const Operand& b) {
    auto step = [](float acc, float x, float y) {
        const float s = std::fma(bf16_value(bf16_round(x)), bf16_value(bf16_round(y)), acc);
        return std::fabs(s) < 0x1p-126f ? std::copysign(0.0f, s) : s;
    };
    std::vector<float> c(size_t(M * N));
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
            float acc = 0;
            for (int64_t k = 0; k < K; k += 2) {
                if (k + 1 < K) acc = step(acc, at(a, k + 1, i), at(b, k + 1, j));
                acc = step(acc, at(a, k, i), at(b, k, j));
            }
            c[size_t(i * N + j)] = acc;
        }
    return c;
}

// The bf16 tile contract of ukernel.h (AMX's tdpbf16ps), written out: per block of 32 steps (zeros past K), an
// even and an odd chain from zero, their sum added to C; every sum rounded, subnormal sums flushed to zero.
std::vector<float> bf16_tiles_oracle(int64_t M, int64_t N, int64_t K, const Operand& a, const Operand& b) {
    auto ftz = [](float s) { return std::fabs(s) < 0x1p-126f ? std::copysign(0.0f, s) : s; };
    auto value = [&](const Operand& op, int64_t k, int64_t w) { return k < K ? bf16_value(bf16_round(at(op, k, w))) : 0.0f; };
    std::vector<float> c(size_t(M * N));
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
            float acc = 0;
            for (int64_t t = 0; t < K; t += 32) {
                float even = 0, odd = 0;
                for (int64_t k = t; k < t + 32; k += 2) {
                    even = ftz(std::fma(value(a, k, i), value(b, k, j), even));
                    odd = ftz(std::fma(value(a, k + 1, i), value(b, k + 1, j), odd));
                }
                acc = ftz(acc + ftz(even + odd));
            }
            c[size_t(i * N + j)] = acc;
        }
    return c;
}

std::vector<float> contract_oracle(const MicroKernelInfo& uk, int64_t M, int64_t N, int64_t K, const Operand& a, const Operand& b) {
    return uk.panel == PanelType::BF16_TILES ? bf16_tiles_oracle(M, N, K, a, b) : bf16_oracle(M, N, K, a, b);
}

}  // namespace

TEST_CASE("AMX: the tile kernel runs here, or the reason it cannot", "[kernels][gemm][bf16]") {
    const CpuFeatures& f = cpu_features();
    if (f.amx_refused) WARN("AMX kernel tests skipped: this CPU has AMX, but Linux refused the tile data permission");
    else if (!f.amx_bf16) WARN("AMX kernel tests skipped: this CPU has no AMX-BF16 (the tile oracle is tested instead)");
    // where it runs, it is the bf16 kernel, and bf16 is offered
#if defined(__x86_64__)
    CHECK((f.amx_bf16 ? best_micro_kernel(Precision::BF16) == &kAmx_32x32 : true));
#endif
    CHECK((f.amx_bf16 ? bf16_fallback_reason() == nullptr : true));
    // Intel's AVX512_BF16 without AMX is not taken for bf16 unless forced; the reason is given instead
    if (f.avx512_bf16 && !f.amx_bf16 && !f.bf16_dot_fast) {
        CHECK(best_micro_kernel(Precision::BF16) == nullptr);
        CHECK(std::string(bf16_fallback_reason()).find("no faster than fp32") != std::string::npos);
    }
    CHECK((precision_supported(Precision::BF16) == (bf16_fallback_reason() == nullptr)));
}

TEST_CASE("bf16 rounding: nearest even, quiet NaN, subnormals to zero, and every converter gives the scalar's bits", "[kernels][gemm][bf16]") {
    auto bits = [](uint32_t u) {
        float x;
        std::memcpy(&x, &u, 4);
        return bf16_round(x);
    };
    CHECK(bits(0x3f800000u) == 0x3f80);  // 1
    CHECK(bits(0x3f808000u) == 0x3f80);  // 1 + 2^-8: a tie, to the even 1
    CHECK(bits(0x3f818000u) == 0x3f82);  // 1 + 3 * 2^-8: a tie, to the even 1 + 2^-6
    CHECK(bits(0x3f808001u) == 0x3f81);  // just above the tie: up
    CHECK(bits(0xbf80ffffu) == 0xbf81);  // negative, rounds away in magnitude
    CHECK(bits(0x7f7fffffu) == 0x7f80);  // the largest float rounds to infinity
    CHECK(bits(0xff800000u) == 0xff80);  // -infinity stays
    CHECK(bits(0x7f800001u) == 0x7fc0);  // a signalling NaN becomes quiet
    CHECK(bits(0x00400000u) == 0x0000);  // a subnormal: zero
    CHECK(bits(0x80000001u) == 0x8000);  // with its sign
    CHECK(bf16_value(0x3f81) == 1.0078125f);

    // random panels with the special values mixed in, odd kc, every panel width the table uses
    std::mt19937 rng(17);
    std::normal_distribution<float> dist(0.0f, 3.0f);
    const uint32_t specials[] = {0x7f800001u, 0xff800000u, 0x00400000u, 0x80000001u, 0x3f808000u, 0x7f7fffffu, 0u, 0x80000000u};
    for (const MicroKernelInfo* uk : bf16_kernels_to_test())
        for (Side side : {Side::A, Side::B})
            for (int width : {uk->mr, uk->nr, 4, 12, 32})
                for (int64_t kc : {1, 2, 7, 64, 70}) {
                    std::vector<float> src(size_t(kc * width));
                    for (size_t i = 0; i < src.size(); ++i) {
                        src[i] = dist(rng);
                        if (rng() % 5 == 0) std::memcpy(&src[i], &specials[rng() % 8], 4);
                    }
                    const size_t n = size_t(uk->panel_floats(kc, width) * 2);
                    std::vector<uint16_t> want(n, 0xdead), got(n, 0xbeef);
                    scalar_oracle_of(*uk).convert(side, src.data(), want.data(), kc, width);
                    uk->convert(side, src.data(), got.data(), kc, width);
                    INFO(uk->name << " side " << (side == Side::A ? "A" : "B") << " width " << width << " kc " << kc);
                    CHECK(want == got);
                    // where step 1 of column 0 lies: beside step 0 (pairs), or 1 further along its row (tile A rows)
                    const bool rows = uk->panel == PanelType::BF16_TILES && side == Side::A;
                    CHECK(want[1] == (kc > 1 ? bf16_round(src[size_t(width)]) : 0));
                    if (rows && width > 1) CHECK(want[32] == bf16_round(src[1]));  // row 1 of the block
                }
}

TEST_CASE("bf16 GEMM equals the bf16 oracle bit for bit: odd shapes, small blocks, all weight types", "[kernels][gemm][bf16]") {
    std::mt19937 rng(19);
    const int64_t sizes[][3] = {{1, 1, 1}, {5, 7, 3}, {13, 33, 257}, {77, 40, 300}, {31, 700, 9}, {200, 130, 64}, {97, 45, 71}};
    for (const auto& s : sizes) {
        const int64_t M = s[0], N = s[1], K = s[2];
        for (ElemType bt : {ElemType::F32, ElemType::F16, ElemType::BF16}) {
            const Operand a = make_operand(K, M, ElemType::F32, true, rng);
            const Operand b = make_operand(K, N, bt, bt != ElemType::F16, rng);
            for (const MicroKernelInfo* kernel : bf16_kernels_to_test())
                for (int kc : {0, 20}) {
                    const std::vector<float> ref = contract_oracle(*kernel, M, N, K, a, b);  // 0: the kernel's own blocks; 20: several K, M and N blocks
                    MicroKernelInfo uk = *kernel;
                    if (kc) {
                        uk.mc = 2 * uk.mr;
                        uk.kc = kc;
                        uk.nc = 3 * uk.nr;
                    }
                    INFO("M=" << M << " N=" << N << " K=" << K << " B type " << int(bt) << " kernel " << uk.name << " KC " << kc);
                    std::vector<float> c(size_t(M * N), NAN);
                    gemm_with_kernel(uk, M, N, K, StridedSource(a.m), StridedSource(b.m), c.data(), N);
                    CHECK(differing_bits(c, ref) == 0);
                }
        }
    }
}

TEST_CASE("bf16 GEMM: the same bits for any thread count, within bf16's rounding of fp32", "[kernels][gemm][bf16]") {
    std::mt19937 rng(23);
    for (const auto& shape : {std::pair<int64_t, int64_t>{301, 517}, std::pair<int64_t, int64_t>{517, 301}}) {
        const int64_t M = shape.first, N = shape.second, K = 700;
        const Operand a = make_operand(K, M, ElemType::F32, true, rng);
        const Operand b = make_operand(K, N, ElemType::F16, true, rng);
        std::vector<float> fp32(size_t(M * N)), one(size_t(M * N)), two(size_t(M * N)), three(size_t(M * N));
        gemm(M, N, K, StridedSource(a.m), StridedSource(b.m), fp32.data(), N);
        for (auto [threads, out] : {std::pair{1, &one}, std::pair{2, &two}, std::pair{3, &three}}) {
            set_num_threads(threads);
            gemm(M, N, K, StridedSource(a.m), StridedSource(b.m), out->data(), N, {}, Precision::BF16);
        }
        set_num_threads(0);
        INFO("M=" << M << " N=" << N);
        CHECK(differing_bits(one, two) == 0);
        CHECK(differing_bits(one, three) == 0);
        if (!precision_supported(Precision::BF16)) {  // no bf16 instructions: fp32, bit for bit
            CHECK(differing_bits(one, fp32) == 0);
            continue;
        }
        CHECK(differing_bits(one, contract_oracle(micro_kernel_for(Precision::BF16), M, N, K, a, b)) == 0);
        // each product is off by at most two bf16 roundings (2^-7 relative) plus the fp32 sums' error
        size_t outside = 0, changed = 0;
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) {
                double bound = 0;
                for (int64_t k = 0; k < K; ++k) bound += std::fabs(double(at(a, k, i)) * at(b, k, j));
                bound *= 0x1p-7 + double(K) * 0x1p-23;
                const float x = one[size_t(i * N + j)], y = fp32[size_t(i * N + j)];
                outside += std::fabs(double(x) - y) > bound;
                changed += x != y;
            }
        CHECK(outside == 0);
        CHECK(changed > size_t(M * N) / 2);  // and it did run in bf16
    }
}

TEST_CASE("weights packed once (WeightPanels) give the bits of packing per call: A and B, tall and wide, every kernel",
          "[kernels][gemm]") {
    std::mt19937 rng(31);
    std::vector<const MicroKernelInfo*> kernels = kernels_to_test();
    for (const MicroKernelInfo* k : bf16_kernels_to_test()) kernels.push_back(k);
    const int64_t sizes[][3] = {{5, 7, 3}, {13, 33, 257}, {77, 40, 300}, {200, 130, 64}, {31, 700, 45}, {96, 320, 64}};
    int packed_cases = 0;
    for (const auto& s : sizes) {
        const int64_t M = s[0], N = s[1], K = s[2];
        for (ElemType wt : {ElemType::F32, ElemType::F16})
            for (bool weight_is_a : {true, false}) {
                const Operand a = make_operand(K, M, weight_is_a ? wt : ElemType::F32, true, rng);
                const Operand b = make_operand(K, N, weight_is_a ? ElemType::F32 : wt, true, rng);
                WeightPanels panels;
                const WeightSource wa(a.m, K, M, &panels), wb(b.m, K, N, &panels);
                const WeightSource unpacked(weight_is_a ? a.m : b.m, K, weight_is_a ? M : N);  // (no store: packed per call)
                const StridedSource sa(a.m), sb(b.m);
                const PanelSource& pa = weight_is_a ? static_cast<const PanelSource&>(wa) : sa;
                const PanelSource& pb = weight_is_a ? static_cast<const PanelSource&>(sb) : wb;
                for (const MicroKernelInfo* kernel : kernels)
                    for (int kc : {0, 20}) {  // 0: the kernel's own blocks; 20: several K, M and N blocks
                        MicroKernelInfo uk = *kernel;
                        if (kc) uk.mc = 2 * uk.mr, uk.kc = kc, uk.nc = 3 * uk.nr;
                        INFO("M=" << M << " N=" << N << " K=" << K << " weight type " << int(wt) << " weight is "
                                  << (weight_is_a ? "A" : "B") << " kernel " << uk.name << " KC " << kc);
                        std::vector<float> ref(size_t(M * N)), once(size_t(M * N), NAN), again(size_t(M * N), NAN),
                            refused(size_t(M * N), NAN);
                        gemm_with_kernel(uk, M, N, K, sa, sb, ref.data(), N);
                        // panels no larger than the stored weight: bf16 pairs of any, fp32 panels of fp32 (up to
                        // the padding of the last panel and k step)
                        const int64_t width = weight_is_a ? uk.mr : uk.nr, cols = weight_is_a ? M : N;
                        const int64_t KC = gemm_k_block(uk, K), k_blocks = (K + KC - 1) / KC;
                        const int64_t panel_bytes = 4 * k_blocks * uk.panel_floats(KC, width) * ((cols + width - 1) / width);
                        const bool fits = panel_bytes <= 2 * (wt == ElemType::F32 ? 2 : 1) * K * cols * 105 / 100;
                        packed_cases += fits;
                        panels.clear();
                        EveryWeight owner;
                        {
                            WeightPanels::Scope scope(panels, owner, uk, int64_t(1) << 30);
                            gemm_with_kernel(uk, M, N, K, pa, pb, once.data(), N);
                            CHECK(panels.weights() == (fits ? 1 : 0));
                            CHECK(owner.packed_weights == (fits ? 1 : 0));
                            gemm_with_kernel(uk, M, N, K, pa, pb, again.data(), N);
                        }
                        CHECK(panels.weights() == (fits ? 1 : 0));  // kept, and read where it is: not packed again
                        CHECK(owner.packed_weights == (fits ? 1 : 0));
                        const int64_t before = panels.weights();
                        gemm_with_kernel(uk, M, N, K, pa, pb, again.data(), N);  // the store is not packing now
                        CHECK(panels.weights() == before);
                        {
                            WeightPanels::Scope scope(panels, owner, uk, int64_t(1) << 30);
                            CHECK(unpacked.packed_block(uk, weight_is_a ? Side::A : Side::B, 0) == nullptr);
                        }
                        {
                            WeightPanels::Scope scope(panels, owner, uk, 16);  // too small: dropped, packed per call
                            CHECK(panels.weights() == 0);
                            gemm_with_kernel(uk, M, N, K, pa, pb, refused.data(), N);
                            CHECK(panels.weights() == 0);
                        }
                        CHECK(differing_bits(once, ref) == 0);
                        CHECK(differing_bits(again, ref) == 0);
                        CHECK(differing_bits(refused, ref) == 0);
                    }
            }
    }
    CHECK(packed_cases >= 10);
}

TEST_CASE("a kernel's 4-row form gives the bits of its first 4 rows, fp32 and bf16 panels", "[kernels][gemm][bf16]") {
    std::vector<const MicroKernelInfo*> ks = {&best_micro_kernel()};
    if (const MicroKernelInfo* bf16 = best_micro_kernel(Precision::BF16)) ks.push_back(bf16);
    std::mt19937 rng(5);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (const MicroKernelInfo* uk : ks) {
        if (!uk->kernel_4_rows) continue;  // (the scalar and NEON kernels: no such remainder)
        INFO(uk->name);
        const int64_t kc = 37, MR = uk->mr, NR = uk->nr;  // odd kc: the bf16 pair panel's padding step
        auto aligned = [](std::vector<float>& v) { return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(v.data()) + 63) & ~uintptr_t(63)); };
        std::vector<float> a_full(size_t(kc * MR + 16)), a_four(size_t(kc * 4 + 16)), b(size_t(kc * NR + 16));
        std::vector<float> a_full_t(a_full.size() + 16), a_four_t(a_four.size() + 16), b_t(b.size() + 16);
        float *af = aligned(a_full), *a4 = aligned(a_four), *bp = aligned(b);
        for (int64_t k = 0; k < kc; ++k) {
            for (int64_t r = 0; r < MR; ++r) af[k * MR + r] = dist(rng);
            for (int64_t r = 0; r < 4; ++r) a4[k * 4 + r] = af[k * MR + r];
            for (int64_t j = 0; j < NR; ++j) bp[k * NR + j] = dist(rng);
        }
        const void *A_full = af, *A_four = a4, *B = bp;
        if (uk->panel == PanelType::BF16_PAIRS) {  // the same values as bf16 pair panels
            float *tf = aligned(a_full_t), *t4 = aligned(a_four_t), *tb = aligned(b_t);
            uk->to_panel(af, tf, kc, int(MR)), uk->to_panel(a4, t4, kc, 4), uk->to_panel(bp, tb, kc, int(NR));
            A_full = tf, A_four = t4, B = tb;
        }
        for (bool load_c : {false, true}) {
            std::vector<float> c_full(size_t(MR * NR)), c_four(size_t(4 * NR));
            for (size_t i = 0; i < c_four.size(); ++i) c_full[i] = c_four[i] = dist(rng);
            uk->kernel(kc, A_full, B, c_full.data(), NR, load_c);
            uk->kernel_4_rows(kc, A_four, B, c_four.data(), NR, load_c);
            c_full.resize(c_four.size());
            CHECK(differing_bits(c_full, c_four) == 0);
            CHECK(std::count(c_four.begin(), c_four.end(), 0.0f) == 0);
        }
    }
}
