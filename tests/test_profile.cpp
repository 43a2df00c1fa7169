// kernels/profile.h: each kernel call is counted once, under its kind, with its arithmetic; nothing when off.
#include <catch2/catch.hpp>

#include <vector>

#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "kernels/profile.h"

using namespace sdref::kernels;

TEST_CASE("the kernel profile counts each call once, under its kind, with its flops", "[kernels]") {
    const Conv2dShape s{8, 6, 5, 4};  // 8 -> 4 channels, 3x3 at 6x5
    std::vector<float> in(8 * 6 * 5, 0.5f), w(4 * 8 * 9, 0.25f), out(4 * 6 * 5), x(3 * 16, 1.0f), lw(7 * 16, 0.5f), y(3 * 7),
        gamma(8, 1.0f), beta(8, 0.0f);
    set_profiling(true);
    conv2d(s, in.data(), w.data(), ElemType::F32, out.data());  // its gemm() is inside: not a second entry
    linear(3, 7, 16, x.data(), 16, lw.data(), ElemType::F32, y.data(), 7);
    linear(3, 7, 16, x.data(), 16, lw.data(), ElemType::F32, y.data(), 7);
    group_norm(in.data(), in.data(), 8, 30, 4, 1e-5f, gamma.data(), beta.data());
    const Profile p = take_profile();
    auto at = [&](ProfileKind k) { return p[size_t(k)]; };
    CHECK(at(ProfileKind::Conv3x3).calls == 1);
    CHECK(at(ProfileKind::Conv3x3).flops == 2.0 * 4 * 30 * (8 * 9));
    CHECK(at(ProfileKind::Conv3x3).seconds > 0);
    CHECK(at(ProfileKind::Gemm).calls == 2);
    CHECK(at(ProfileKind::Gemm).flops == 2 * 2.0 * 3 * 7 * 16);
    CHECK(at(ProfileKind::GroupNorm).calls == 1);
    CHECK(at(ProfileKind::Attention).calls == 0);
    // take_profile() cleared it; turned off, nothing is recorded
    CHECK(take_profile()[size_t(ProfileKind::Gemm)].calls == 0);
    set_profiling(false);
    linear(3, 7, 16, x.data(), 16, lw.data(), ElemType::F32, y.data(), 7);
    CHECK(take_profile()[size_t(ProfileKind::Gemm)].calls == 0);
}
