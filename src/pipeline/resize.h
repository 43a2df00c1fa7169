// resize.h: resampling pictures and latents as the reference implementations do.
//
//   pil_resize    PIL's Image.resize on 8-bit pixels: a separable filter (horizontal pass, then vertical, each
//                 rounding to 8 bits with PIL's fixed-point weights). Downscaling widens the filter by the scale
//                 (antialiasing). Bicubic (a = -0.5, support 2): CLIP's preprocessing; Lanczos (a = 3, support 3):
//                 A1111's "Lanczos" upscaler of the hires fix.
//   interpolate   torch.nn.functional.interpolate of a tensor [C, h, w] (align_corners=False, no antialiasing):
//                 bilinear or nearest, A1111's "Latent" and "Latent (nearest)" upscalers.
#pragma once

#include "core/tensor.h"
#include "pipeline/image.h"

namespace sdref {

enum class ResizeFilter { Bicubic, Lanczos };

// PIL Image.resize((width, height), BICUBIC or LANCZOS) of an 8-bit image (any channel count).
Image pil_resize(const Image& in, int width, int height, ResizeFilter filter);

enum class Interpolation { Bilinear, Nearest };

// F.interpolate(x[None], size=(height, width), mode="bilinear" or "nearest")[0] for x [C, h, w].
//   bilinear: source coordinate s = (d + 0.5) * in / out - 0.5, clamped at 0; the two neighbours weighted linearly
//   nearest:  source index floor(d * in / out)
Tensor interpolate(const Tensor& x, int64_t height, int64_t width, Interpolation mode);

}  // namespace sdref
