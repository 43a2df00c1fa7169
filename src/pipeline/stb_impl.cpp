// stb_impl.cpp: the implementations of Debian's stb_image and stb_image_write headers (libstb-dev), compiled
// here rather than linked from libstb, so that
//   - only the formats sdref reads are decoded (PNG, JPEG, BMP): less code for a hostile file to reach;
//   - the fuzz build (tests/fuzz/) instruments the decoder too, so libFuzzer's coverage sees inside it.
// (decode_image reads the size from the header and refuses images past kMaxImageSide before decoding.) Nothing of
// stb is copied into the repository: the code is the system header's.
#include "pipeline/image.h"

#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>

#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
