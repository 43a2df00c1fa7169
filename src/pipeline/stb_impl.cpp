// stb_impl.cpp: the implementations of Debian's stb_image_write and stb_truetype headers (libstb-dev): PNGs out, and
// the text of grid labels.
// Compiled here rather than linked from libstb so that nothing else of stb is linked in: images from users are
// decoded by libpng and libjpeg-turbo (image_decode.cpp). Nothing of stb is copied into the repository: the code
// is the system header's.
#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
// stb_truetype draws the labels of grids and X/Y plots (pipeline/grid.cpp) with a system font.
#define STB_TRUETYPE_IMPLEMENTATION
#include <stb_truetype.h>
