// stb_impl.cpp: the implementation of Debian's stb_image_write header (libstb-dev), which writes sdref's PNGs.
// Compiled here rather than linked from libstb so that nothing else of stb is linked in: images from users are
// decoded by libpng and libjpeg-turbo (image_decode.cpp). Nothing of stb is copied into the repository: the code
// is the system header's.
#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
