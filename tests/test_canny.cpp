// The Canny preprocessor on pictures whose edges are known: a square's outline, nothing inside or outside it; a
// faint step kept only when the low threshold lets it through; the thresholds checked.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "pipeline/canny.h"

using namespace sdref;

namespace {

Image square(int size, int lo, int hi, uint8_t inside) {
    Image img{size, size, 3, std::vector<uint8_t>(size_t(size) * size * 3, 20)};
    for (int y = lo; y < hi; ++y)
        for (int x = lo; x < hi; ++x)
            for (int c = 0; c < 3; ++c) img.pixels[size_t((y * size + x) * 3 + c)] = inside;
    return img;
}

bool edge(const Image& e, int x, int y) { return e.pixels[size_t((y * e.width + x) * 3)] == 255; }

}  // namespace

TEST_CASE("Canny finds a square's outline and nothing else", "[canny]") {
    const Image e = canny_edges(square(32, 8, 24, 220), 100, 200);
    int edges = 0;
    for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) {
            const bool near_border = (x >= 6 && x <= 25 && y >= 6 && y <= 25) && !(x >= 10 && x <= 21 && y >= 10 && y <= 21);
            if (edge(e, x, y)) {
                ++edges;
                CHECK(near_border);
            }
        }
    // every side of the square has edge pixels, one line thick (non-maximum suppression)
    for (int t = 10; t < 22; ++t) {
        CHECK((edge(e, 7, t) || edge(e, 8, t)));
        CHECK((edge(e, t, 7) || edge(e, t, 8)));
        CHECK_FALSE((edge(e, 7, t) && edge(e, 8, t) && edge(e, 9, t)));
    }
    CHECK(edges > 40);
    CHECK(edges < 100);
}

TEST_CASE("Canny's thresholds: a faint step needs a low threshold", "[canny]") {
    // a vertical step of 40 levels (no corners): |g|_L1 = 4 x 40 = 160 along it
    Image faint{32, 32, 3, std::vector<uint8_t>(32 * 32 * 3, 20)};
    for (int y = 0; y < 32; ++y)
        for (int x = 16; x < 32; ++x)
            for (int c = 0; c < 3; ++c) faint.pixels[size_t((y * 32 + x) * 3 + c)] = 60;
    int strong = 0, weak = 0;
    const Image a = canny_edges(faint, 100, 200), b = canny_edges(faint, 50, 150);
    for (size_t i = 0; i < a.pixels.size(); i += 3) strong += a.pixels[i] == 255, weak += b.pixels[i] == 255;
    CHECK(strong == 0);  // 160 < 200: weak everywhere, nothing strong to grow from
    CHECK(weak == 32);   // 160 > 150: one line down the step
    CHECK_THROWS_WITH(canny_edges(faint, 200, 100), Catch::Contains("--canny"));
}
