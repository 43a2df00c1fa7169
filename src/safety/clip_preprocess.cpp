#include "safety/clip_preprocess.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "pipeline/resize.h"

namespace sdref {

Tensor clip_preprocess(const Image& image, int size) {
    if (image.channels != 3) fail("CLIP preprocessing expects an RGB image");
    const int short_side = std::min(image.width, image.height), long_side = std::max(image.width, image.height);
    const int long_new = int(std::lround(double(size) * long_side / short_side));  // 128x96 -> 299x224, as the reference
    const int W = image.width <= image.height ? size : long_new, H = image.width <= image.height ? long_new : size;
    const Image r = pil_resize(image, W, H, ResizeFilter::Bicubic);
    const int top = (H - size) / 2, left = (W - size) / 2;
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float stdev[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    Tensor t({3, size, size});
    for (int c = 0; c < 3; ++c)
        for (int y = 0; y < size; ++y)
            for (int x = 0; x < size; ++x) {
                const float v = float(r.pixels[(size_t(y + top) * size_t(W) + size_t(x + left)) * 3 + size_t(c)]) / 255.0f;
                t[(int64_t(c) * size + y) * size + x] = (v - mean[c]) / stdev[c];
            }
    return t;
}

}  // namespace sdref
