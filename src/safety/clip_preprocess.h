// clip_preprocess.h: CLIP's image preprocessing (transformers' CLIPImageProcessor), as the safety checker needs it:
//   1. resize so the short side is 224 (long side: round(224 * long / short)) with PIL's bicubic filter on 8-bit
//      pixels (pil_resize, pipeline/resize.h);
//   2. center crop 224 x 224 (offsets (size - 224) / 2, rounded down);
//   3. x / 255, then (x - mean) / std per channel with CLIP's mean and std.
#pragma once

#include "core/tensor.h"
#include "pipeline/image.h"

namespace sdref {

// image (RGB, 8-bit) -> clip_input [3, size, size]
Tensor clip_preprocess(const Image& image, int size = 224);

}  // namespace sdref
