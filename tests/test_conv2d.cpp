// conv2d: the implicit GEMM against a direct convolution written as the same FMA chain (k = ci, ky, kx), bit
// for bit, for 3x3 and 1x1 kernels, stride 1 and 2, odd sizes, fp32 and fp16 weights, with bias.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/half.h"

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
