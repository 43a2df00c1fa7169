// webp_anim.h: an animated WebP of a sequence of pictures (libwebp's WebPAnimEncoder, Debian's libwebp-dev).
#pragma once

#include <string>
#include <vector>

#include "pipeline/image.h"

namespace sdref {

// Every frame the same size, RGB, shown for 1/fps s each, looping; lossy at `quality` (0-100). The file appears
// only when complete (written beside it, then renamed).
void write_animated_webp(const std::string& path, const std::vector<Image>& frames, double fps, float quality = 90);

}  // namespace sdref
