// webp_anim.h: an animated WebP of a sequence of pictures (libwebp's WebPAnimEncoder, Debian's libwebp-dev).
#pragma once

#include <string>
#include <vector>

#include "pipeline/image.h"

namespace sdref {

// The file's bytes: every frame the same size, RGB, shown for 1/fps s each, looping; lossy at `quality` (0-100).
// Errors name `what`.
std::string encode_animated_webp(const std::vector<Image>& frames, double fps, const std::string& what, float quality = 90);
// The same into a file, which appears only when complete (written beside it, then renamed).
void write_animated_webp(const std::string& path, const std::vector<Image>& frames, double fps, float quality = 90);

}  // namespace sdref
