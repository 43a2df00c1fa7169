// conv2d: the implicit GEMM against a direct convolution written as the same FMA chain (k = ci, ky, kx), bit
// for bit, for 3x3 and 1x1 kernels, stride 1 and 2, odd sizes, fp32 and fp16 weights, with bias.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/half.h"
#include "kernels/ukernel.h"

using namespace sdref::kernels;

TEST_CASE("conv2d equals the direct convolution bit for bit", "[kernels][conv]") {
    std::mt19937 rng(9);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    struct Case {
        int64_t cin, h, w, cout, kernel, stride, padding, padding_end;
    };
    const Case cases[] = {{3, 9, 11, 5, 3, 1, 1, 1},   {16, 17, 13, 33, 3, 1, 1, 1}, {8, 16, 16, 12, 3, 2, 1, 1},
                          {7, 15, 9, 4, 3, 2, 1, 1},   {20, 10, 10, 30, 1, 1, 0, 0}, {4, 1, 1, 3, 3, 1, 1, 1},
                          {32, 40, 40, 13, 3, 1, 1, 1}, {6, 16, 16, 5, 3, 2, 0, 1},  {5, 9, 7, 4, 3, 2, 0, 1},
                          // rows of exactly one or two panels (16 and 32 wide): whole-panel copies across borders
                          {5, 32, 32, 7, 3, 1, 1, 1},   {3, 12, 64, 14, 3, 1, 1, 1}, {2, 3, 16, 3, 3, 1, 1, 1}};
    for (const Case& c : cases) {
        for (ElemType wt : {ElemType::F32, ElemType::F16}) {
            const Conv2dShape s{c.cin, c.h, c.w, c.cout, c.kernel, c.stride, c.padding, c.padding_end};
            INFO("cin " << c.cin << " " << c.h << "x" << c.w << " cout " << c.cout << " k" << c.kernel << " s" << c.stride
                        << " weights " << (wt == ElemType::F16 ? "f16" : "f32"));
            std::vector<float> in(size_t(c.cin * c.h * c.w)), w(size_t(c.cout * c.cin * c.kernel * c.kernel)), bias(size_t(c.cout));
            std::vector<uint16_t> w16(w.size());
            for (float& v : in) v = dist(rng);
            for (size_t i = 0; i < w.size(); ++i) {
                w16[i] = f32_to_f16(dist(rng));
                w[i] = f16_to_f32(w16[i]);
            }
            for (float& v : bias) v = dist(rng);
            const int64_t OH = s.out_height(), OW = s.out_width();
            std::vector<float> ref(size_t(c.cout * OH * OW));
            for (int64_t co = 0; co < c.cout; ++co)
                for (int64_t oy = 0; oy < OH; ++oy)
                    for (int64_t ox = 0; ox < OW; ++ox) {
                        float acc = 0;
                        for (int64_t ci = 0; ci < c.cin; ++ci)
                            for (int64_t ky = 0; ky < c.kernel; ++ky)
                                for (int64_t kx = 0; kx < c.kernel; ++kx) {
                                    const int64_t iy = oy * c.stride - c.padding + ky, ix = ox * c.stride - c.padding + kx;
                                    const float x = (iy >= 0 && iy < c.h && ix >= 0 && ix < c.w) ? in[size_t((ci * c.h + iy) * c.w + ix)] : 0.0f;
                                    acc = std::fma(w[size_t(((co * c.cin + ci) * c.kernel + ky) * c.kernel + kx)], x, acc);
                                }
                        ref[size_t((co * OH + oy) * OW + ox)] = acc + bias[size_t(co)];
                    }
            std::vector<float> out(ref.size(), NAN);
            GemmEpilogue ep;
            ep.row_bias = bias.data();
            conv2d(s, in.data(), wt == ElemType::F16 ? static_cast<const void*>(w16.data()) : w.data(), wt, out.data(), ep);
            size_t bad = 0;
            for (size_t i = 0; i < ref.size(); ++i) bad += std::memcmp(&out[i], &ref[i], 4) != 0;
            CHECK(bad == 0);
        }
    }
}

