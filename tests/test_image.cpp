// Image decoding: PNG and JPEG in, as RGB and grey; hostile files are clean errors (run under ASan too).
#include <catch2/catch.hpp>

#include "core/error.h"
#include "golden.h"
#include "pipeline/image.h"

using namespace sdref;

namespace {

std::string data_path(const std::string& file) { return std::string(SDREF_SOURCE_DIR) + "/tests/" + file; }

}  // namespace

TEST_CASE("PNG and JPEG seeds decode as RGB and grey, other formats are refused by name", "[image]") {
    for (const char* file : {"fuzz/corpus/image/rgb.png", "fuzz/corpus/image/rgb.jpg"}) {
        INFO(file);
        const Image rgb = read_image(data_path(file), 3);
        CHECK(rgb.width == 8);
        CHECK(rgb.height == 8);
        CHECK(rgb.pixels.size() == 8 * 8 * 3);
        const Image grey = read_image(data_path(file), 1);
        CHECK(grey.pixels.size() == 8 * 8);
    }
    const Image png = read_image(data_path("fuzz/corpus/image/rgb.png"), 3);
    CHECK(int(png.pixels[3]) == 3 * 7);  // the seed's pixel values are i * 7 (tests/fuzz/corpus/image)
    CHECK_THROWS_WITH(read_image(data_path("fuzz/corpus/image/rgb.bmp"), 3), Catch::Contains("rgb.bmp") && Catch::Contains("not a PNG or JPEG"));
}

// Found by fuzz_image (bench/RESULTS.md, "Fuzzing"): stb_image 2.27 wrote past its Huffman size table on this
// JPEG. libjpeg-turbo reads it as a corrupt file: an error naming the file, or a picture, never a bad access.
TEST_CASE("regression: the JPEG that overflowed stb_image's Huffman table is read safely", "[image][reliability]") {
    for (int channels : {3, 1}) {
        try {
            const Image im = read_image(data_path("data/fuzz/stb-jpeg-huffman-overflow.jpg"), channels);
            CHECK(im.pixels.size() == size_t(im.width) * size_t(im.height) * size_t(channels));
        } catch (const Error& e) {
            CHECK(std::string(e.what()).find("stb-jpeg-huffman-overflow.jpg") != std::string::npos);
        }
    }
}
