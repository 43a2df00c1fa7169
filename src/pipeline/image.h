// image.h: 8-bit RGB images in and out: reading PNG and JPEG (libpng, libjpeg-turbo: image_decode.cpp), writing
// PNG with text chunks (stb_image_write), and the conversions to the VAE's [-1, 1] tensors.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/limits.h"
#include "core/tensor.h"

namespace sdref {

struct Image {
    int width = 0, height = 0, channels = 3;  // 3 (RGB) or 1 (grey, for masks)
    std::vector<uint8_t> pixels;              // row-major, interleaved: [height][width][channels]
};

// Read an image file as RGB (channels = 3) or grey (channels = 1); errors name the file.
Image read_image(const std::string& path, int channels);
// The same from bytes in memory; `name` is what errors call them.
Image decode_image(const uint8_t* bytes, size_t size, int channels, const std::string& name);

// A PNG file's bytes, with tEXt chunks (key, value) after its header.
std::string encode_png(const Image& image, const std::vector<std::pair<std::string, std::string>>& text = {});
// Write a PNG with tEXt chunks (key, value) such as A1111's "parameters". The file appears only when complete.
void write_png(const std::string& path, const Image& image, const std::vector<std::pair<std::string, std::string>>& text = {});

// The tEXt chunks of a PNG file (for tests and `sdref` users reading parameters back).
std::vector<std::pair<std::string, std::string>> read_png_text(const std::string& path);
// The same from bytes in memory; `name` is what errors call them.
std::vector<std::pair<std::string, std::string>> png_text(const uint8_t* bytes, size_t size, const std::string& name);

// RGB image -> tensor [3, H, W] in [-1, 1]:  x = 2 * (v / 255) - 1.
Tensor image_to_tensor(const Image& image);
// RGB image -> tensor [3, H, W] in [0, 1]: x = v / 255 (a ControlNet's control image).
Tensor image_to_unit_tensor(const Image& image);
// Grey mask -> tensor [1, H, W] in {0, 1}: 1 where v / 255 >= 0.5 (the part to repaint).
Tensor mask_to_tensor(const Image& mask);
// Tensor [3, H, W] in [0, 1] -> RGB image, round(x * 255).
Image tensor_to_image(const Tensor& x);

}  // namespace sdref
