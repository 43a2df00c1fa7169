// libFuzzer harness: the image reader for init images and masks (PNG, JPEG, BMP, ...), as RGB and as grey.
#include <cstdint>

#include "core/error.h"
#include "pipeline/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    for (int channels : {3, 1}) {
        try {
            const sdref::Image im = sdref::decode_image(data, size, channels, "fuzz input");
            if (im.pixels.size() != size_t(im.width) * size_t(im.height) * size_t(channels)) __builtin_trap();
        } catch (const sdref::Error&) {
        }
    }
    return 0;
}
