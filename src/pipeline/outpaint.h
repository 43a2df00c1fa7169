// outpaint.h: outpainting as inpainting on a larger canvas. The image is placed on a canvas extended by
// (left, top, right, bottom) pixels, the new border is filled by repeating the nearest edge pixel (a neutral
// start for the sampler), the mask marks the border for repainting, and after generation the original pixels are
// pasted back so they come out untouched.
#pragma once

#include "pipeline/image.h"

namespace sdref {

struct OutpaintMargins {
    int left = 0, top = 0, right = 0, bottom = 0;
    bool any() const { return left || top || right || bottom; }
};

// "L,T,R,B" in pixels; errors name --outpaint.
OutpaintMargins parse_outpaint(const std::string& text);

struct OutpaintCanvas {
    Image image;  // the extended canvas, border filled
    Image mask;   // grey: 255 on the border, 0 over the original
};

OutpaintCanvas make_outpaint_canvas(const Image& original, const OutpaintMargins& m);

// Copy the original back into its place on the generated canvas.
void paste_original(Image& canvas, const Image& original, const OutpaintMargins& m);

}  // namespace sdref
