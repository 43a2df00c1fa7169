#include "pipeline/outpaint.h"

#include <algorithm>
#include <cstdlib>

#include "core/error.h"

namespace sdref {

OutpaintMargins parse_outpaint(const std::string& text) {
    OutpaintMargins m;
    int* fields[] = {&m.left, &m.top, &m.right, &m.bottom};
    size_t start = 0;
    for (int i = 0; i < 4; ++i) {
        const size_t comma = text.find(',', start);
        if ((i < 3) != (comma != std::string::npos)) fail("--outpaint: expected L,T,R,B pixels, got \"", text, "\"");
        const std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        char* end = nullptr;
        const long v = std::strtol(part.c_str(), &end, 10);
        if (part.empty() || *end != '\0' || v < 0 || v > 8192) fail("--outpaint: \"", part, "\" is not a pixel count (0..8192)");
        *fields[i] = int(v);
        start = comma + 1;
    }
    return m;
}

OutpaintCanvas make_outpaint_canvas(const Image& original, const OutpaintMargins& m) {
    const int W = original.width + m.left + m.right, H = original.height + m.top + m.bottom;
    OutpaintCanvas c{{W, H, 3, std::vector<uint8_t>(size_t(W) * size_t(H) * 3)}, {W, H, 1, std::vector<uint8_t>(size_t(W) * size_t(H))}};
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
            const int sy = std::clamp(y - m.top, 0, original.height - 1), sx = std::clamp(x - m.left, 0, original.width - 1);
            const bool inside = y - m.top == sy && x - m.left == sx;
            for (int k = 0; k < 3; ++k)
                c.image.pixels[(size_t(y) * size_t(W) + size_t(x)) * 3 + size_t(k)] = original.pixels[(size_t(sy) * size_t(original.width) + size_t(sx)) * 3 + size_t(k)];
            c.mask.pixels[size_t(y) * size_t(W) + size_t(x)] = inside ? 0 : 255;
        }
    return c;
}

void paste_original(Image& canvas, const Image& original, const OutpaintMargins& m) {
    for (int y = 0; y < original.height; ++y)
        std::copy_n(original.pixels.begin() + long(size_t(y) * size_t(original.width) * 3), size_t(original.width) * 3,
                    canvas.pixels.begin() + long((size_t(y + m.top) * size_t(canvas.width) + size_t(m.left)) * 3));
}

}  // namespace sdref
