// eltwise_simd.h: the SIMD bodies of eltwise.h, written once with xsimd and instantiated per ISA.
// Tails shorter than a vector go through the scalar definitions.
#pragma once

#include <xsimd/xsimd.hpp>

#include <cmath>

#include "kernels/eltwise.h"
#include "kernels/fma_simd.h"

namespace sdref::kernels {

template <class Arch>
struct EltwiseSimd {
    using batch = xsimd::batch<float, Arch>;
    static constexpr int64_t W = int64_t(batch::size);

    static batch act(batch x, Activation a) {
        switch (a) {
            case Activation::Silu: return x / (batch(1.0f) + xsimd::exp(-x));
            case Activation::Gelu: return batch(0.5f) * x * (batch(1.0f) + xsimd::erf(x * batch(0.70710678118654752f)));
            case Activation::QuickGelu: return x / (batch(1.0f) + xsimd::exp(batch(-1.702f) * x));
            case Activation::GeluTanh:
                return batch(0.5f) * x * (batch(1.0f) + xsimd::tanh(batch(0.7978845608028654f) * (x + batch(0.044715f) * x * x * x)));
            case Activation::Relu: return xsimd::select(x > batch(0.0f), x, batch(0.0f));
            case Activation::LeakyRelu: return xsimd::select(x >= batch(0.0f), x, batch(0.2f) * x);
            case Activation::None: break;
        }
        return x;
    }

    static void activation(float* x, int64_t n, Activation a) {
        if (a == Activation::None) return;
        int64_t i = 0;
        for (; i + W <= n; i += W) act(batch::load_unaligned(x + i), a).store_unaligned(x + i);
        eltwise_scalar().activation(x + i, n - i, a);
    }

    static float exp_shift_sum(float* x, int64_t n, float shift) {
        batch acc(0.0f);
        const batch s(shift);
        int64_t i = 0;
        for (; i + W <= n; i += W) {
            const batch e = xsimd::exp(batch::load_unaligned(x + i) - s);
            e.store_unaligned(x + i);
            acc = acc + e;
        }
        return xsimd::hadd(acc) + eltwise_scalar().exp_shift_sum(x + i, n - i, shift);
    }

    // one rounding each (fma_simd.h): xsimd 8's fma() is a multiply and an add
    static batch fma(batch a, batch b, batch c) { return FusedMultiplyAdd<Arch>::apply(a, b, c); }
    static batch fnma(batch a, batch b, batch c) { return FusedMultiplyAdd<Arch>::apply(-a, b, c); }  // c - a b

    // e^x for x <= 0 (a softmax's shifted scores, -inf included), within 2 ulp of std::exp, with fused
    // multiply-adds and none of the general exp's overflow handling (about 18 instructions, xsimd's 28):
    //   x = k ln2 + r, |r| <= ln2/2 (ln2 in two parts),  e^r = 1 + r + r^2 P(r) (Cephes' expf polynomial),
    //   e^x = e^r 2^k (2^k built in the exponent field; k >= -126 above the cut-off, where e^x becomes 0).
    // A NaN stays NaN.
    static batch exp_nonpositive(batch x) {
        const batch k = xsimd::nearbyint(x * batch(1.44269504088896341f));
        batch r = fnma(k, batch(0.693359375f), x);
        r = fnma(k, batch(-2.12194440e-4f), r);
        batch poly = batch(1.9875691500e-4f);
        poly = fma(poly, r, batch(1.3981999507e-3f));
        poly = fma(poly, r, batch(8.3334519073e-3f));
        poly = fma(poly, r, batch(4.1665795894e-2f));
        poly = fma(poly, r, batch(1.6666665459e-1f));
        poly = fma(poly, r, batch(5.0000001201e-1f));
        const batch e_r = fma(poly, r * r, r) + batch(1.0f);
        using ints = xsimd::batch<int32_t, Arch>;
        const batch two_k = xsimd::bitwise_cast<batch>((xsimd::to_int(k) + ints(127)) << 23);
        return xsimd::select(x < batch(-87.33654f), batch(0.0f), e_r * two_k);
    }

    static void exp_columns(float* x, int64_t rows, int64_t width, const float* shift, float* sum) {
        int64_t p = 0;
        for (; p + W <= width; p += W) {
            const batch s = batch::load_unaligned(shift + p);
            batch acc = batch::load_unaligned(sum + p);
            for (int64_t j = 0; j < rows; ++j) {
                const batch e = exp_nonpositive(batch::load_unaligned(x + j * width + p) - s);
                e.store_unaligned(x + j * width + p);
                acc = acc + e;
            }
            acc.store_unaligned(sum + p);
        }
        for (; p < width; ++p)
            for (int64_t j = 0; j < rows; ++j) {
                x[j * width + p] = std::exp(x[j * width + p] - shift[p]);
                sum[p] += x[j * width + p];
            }
    }

    // Four running maxima per vector of columns (rows j, j+1, j+2, j+3), combined at the end: a chain of maxima
    // one row long would wait on the instruction's latency at every row.
    static void max_columns(const float* x, int64_t rows, int64_t width, float* m) {
        int64_t p = 0;
        for (; p + W <= width; p += W) {
            batch m0 = batch::load_unaligned(m + p), m1 = m0, m2 = m0, m3 = m0;
            int64_t j = 0;
            for (; j + 4 <= rows; j += 4) {
                m0 = xsimd::max(m0, batch::load_unaligned(x + j * width + p));
                m1 = xsimd::max(m1, batch::load_unaligned(x + (j + 1) * width + p));
                m2 = xsimd::max(m2, batch::load_unaligned(x + (j + 2) * width + p));
                m3 = xsimd::max(m3, batch::load_unaligned(x + (j + 3) * width + p));
            }
            for (; j < rows; ++j) m0 = xsimd::max(m0, batch::load_unaligned(x + j * width + p));
            xsimd::max(xsimd::max(m0, m1), xsimd::max(m2, m3)).store_unaligned(m + p);
        }
        for (int64_t j = 0; j < rows; ++j)
            for (int64_t c = p; c < width; ++c) m[c] = std::max(m[c], x[j * width + c]);
    }

    static float max(const float* x, int64_t n) {
        if (n < W) return eltwise_scalar().max(x, n);
        batch m = batch::load_unaligned(x);
        int64_t i = W;
        for (; i + W <= n; i += W) m = xsimd::max(m, batch::load_unaligned(x + i));
        alignas(64) float lanes[W];
        m.store_aligned(lanes);
        float r = lanes[0];
        for (int64_t l = 1; l < W; ++l) r = std::max(r, lanes[l]);
        for (; i < n; ++i) r = std::max(r, x[i]);
        return r;
    }
};

}  // namespace sdref::kernels
