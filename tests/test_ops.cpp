// Normalisations and tensor operations against direct double-precision definitions.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/activation.h"
#include "kernels/eltwise.h"
#include "kernels/ops.h"

using namespace sdref::kernels;

namespace {

std::vector<float> randoms(size_t n, unsigned seed, float mean = 0.0f, float sd = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(mean, sd);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
    double w = 0;
    for (size_t i = 0; i < a.size(); ++i) w = std::max(w, std::fabs(a[i] - b[i]));
    return w;
}

double silu(double x) { return x / (1 + std::exp(-x)); }
double gelu(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }

}  // namespace

TEST_CASE("group_norm (with and without SiLU) matches its definition", "[kernels][ops]") {
    const int64_t C = 64, HW = 37, G = 32;
    const std::vector<float> x = randoms(size_t(C * HW), 1, 3.0f, 2.0f), gamma = randoms(size_t(C), 2), beta = randoms(size_t(C), 3);
    for (Activation act : {Activation::None, Activation::Silu}) {
        std::vector<float> y(x.size());
        group_norm(x.data(), y.data(), C, HW, G, 1e-5f, gamma.data(), beta.data(), act);
        std::vector<double> ref(x.size());
        const int64_t per = C / G;
        for (int64_t g = 0; g < G; ++g) {
            double s = 0, sq = 0;
            for (int64_t i = g * per * HW; i < (g + 1) * per * HW; ++i) s += x[size_t(i)];
            const double mean = s / double(per * HW);
            for (int64_t i = g * per * HW; i < (g + 1) * per * HW; ++i) sq += (x[size_t(i)] - mean) * (x[size_t(i)] - mean);
            const double inv = 1 / std::sqrt(sq / double(per * HW) + 1e-5);
            for (int64_t i = g * per * HW; i < (g + 1) * per * HW; ++i) {
                const int64_t c = i / HW;
                const double v = (x[size_t(i)] - mean) * inv * gamma[size_t(c)] + beta[size_t(c)];
                ref[size_t(i)] = act == Activation::Silu ? silu(v) : v;
            }
        }
        CHECK(max_abs_diff(y, ref) <= 1e-5);
    }
}

TEST_CASE("layer_norm and softmax_rows match their definitions", "[kernels][ops]") {
    const int64_t R = 77, C = 130;
    const std::vector<float> x = randoms(size_t(R * C), 4, 1.0f, 3.0f), gamma = randoms(size_t(C), 5), beta = randoms(size_t(C), 6);
    std::vector<float> y(x.size());
    layer_norm(x.data(), y.data(), R, C, 1e-5f, gamma.data(), beta.data());
    std::vector<double> ref(x.size()), sm(x.size());
    for (int64_t r = 0; r < R; ++r) {
        double s = 0, sq = 0, mx = -INFINITY, z = 0;
        for (int64_t i = 0; i < C; ++i) s += x[size_t(r * C + i)], mx = std::max(mx, double(x[size_t(r * C + i)]));
        const double mean = s / C;
        for (int64_t i = 0; i < C; ++i) sq += std::pow(x[size_t(r * C + i)] - mean, 2);
        for (int64_t i = 0; i < C; ++i) {
            ref[size_t(r * C + i)] = (x[size_t(r * C + i)] - mean) / std::sqrt(sq / C + 1e-5) * gamma[size_t(i)] + beta[size_t(i)];
            z += std::exp(x[size_t(r * C + i)] - mx);
        }
        for (int64_t i = 0; i < C; ++i) sm[size_t(r * C + i)] = std::exp(x[size_t(r * C + i)] - mx) / z;
    }
    CHECK(max_abs_diff(y, ref) <= 2e-5);
    std::vector<float> s = x;
    softmax_rows(s.data(), R, C);
    CHECK(max_abs_diff(s, sm) <= 1e-6);
}

