#include "pipeline/image.h"

#include <stb_image_write.h>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "io/mapped_file.h"

namespace sdref {

namespace {

uint32_t crc32(const uint8_t* data, size_t n, uint32_t crc = 0xffffffffu) {
    static uint32_t table[256];
    static bool ready = false;
    if (!ready) {
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = true;
    }
    for (size_t i = 0; i < n; ++i) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
    return crc;
}

void put_u32(std::string& out, uint32_t v) {
    for (int i = 3; i >= 0; --i) out += char((v >> (8 * i)) & 0xff);
}

uint32_t get_u32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// A PNG chunk: length, type, data, CRC over type and data.
std::string chunk(const std::string& type, const std::string& data) {
    std::string c;
    put_u32(c, uint32_t(data.size()));
    const std::string body = type + data;
    c += body;
    put_u32(c, crc32(reinterpret_cast<const uint8_t*>(body.data()), body.size()) ^ 0xffffffffu);
    return c;
}

}  // namespace

Image read_image(const std::string& path, int channels) {
    const MappedFile file(path);
    return decode_image(file.data(), file.size(), channels, path);
}

std::string encode_png(const Image& image, const std::vector<std::pair<std::string, std::string>>& text) {
    std::string png;
    auto append = [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size_t(size)); };
    if (!stbi_write_png_to_func(append, &png, image.width, image.height, image.channels, image.pixels.data(),
                                image.width * image.channels))
        fail("PNG encoding failed (", image.width, "x", image.height, ")");
    // insert tEXt chunks after IHDR (8-byte signature + 25-byte IHDR chunk)
    std::string extra;
    for (const auto& [key, value] : text) extra += chunk("tEXt", key + std::string(1, '\0') + value);
    png.insert(33, extra);
    return png;
}

void write_png(const std::string& path, const Image& image, const std::vector<std::pair<std::string, std::string>>& text) {
    const std::string png = encode_png(image, text);
    const std::string tmp = path + ".part";
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail(path, ": cannot create the output file");
    const bool ok = std::fwrite(png.data(), 1, png.size(), f) == png.size();
    if (std::fclose(f) != 0 || !ok) {
        std::remove(tmp.c_str());
        fail(path, ": write failed");
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        fail(path, ": cannot move the finished file into place");
    }
}

std::vector<std::pair<std::string, std::string>> read_png_text(const std::string& path) {
    const MappedFile file(path);
    return png_text(file.data(), file.size(), path);
}

std::vector<std::pair<std::string, std::string>> png_text(const uint8_t* p, size_t n, const std::string& path) {
    if (n < 8 || std::memcmp(p, "\x89PNG\r\n\x1a\n", 8) != 0) fail(path, ": not a PNG file");
    std::vector<std::pair<std::string, std::string>> text;
    for (size_t at = 8; at + 12 <= n;) {
        const uint32_t len = get_u32(p + at);
        if (len > n - at - 12) fail(path, ": truncated PNG chunk");
        const std::string type(reinterpret_cast<const char*>(p + at + 4), 4);
        if (type == "tEXt") {
            const std::string body(reinterpret_cast<const char*>(p + at + 8), len);
            const size_t zero = body.find('\0');
            if (zero != std::string::npos) text.emplace_back(body.substr(0, zero), body.substr(zero + 1));
        }
        at += 12 + len;
    }
    return text;
}

Tensor image_to_tensor(const Image& image) {
    Tensor t = image_to_unit_tensor(image);
    for (int64_t i = 0; i < t.numel(); ++i) t[i] = 2.0f * t[i] - 1.0f;
    return t;
}

Tensor image_to_unit_tensor(const Image& image) {
    if (image.channels != 3) fail("expected an RGB image");
    const int64_t H = image.height, W = image.width;
    Tensor t({3, H, W});
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t i = 0; i < H * W; ++i) t[c * H * W + i] = float(image.pixels[size_t(i * 3 + c)]) / 255.0f;
    return t;
}

Tensor mask_to_tensor(const Image& mask) {
    if (mask.channels != 1) fail("expected a grey mask");
    const int64_t H = mask.height, W = mask.width;
    Tensor t({1, H, W});
    for (int64_t i = 0; i < H * W; ++i) t[i] = float(mask.pixels[size_t(i)]) / 255.0f >= 0.5f ? 1.0f : 0.0f;
    return t;
}

Image tensor_to_image(const Tensor& x) {
    const int64_t H = x.dim(1), W = x.dim(2);
    Image img{int(W), int(H), 3, std::vector<uint8_t>(size_t(H * W * 3))};
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t i = 0; i < H * W; ++i) img.pixels[size_t(i * 3 + c)] = uint8_t(std::nearbyint(x[c * H * W + i] * 255.0f));
    return img;
}

}  // namespace sdref