TEST_CASE("im2col packing equals the naive receptive-field matrix, any panel range", "[kernels][conv]") {
    // Im2colSource::pack against X[k][n] written out from its definition, for random K ranges and pixel ranges
    // that start mid-row, span several output rows and panels, and end in a partial panel.
    std::mt19937 rng(21);
    const Conv2dShape shapes[] = {{3, 9, 11, 1, 3, 1, 1}, {2, 20, 37, 1, 3, 1, 1}, {4, 16, 16, 1, 3, 2, 1},
                                  {3, 15, 9, 1, 3, 2, 0, 1}, {2, 5, 70, 1, 3, 1, 1}, {1, 1, 1, 1, 3, 1, 1}};
    for (const Conv2dShape& s : shapes) {
        const int64_t K = s.in_channels * 9, N = s.out_height() * s.out_width();
        std::vector<float> image(size_t(s.in_channels * s.height * s.width));
        for (size_t i = 0; i < image.size(); ++i) image[i] = float(i + 1);
        auto x = [&](int64_t k, int64_t n) {
            const int64_t ci = k / 9, ky = k / 3 % 3, kx = k % 3, oy = n / s.out_width(), ox = n % s.out_width();
            const int64_t iy = oy * s.stride - s.padding + ky, ix = ox * s.stride - s.padding + kx;
            return (iy >= 0 && iy < s.height && ix >= 0 && ix < s.width) ? image[size_t((ci * s.height + iy) * s.width + ix)] : 0.0f;
        };
        const Im2colSource source(s, image.data());
        for (int trial = 0; trial < 40; ++trial) {
            const int width = trial % 2 ? 16 : 32;
            const int64_t k0 = int64_t(rng() % size_t(K)), kc = 1 + int64_t(rng() % size_t(K - k0));
            const int64_t w0 = int64_t(rng() % size_t(N)), w = 1 + int64_t(rng() % size_t(N - w0));
            const int64_t panels = (w + width - 1) / width;
            std::vector<float> packed(size_t(panels * kc * width), NAN);
            source.pack(packed.data(), k0, kc, w0, w, width);
            size_t bad = 0;
            for (int64_t q = 0; q < panels; ++q)
                for (int64_t k = 0; k < kc; ++k)
                    for (int64_t p = 0; p < width; ++p) {
                        const int64_t n = q * width + p;
                        const float want = n < w ? x(k0 + k, w0 + n) : 0.0f;
                        bad += !(packed[size_t((q * kc + k) * width + p)] == want);
                    }
            INFO(s.in_channels << "x" << s.height << "x" << s.width << " stride " << s.stride << " k " << k0 << "+" << kc
                               << " pixels " << w0 << "+" << w << " width " << width);
            CHECK(bad == 0);
        }
    }
}

TEST_CASE("conv2d through small cache blocks equals the full-size blocks bit for bit", "[kernels][conv]") {
    // Pixel chunks of a few panels that start mid-row and span rows, several K blocks, both micro-kernels.
    std::mt19937 rng(23);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    const Conv2dShape s{6, 13, 21, 9, 3, 1, 1};
    const int64_t M = s.out_channels, N = s.out_height() * s.out_width(), K = s.in_channels * 9;
    std::vector<float> in(size_t(s.in_channels * s.height * s.width)), w(size_t(M * K));
    for (float& v : in) v = dist(rng);
    for (float& v : w) v = dist(rng);
    const StridedSource a({w.data(), ElemType::F32, 1, K});
    const Im2colSource b(s, in.data());
    std::vector<float> ref(size_t(M * N));
    gemm_with_kernel(scalar_micro_kernel(), M, N, K, a, b, ref.data(), N);
    for (const MicroKernelInfo* kernel : {&scalar_micro_kernel(), &best_micro_kernel()}) {
        MicroKernelInfo uk = *kernel;
        uk.mc = uk.mr;
        uk.kc = 12;
        uk.nc = 4 * uk.nr;
        std::vector<float> out(ref.size(), NAN);
        gemm_with_kernel(uk, M, N, K, a, b, out.data(), N);
        INFO("kernel " << uk.name);
        CHECK(std::memcmp(out.data(), ref.data(), ref.size() * 4) == 0);
    }
}