TEST_CASE("activations, GEGLU, upsampling, add, mul, concat", "[kernels][ops]") {
    const std::vector<float> x = randoms(1000, 7, 0.0f, 3.0f);
    struct {
        Activation act;
        double (*f)(double);
    } acts[] = {{Activation::Silu, silu}, {Activation::Gelu, gelu},
                {Activation::QuickGelu, [](double v) { return v / (1 + std::exp(-1.702 * v)); }}};
    for (const auto& a : acts) {
        std::vector<float> y = x;
        activation(y.data(), int64_t(y.size()), a.act);
        std::vector<double> ref(x.size());
        for (size_t i = 0; i < x.size(); ++i) ref[i] = a.f(x[i]);
        CHECK(max_abs_diff(y, ref) <= 1e-5);
    }
    const int64_t R = 3, F = 21;
    const std::vector<float> g = randoms(size_t(R * 2 * F), 8);
    std::vector<float> gy(size_t(R * F));
    geglu(g.data(), gy.data(), R, F);
    std::vector<double> gref(gy.size());
    for (int64_t r = 0; r < R; ++r)
        for (int64_t i = 0; i < F; ++i) gref[size_t(r * F + i)] = g[size_t(r * 2 * F + i)] * gelu(g[size_t(r * 2 * F + F + i)]);
    CHECK(max_abs_diff(gy, gref) <= 1e-5);

    const std::vector<float> img = randoms(2 * 3 * 5, 9);
    std::vector<float> up(2 * 6 * 10);
    upsample_nearest_2x(img.data(), up.data(), 2, 3, 5);
    for (int c = 0; c < 2; ++c)
        for (int i = 0; i < 6; ++i)
            for (int j = 0; j < 10; ++j) REQUIRE(up[size_t((c * 6 + i) * 10 + j)] == img[size_t((c * 3 + i / 2) * 5 + j / 2)]);

    std::vector<float> s(img.size()), p(img.size()), cat(img.size() * 2);
    add(img.data(), img.data(), s.data(), int64_t(img.size()));
    mul(img.data(), img.data(), p.data(), int64_t(img.size()));
    concat_channels(img.data(), 2, s.data(), 2, 15, cat.data());
    for (size_t i = 0; i < img.size(); ++i) {
        REQUIRE(s[i] == img[i] + img[i]);
        REQUIRE(p[i] == img[i] * img[i]);
        REQUIRE(cat[i] == img[i]);
        REQUIRE(cat[img.size() + i] == s[i]);
    }
}

