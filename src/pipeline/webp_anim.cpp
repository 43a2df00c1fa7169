#include "pipeline/webp_anim.h"

#include <webp/encode.h>
#include <webp/mux.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "core/error.h"

namespace sdref {

std::string encode_animated_webp(const std::vector<Image>& frames, double fps, const std::string& path, float quality) {
    if (frames.empty()) fail(path, ": no frames to write");
    if (!(fps > 0 && fps <= 240)) fail(path, ": frames per second must be in (0, 240], got ", fps);
    const int W = frames[0].width, H = frames[0].height;
    WebPAnimEncoderOptions options;
    if (!WebPAnimEncoderOptionsInit(&options)) fail(path, ": libwebp's version does not match its header");
    options.anim_params.loop_count = 0;
    std::unique_ptr<WebPAnimEncoder, void (*)(WebPAnimEncoder*)> encoder(WebPAnimEncoderNew(W, H, &options), WebPAnimEncoderDelete);
    if (!encoder) fail(path, ": WebPAnimEncoderNew failed (", W, "x", H, ")");
    WebPConfig config;
    if (!WebPConfigInit(&config)) fail(path, ": libwebp's version does not match its header");
    config.quality = quality;
    int timestamp = 0;
    for (size_t i = 0; i < frames.size(); ++i) {
        const Image& f = frames[i];
        if (f.width != W || f.height != H || f.channels != 3) fail(path, ": frame ", i, " is ", f.width, "x", f.height, ", the first ", W, "x", H);
        WebPPicture picture;
        if (!WebPPictureInit(&picture)) fail(path, ": libwebp's version does not match its header");
        picture.width = W, picture.height = H, picture.use_argb = 1;
        std::unique_ptr<WebPPicture, void (*)(WebPPicture*)> owned(&picture, WebPPictureFree);
        if (!WebPPictureImportRGB(&picture, f.pixels.data(), W * 3)) fail(path, ": frame ", i, ": out of memory");
        if (!WebPAnimEncoderAdd(encoder.get(), &picture, timestamp, &config))
            fail(path, ": frame ", i, ": ", WebPAnimEncoderGetError(encoder.get()));
        timestamp = int(double(i + 1) * 1000.0 / fps);
    }
    WebPAnimEncoderAdd(encoder.get(), nullptr, timestamp, nullptr);  // (the last frame's end)
    WebPData data;
    WebPDataInit(&data);
    if (!WebPAnimEncoderAssemble(encoder.get(), &data)) fail(path, ": ", WebPAnimEncoderGetError(encoder.get()));
    std::unique_ptr<WebPData, void (*)(WebPData*)> owned(&data, WebPDataClear);
    return std::string(reinterpret_cast<const char*>(data.bytes), data.size);
}

void write_animated_webp(const std::string& path, const std::vector<Image>& frames, double fps, float quality) {
    const std::string bytes = encode_animated_webp(frames, fps, path, quality);
    const std::string tmp = path + ".part";
    FILE* out = std::fopen(tmp.c_str(), "wb");
    if (!out) fail(path, ": cannot write");
    const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), out) == bytes.size();
    if (std::fclose(out) != 0 || !ok) {
        std::remove(tmp.c_str());
        fail(path, ": write failed (disk full?)");
    }
    std::filesystem::rename(tmp, path);
}

}  // namespace sdref
