// Resampling: PIL's Lanczos against its formula, F.interpolate's bilinear and nearest against PyTorch's values.
#include <catch2/catch.hpp>

#include <cmath>

#include "pipeline/resize.h"

using namespace sdref;

TEST_CASE("PIL Lanczos resize: constant images stay constant, a row follows the windowed-sinc formula", "[image]") {
    const Image flat{9, 5, 3, std::vector<uint8_t>(9 * 5 * 3, 77)};
    for (uint8_t v : pil_resize(flat, 31, 12, ResizeFilter::Lanczos).pixels) REQUIRE(v == 77);
    for (uint8_t v : pil_resize(flat, 4, 3, ResizeFilter::Lanczos).pixels) REQUIRE(v == 77);
    // one grey row upscaled 2x: output x samples the input at c = (x + 0.5) / 2 with weights
    // L(i + 0.5 - c), L(t) = sinc(t) sinc(t / 3) on [-3, 3), normalised over the taps inside the row
    Image row{8, 1, 1, {0, 10, 200, 30, 255, 90, 120, 5}};
    const Image up = pil_resize(row, 16, 1, ResizeFilter::Lanczos);
    auto sinc = [](double t) { return t == 0 ? 1.0 : std::sin(M_PI * t) / (M_PI * t); };
    for (int x = 0; x < 16; ++x) {
        const double c = (x + 0.5) / 2;
        double sum = 0, norm = 0;
        for (int i = 0; i < 8; ++i) {
            const double t = i + 0.5 - c;
            const double w = t >= -3 && t < 3 ? sinc(t) * sinc(t / 3) : 0;
            sum += w * row.pixels[size_t(i)];
            norm += w;
        }
        const double want = std::min(std::max(sum / norm, 0.0), 255.0);
        INFO("x " << x << ": " << int(up.pixels[size_t(x)]) << " vs " << want);
        CHECK(std::fabs(up.pixels[size_t(x)] - want) <= 1.0);
    }
    CHECK_THROWS_WITH(pil_resize(row, 0, 1, ResizeFilter::Lanczos), Catch::Contains("positive"));
}

TEST_CASE("interpolate: bilinear and nearest as torch.nn.functional.interpolate computes them", "[image]") {
    Tensor x({1, 2, 2});
    x[0] = 1, x[1] = 2, x[2] = 3, x[3] = 4;
    // F.interpolate(torch.tensor([[[[1., 2.], [3., 4.]]]]), size=(4, 4), mode="bilinear")
    const float bilinear[16] = {1.00f, 1.25f, 1.75f, 2.00f, 1.50f, 1.75f, 2.25f, 2.50f,
                                2.50f, 2.75f, 3.25f, 3.50f, 3.00f, 3.25f, 3.75f, 4.00f};
    const Tensor b = interpolate(x, 4, 4, Interpolation::Bilinear);
    for (int i = 0; i < 16; ++i) CHECK(b[i] == Approx(bilinear[i]).margin(1e-6));
    // ... mode="nearest", size (3, 5): rows 0, 0, 1; columns 0, 0, 0, 1, 1
    const float nearest[15] = {1, 1, 1, 2, 2, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4};
    const Tensor n = interpolate(x, 3, 5, Interpolation::Nearest);
    for (int i = 0; i < 15; ++i) CHECK(n[i] == nearest[i]);
    // downsampling without antialiasing: 4 -> 2 averages the two middle neighbours of each output
    Tensor r({1, 1, 4});
    r[0] = 0, r[1] = 4, r[2] = 8, r[3] = 12;
    const Tensor d = interpolate(r, 1, 2, Interpolation::Bilinear);
    CHECK(d[0] == Approx(2.0f));
    CHECK(d[1] == Approx(10.0f));
}