TEST_CASE("this CPU's element-wise kernels agree with the scalar definitions", "[kernels][ops]") {
    const EltwiseKernels& simd = eltwise();
    const EltwiseKernels& scalar = eltwise_scalar();
    INFO("path " << simd.name);
    const std::vector<float> x = randoms(203, 17, 0.0f, 4.0f);  // not a multiple of any vector width
    CHECK(simd.max(x.data(), int64_t(x.size())) == scalar.max(x.data(), int64_t(x.size())));

    std::vector<float> a = x, b = x;
    const float sa = simd.exp_shift_sum(a.data(), int64_t(a.size()), 2.5f);
    const float sb = scalar.exp_shift_sum(b.data(), int64_t(b.size()), 2.5f);
    double sum = 0, worst = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        const double e = std::exp(double(x[i]) - 2.5);
        sum += e;
        worst = std::max(worst, std::fabs(a[i] - e) / e);
        worst = std::max(worst, std::fabs(b[i] - e) / e);
    }
    CHECK(worst <= 1e-6);
    CHECK(std::fabs(sa - sum) <= 1e-5 * sum);
    CHECK(std::fabs(sb - sum) <= 1e-5 * sum);

    // exp down the columns of a 7 x 29 tile, shifted by a bound of each column as attention's softmax shifts by
    // the running maximum (at or above every value), added to sums that start non-zero
    const int64_t rows = 7, width = 29;
    std::vector<float> shift(static_cast<size_t>(width)), sums_simd(static_cast<size_t>(width)),
        sums_scalar(static_cast<size_t>(width));
    for (int64_t p = 0; p < width; ++p) {
        shift[size_t(p)] = p % 2 == 0 ? 4.0f : 4.5f;  // x lies in [0, 4)
        sums_simd[size_t(p)] = sums_scalar[size_t(p)] = float(p);
    }
    std::vector<float> ta(x.begin(), x.begin() + rows * width), tb = ta;
    simd.exp_columns(ta.data(), rows, width, shift.data(), sums_simd.data());
    scalar.exp_columns(tb.data(), rows, width, shift.data(), sums_scalar.data());
    worst = 0;
    for (int64_t p = 0; p < width; ++p) {
        double col = p;
        for (int64_t j = 0; j < rows; ++j) {
            const double e = std::exp(double(x[size_t(j * width + p)]) - double(shift[size_t(p)]));
            col += e;
            worst = std::max(worst, std::fabs(ta[size_t(j * width + p)] - e) / e);
            worst = std::max(worst, std::fabs(tb[size_t(j * width + p)] - e) / e);
        }
        worst = std::max(worst, std::fabs(sums_simd[size_t(p)] - col) / col);
        worst = std::max(worst, std::fabs(sums_scalar[size_t(p)] - col) / col);
    }
    CHECK(worst <= 1e-6);
    // the exponentials' whole range: e^x for x from -100 to 0 in one column per vector lane (0 below about -87.34,
    // where float's normal range ends; the cut-off's neighbourhood either), e^-inf = 0 (a causal mask), and a NaN stays NaN
    const int64_t lanes = 16, steps = 4000;
    std::vector<float> range(static_cast<size_t>((steps + 2) * lanes)), zero_shift(static_cast<size_t>(lanes), 0.0f);
    for (int64_t j = 0; j < steps; ++j)
        for (int64_t p = 0; p < lanes; ++p) range[size_t(j * lanes + p)] = -100.0f * float(j * lanes + p) / float(steps * lanes);
    for (int64_t p = 0; p < lanes; ++p) {
        range[size_t(steps * lanes + p)] = -std::numeric_limits<float>::infinity();
        range[size_t((steps + 1) * lanes + p)] = p == 3 ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
    }
    const std::vector<float> arguments = range;
    std::vector<float> range_sums(static_cast<size_t>(lanes), 0.0f);
    simd.exp_columns(range.data(), steps + 2, lanes, zero_shift.data(), range_sums.data());
    double worst_range = 0;
    for (int64_t i = 0; i < steps * lanes; ++i) {
        const double e = std::exp(double(arguments[size_t(i)]));
        if (arguments[size_t(i)] < -87.34f) REQUIRE(range[size_t(i)] == 0.0f);
        else if (arguments[size_t(i)] > -87.33f) worst_range = std::max(worst_range, std::fabs(range[size_t(i)] - e) / e);
    }
    CHECK(worst_range <= 2.4e-7);  // 2 ulp
    for (int64_t p = 0; p < lanes; ++p) {
        CHECK(range[size_t(steps * lanes + p)] == 0.0f);
        CHECK((p == 3) == std::isnan(range[size_t((steps + 1) * lanes + p)]));
        if (p != 3) CHECK(range[size_t((steps + 1) * lanes + p)] == 1.0f);
    }

    // the maxima down the columns of the same 7 x 29 tile (7 rows: the 4-row unrolled part and a tail), against
    // the plain definition, starting from maxima that win in some columns
    std::vector<float> m_simd(static_cast<size_t>(width)), m_scalar(static_cast<size_t>(width)), m_def(static_cast<size_t>(width));
    for (int64_t p = 0; p < width; ++p) m_simd[size_t(p)] = m_scalar[size_t(p)] = m_def[size_t(p)] = p % 3 == 0 ? 3.9f : -1.0f;
    for (int64_t j = 0; j < rows; ++j)
        for (int64_t p = 0; p < width; ++p) m_def[size_t(p)] = std::max(m_def[size_t(p)], x[size_t(j * width + p)]);
    simd.max_columns(x.data(), rows, width, m_simd.data());
    scalar.max_columns(x.data(), rows, width, m_scalar.data());
    CHECK(m_simd == m_def);
    CHECK(m_scalar == m_def);
    CHECK(std::count(m_def.begin(), m_def.end(), 3.9f) > 0);
    CHECK(std::count(m_def.begin(), m_def.end(), 3.9f) < width);
}

TEST_CASE("element-wise ops: sub, add_scaled (a multiply, then an add) and add_per_channel, bit for bit", "[kernels][ops]") {
    const int64_t C = 5, HW = 333, n = C * HW;
    const std::vector<float> a = randoms(size_t(n), 7), b = randoms(size_t(n), 8), v = randoms(size_t(C), 9);
    std::vector<float> d(static_cast<size_t>(n)), s(static_cast<size_t>(n)), x = a;
    sub(a.data(), b.data(), d.data(), n);
    add_scaled(a.data(), 7.5f, b.data(), s.data(), n);
    add_per_channel(x.data(), v.data(), C, HW);
    for (int64_t i = 0; i < n; ++i) {
        const float product = 7.5f * b[size_t(i)];  // (rounded on its own: no fused multiply-add)
        REQUIRE(d[size_t(i)] == a[size_t(i)] - b[size_t(i)]);
        REQUIRE(s[size_t(i)] == a[size_t(i)] + product);
        REQUIRE(x[size_t(i)] == a[size_t(i)] + v[size_t(i / HW)]);
    }
}
