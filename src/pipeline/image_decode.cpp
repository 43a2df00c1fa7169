// image_decode.cpp: init images and masks from PNG (libpng) and JPEG (libjpeg-turbo) bytes.
//
// These decoders read files from strangers, so they are the libraries every distribution keeps patched, not
// stb_image: fuzzing stb_image 2.27 (Debian's) found an out-of-bounds write in its JPEG Huffman tables within
// seconds (bench/RESULTS.md, "Fuzzing"). The size is read from the header and refused past kMaxImageSide before
// any pixel memory is allocated; every library error becomes an sdref::Error naming the file.
#include <csetjmp>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include <jpeglib.h>  // (needs size_t and FILE declared first)
#include <png.h>

#include "core/error.h"
#include "pipeline/image.h"

namespace sdref {

namespace {

constexpr long kMaxJpegBuffers = 512L << 20;  // bytes of libjpeg's whole-image buffers (progressive JPEGs)

void check_size(const std::string& name, long long w, long long h) {
    if (w < 1 || h < 1 || w > kMaxImageSide || h > kMaxImageSide)
        fail(name, ": the image is ", w, "x", h, "; sides from 1 to ", kMaxImageSide, " pixels are accepted");
}

Image decode_png(const uint8_t* bytes, size_t size, int channels, const std::string& name) {
    png_image png;
    std::memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&png, bytes, size)) fail(name, ": cannot read PNG (", png.message, ")");
    const long long w = png.width, h = png.height;
    if (w < 1 || h < 1 || w > kMaxImageSide || h > kMaxImageSide) {
        png_image_free(&png);
        check_size(name, w, h);
    }
    png.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;  // libpng converts (palette, alpha, 16-bit, ...)
    Image img{int(w), int(h), channels, std::vector<uint8_t>(size_t(w) * size_t(h) * size_t(channels))};
    if (!png_image_finish_read(&png, nullptr, img.pixels.data(), 0, nullptr)) {
        const std::string message = png.message;
        png_image_free(&png);
        fail(name, ": cannot read PNG (", message, ")");
    }
    return img;
}

// libjpeg reports errors through a callback that must not return: it jumps back into decode_jpeg.
struct JpegError {
    jpeg_error_mgr mgr;
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

void jpeg_fail(j_common_ptr cinfo) {
    JpegError* e = reinterpret_cast<JpegError*>(cinfo->err);
    e->mgr.format_message(cinfo, e->message);
    std::longjmp(e->jump, 1);
}

void jpeg_quiet(j_common_ptr, int) {}  // warnings (corrupt but decodable data) are not printed

Image decode_jpeg(const uint8_t* bytes, size_t size, int channels, const std::string& name) {
    jpeg_decompress_struct cinfo;
    JpegError err;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_fail;
    err.mgr.emit_message = jpeg_quiet;
    Image img;
    // Nothing with a destructor may be created between setjmp and the jumps back to it.
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        fail(name, ": cannot read JPEG (", err.message, ")");
    }
    jpeg_create_decompress(&cinfo);
    // a progressive JPEG keeps every coefficient (2 bytes a pixel and component) until the end: cap those buffers,
    // so a few hundred bytes claiming 16384 x 16384 cannot make the decoder take gigabytes (libjpeg then fails
    // with "backing store not supported", reported as an error)
    cinfo.mem->max_memory_to_use = kMaxJpegBuffers;
    jpeg_mem_src(&cinfo, bytes, static_cast<unsigned long>(size));
    jpeg_read_header(&cinfo, TRUE);
    const long long w = cinfo.image_width, h = cinfo.image_height;
    if (w < 1 || h < 1 || w > kMaxImageSide || h > kMaxImageSide) {
        jpeg_destroy_decompress(&cinfo);
        check_size(name, w, h);
    }
    cinfo.out_color_space = channels == 3 ? JCS_RGB : JCS_GRAYSCALE;  // libjpeg converts YCbCr, CMYK stays an error
    jpeg_start_decompress(&cinfo);
    if (int(cinfo.output_components) != channels) {
        jpeg_destroy_decompress(&cinfo);
        fail(name, ": cannot read JPEG (", cinfo.output_components, " colour components, expected ", channels, ")");
    }
    img = Image{int(w), int(h), channels, std::vector<uint8_t>(size_t(w) * size_t(h) * size_t(channels))};
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = img.pixels.data() + size_t(cinfo.output_scanline) * size_t(w) * size_t(channels);
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return img;
}

}  // namespace

Image decode_image(const uint8_t* bytes, size_t size, int channels, const std::string& name) {
    if (channels != 1 && channels != 3) fail(name, ": images are read as RGB or grey, not ", channels, " channels");
    static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size >= 8 && std::memcmp(bytes, kPng, 8) == 0) return decode_png(bytes, size, channels, name);
    if (size >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff) return decode_jpeg(bytes, size, channels, name);
    fail(name, ": cannot read image: not a PNG or JPEG file");
}

}  // namespace sdref
