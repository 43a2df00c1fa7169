#include "pipeline/canny.h"

#include <cmath>
#include <cstdlib>
#include <vector>

#include "core/error.h"

namespace sdref {

Image canny_edges(const Image& rgb, float low, float high) {
    if (rgb.channels != 3) fail("--canny: expected an RGB image");
    if (!(low >= 0 && low <= high)) fail("--canny: the thresholds need 0 <= low <= high, got ", low, " and ", high);
    const int W = rgb.width, H = rgb.height;
    auto px = [&](int x, int y, int c) {  // replicated border, as OpenCV's Sobel
        x = x < 0 ? 0 : x >= W ? W - 1 : x;
        y = y < 0 ? 0 : y >= H ? H - 1 : y;
        return int(rgb.pixels[size_t((y * W + x) * 3 + c)]);
    };
    // 1. gradients: per pixel, the channel with the largest L1 magnitude
    std::vector<int> gx(size_t(W) * H), gy(size_t(W) * H), mag(size_t(W) * H);
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
            int best = -1, bx = 0, by = 0;
            for (int c = 0; c < 3; ++c) {
                const int dx = (px(x + 1, y - 1, c) + 2 * px(x + 1, y, c) + px(x + 1, y + 1, c)) -
                               (px(x - 1, y - 1, c) + 2 * px(x - 1, y, c) + px(x - 1, y + 1, c));
                const int dy = (px(x - 1, y + 1, c) + 2 * px(x, y + 1, c) + px(x + 1, y + 1, c)) -
                               (px(x - 1, y - 1, c) + 2 * px(x, y - 1, c) + px(x + 1, y - 1, c));
                const int m = std::abs(dx) + std::abs(dy);
                if (m > best) best = m, bx = dx, by = dy;
            }
            const size_t i = size_t(y) * W + x;
            gx[i] = bx, gy[i] = by, mag[i] = best;
        }
    // 2. non-maximum suppression along the gradient's sector (0, 45, 90, 135 degrees); 3. the two thresholds
    enum : uint8_t { kNone = 0, kWeak = 1, kStrong = 2 };
    std::vector<uint8_t> state(size_t(W) * H, kNone);
    const float tan22 = 0.41421356f;  // tan(22.5 degrees)
    auto at = [&](int x, int y) { return x < 0 || y < 0 || x >= W || y >= H ? 0 : mag[size_t(y) * W + x]; };
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
            const size_t i = size_t(y) * W + x;
            const int m = mag[i];
            if (float(m) <= low) continue;
            const float ax = std::fabs(float(gx[i])), ay = std::fabs(float(gy[i]));
            int a, b;  // the two neighbours along the gradient
            if (ay <= ax * tan22) a = at(x - 1, y), b = at(x + 1, y);                    // horizontal gradient
            else if (ay > ax / tan22) a = at(x, y - 1), b = at(x, y + 1);                // vertical
            else if ((gx[i] < 0) != (gy[i] < 0)) a = at(x - 1, y + 1), b = at(x + 1, y - 1);  // anti-diagonal
            else a = at(x - 1, y - 1), b = at(x + 1, y + 1);                              // diagonal
            if (m > a && m >= b) state[i] = float(m) > high ? kStrong : kWeak;
        }
    // 4. hysteresis: weak pixels connected to strong ones become edges
    std::vector<size_t> stack;
    for (size_t i = 0; i < state.size(); ++i)
        if (state[i] == kStrong) stack.push_back(i);
    while (!stack.empty()) {
        const size_t i = stack.back();
        stack.pop_back();
        const int x = int(i % size_t(W)), y = int(i / size_t(W));
        for (int dy = -1; dy <= 1; ++dy)
            for (int dx = -1; dx <= 1; ++dx) {
                const int nx = x + dx, ny = y + dy;
                if (nx < 0 || ny < 0 || nx >= W || ny >= H) continue;
                const size_t j = size_t(ny) * W + nx;
                if (state[j] == kWeak) state[j] = kStrong, stack.push_back(j);
            }
    }
    Image out{W, H, 3, std::vector<uint8_t>(size_t(W) * H * 3, 0)};
    for (size_t i = 0; i < state.size(); ++i)
        if (state[i] == kStrong) out.pixels[i * 3] = out.pixels[i * 3 + 1] = out.pixels[i * 3 + 2] = 255;
    return out;
}

}  // namespace sdref
