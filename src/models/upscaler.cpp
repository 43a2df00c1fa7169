#include "models/upscaler.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "io/mapped_file.h"
#include "io/tensor_file.h"
#include "pipeline/resize.h"

namespace sdref {

namespace {

// out[c·f² + i·f + j, h, w] = x[c, h·f + i, w·f + j]   (BasicSR's pixel_unshuffle)
Tensor pixel_unshuffle(const Tensor& x, int64_t f) {
    const int64_t C = x.dim(0), H = x.dim(1) / f, W = x.dim(2) / f;
    Tensor y = Tensor::uninitialized({C * f * f, H, W});
    for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < f; ++i)
            for (int64_t j = 0; j < f; ++j)
                for (int64_t h = 0; h < H; ++h)
                    for (int64_t w = 0; w < W; ++w)
                        y[((c * f * f + i * f + j) * H + h) * W + w] = x[(c * x.dim(1) + h * f + i) * x.dim(2) + w * f + j];
    return y;
}

// out[c, h·f + i, w·f + j] = x[c·f² + i·f + j, h, w]   (torch's PixelShuffle)
Tensor pixel_shuffle(const Tensor& x, int64_t f) {
    const int64_t C = x.dim(0) / (f * f), H = x.dim(1), W = x.dim(2);
    Tensor y = Tensor::uninitialized({C, H * f, W * f});
    for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < f; ++i)
            for (int64_t j = 0; j < f; ++j)
                for (int64_t h = 0; h < H; ++h)
                    for (int64_t w = 0; w < W; ++w)
                        y[(c * H * f + h * f + i) * W * f + w * f + j] = x[((c * f * f + i * f + j) * H + h) * W + w];
    return y;
}

// x [C, H, W] reflect-padded to [C, H + pb, W + pr] at the bottom and right (numpy's 'reflect': the edge not repeated)
Tensor reflect_pad(const Tensor& x, int64_t pb, int64_t pr) {
    const int64_t C = x.dim(0), H = x.dim(1), W = x.dim(2);
    if (pb == 0 && pr == 0) return x;
    if (pb >= H || pr >= W) fail("upscale: a picture of ", W, "x", H, " is too small to pad");
    Tensor y = Tensor::uninitialized({C, H + pb, W + pr});
    auto reflect = [](int64_t i, int64_t n) { return i < n ? i : 2 * (n - 1) - i; };
    for (int64_t c = 0; c < C; ++c)
        for (int64_t h = 0; h < H + pb; ++h)
            for (int64_t w = 0; w < W + pr; ++w) y[(c * (H + pb) + h) * (W + pr) + w] = x[(c * H + reflect(h, H)) * W + reflect(w, W)];
    return y;
}

Tensor crop(const Tensor& x, int64_t H, int64_t W) {
    if (x.dim(1) == H && x.dim(2) == W) return x;
    Tensor y = Tensor::uninitialized({x.dim(0), H, W});
    for (int64_t c = 0; c < x.dim(0); ++c)
        for (int64_t h = 0; h < H; ++h) std::memcpy(y.data() + (c * H + h) * W, x.data() + (c * x.dim(1) + h) * x.dim(2), size_t(W) * 4);
    return y;
}

// y = conv(x) with `in` input channels read from the front of x's channels, into `out` (channels-first, the
// same size), + bias, then `act`
void conv_into(const ForwardContext& ctx, const Conv& c, const float* x, int64_t H, int64_t W, float* out,
               kernels::Activation act = kernels::Activation::None) {
    kernels::Conv2dShape s{c.in, H, W, c.out, 3, 1, 1, -1};
    kernels::GemmEpilogue ep;
    ep.row_bias = c.bias.data();
    ep.activation = act;
    ctx.ops().conv2d(s, x, c.weight.data, c.weight.type, out, ep, ctx.precision);
}

Tensor upsample2(const ForwardContext& ctx, const Tensor& x) {
    Tensor y = Tensor::uninitialized({x.dim(0), 2 * x.dim(1), 2 * x.dim(2)});
    ctx.ops().upsample_nearest_2x(x.data(), y.data(), x.dim(0), x.dim(1), x.dim(2));
    return y;
}

Tensor conv(const ForwardContext& ctx, const Conv& c, const Tensor& x, kernels::Activation act = kernels::Activation::None) {
    Tensor y = Tensor::uninitialized({c.out, x.dim(1), x.dim(2)});
    conv_into(ctx, c, x.data(), x.dim(1), x.dim(2), y.data(), act);
    return y;
}

// The checkpoint's names under "params_ema." or "params." in a released .pth, as they are in a .safetensors.
std::string stored_prefix(const TensorFile& f) {
    for (const char* p : {"params_ema.", "params."})
        for (const TensorView& v : f.tensors())
            if (v.name.rfind(p, 0) == 0) return p;
    return "";
}

int64_t count_prefixed(const WeightStore& w, const std::string& prefix, const std::string& suffix) {
    int64_t n = 0;
    while (w.has(prefix + std::to_string(n) + suffix)) ++n;
    return n;
}

}  // namespace

Upscaler Upscaler::load(const std::string& path) {
    if (!path_exists(path)) fail(path, ": no such file");
    Upscaler u;
    u.path_ = path;
    auto w = std::make_shared<WeightStore>();
    {
        const std::unique_ptr<TensorFile> probe = open_tensor_file(path);
        const std::string prefix = stored_prefix(*probe);
        w->add_file(path, "", prefix.empty() ? WeightStore::Renamer() : [prefix](const std::string& n) { return prefix + n; });
    }
    if (w->has("conv_first.weight")) {
        // RRDBNet: conv_first [F, 3·u², 3, 3] (u: the pixel-unshuffle), body.N.rdb1.conv1 [G, F, 3, 3]
        u.arch_ = Arch::Rrdb;
        const Shape first = w->shape_of("conv_first.weight");
        if (first.size() != 4) fail(path, ": conv_first.weight has shape ", shape_str(first));
        u.feat = first[0];
        const int64_t in = first[1];
        u.unshuffle_ = in == 3 ? 1 : in == 12 ? 2 : in == 48 ? 4 : 0;
        if (!u.unshuffle_) fail(path, ": conv_first.weight takes ", in, " channels: not 3, 12 or 48 (x4, x2, x1)");
        u.scale_ = 4 / u.unshuffle_;
        const int64_t blocks = count_prefixed(*w, "body.", ".rdb1.conv1.weight");
        if (blocks == 0) fail(path, ": an RRDBNet without body.0.rdb1.conv1.weight");
        u.grow = w->shape_of("body.0.rdb1.conv1.weight")[0];
        const int64_t F = u.feat, G = u.grow;
        u.conv_first = Conv::load(*w, "conv_first", F, in, 3);
        for (int64_t b = 0; b < blocks; ++b) {
            Rrdb r;
            for (auto [name, d] : {std::pair{"rdb1", &r.rdb1}, std::pair{"rdb2", &r.rdb2}, std::pair{"rdb3", &r.rdb3}}) {
                const std::string p = "body." + std::to_string(b) + "." + name + ".conv";
                d->conv1 = Conv::load(*w, p + "1", G, F, 3);
                d->conv2 = Conv::load(*w, p + "2", G, F + G, 3);
                d->conv3 = Conv::load(*w, p + "3", G, F + 2 * G, 3);
                d->conv4 = Conv::load(*w, p + "4", G, F + 3 * G, 3);
                d->conv5 = Conv::load(*w, p + "5", F, F + 4 * G, 3);
            }
            u.body.push_back(std::move(r));
        }
        u.conv_body = Conv::load(*w, "conv_body", F, F, 3);
        u.conv_up1 = Conv::load(*w, "conv_up1", F, F, 3);
        u.conv_up2 = Conv::load(*w, "conv_up2", F, F, 3);
        u.conv_hr = Conv::load(*w, "conv_hr", F, F, 3);
        u.conv_last = Conv::load(*w, "conv_last", 3, F, 3);
    } else if (w->has("body.0.weight") && w->has("body.1.weight")) {
        // SRVGGNetCompact: body.0 conv, body.1 PReLU, ..., the last conv [3·s², F, 3, 3]
        u.arch_ = Arch::Compact;
        const int64_t n = count_prefixed(*w, "body.", ".weight");
        if (n < 3 || n % 2 == 0) fail(path, ": an SRVGGNetCompact's body has ", n, " layers (conv, PReLU pairs and a last conv)");
        const Shape first = w->shape_of("body.0.weight"), last = w->shape_of("body." + std::to_string(n - 1) + ".weight");
        if (first.size() != 4 || last.size() != 4 || first[1] != 3) fail(path, ": body.0.weight ", shape_str(first), " is not a 3-channel conv");
        const int64_t F = first[0];
        const int64_t s = int64_t(std::lround(std::sqrt(double(last[0]) / 3)));
        if (s < 1 || 3 * s * s != last[0]) fail(path, ": the last conv has ", last[0], " outputs, not 3·s²");
        u.scale_ = int(s);
        for (int64_t i = 0; i + 1 < n; i += 2) {
            u.convs.push_back(Conv::load(*w, "body." + std::to_string(i), F, i == 0 ? 3 : F, 3));
            u.prelus.push_back(w->vector("body." + std::to_string(i + 1) + ".weight", {F}));
        }
        u.convs.push_back(Conv::load(*w, "body." + std::to_string(n - 1), 3 * s * s, F, 3));
    } else {
        fail(path, ": not a Real-ESRGAN upscaler (no conv_first.weight of an RRDBNet, nor body.0/body.1 of an SRVGGNetCompact)");
    }
    u.weights_ = std::move(w);
    return u;
}

Tensor Upscaler::upscale(const Tensor& image, const ForwardContext& ctx) const {
    if (image.shape().size() != 3 || image.dim(0) != 3) fail(path_, ": upscales [3, H, W] images, given ", shape_str(image.shape()));
    const int64_t H = image.dim(1), W = image.dim(2);
    const int64_t pb = (unshuffle_ - H % unshuffle_) % unshuffle_, pr = (unshuffle_ - W % unshuffle_) % unshuffle_;
    const Tensor in = reflect_pad(image, pb, pr);
    const Tensor out = arch_ == Arch::Rrdb ? rrdb_forward(in, ctx) : compact_forward(in, ctx);
    return crop(out, H * scale_, W * scale_);
}

Tensor Upscaler::rrdb_forward(const Tensor& image, const ForwardContext& ctx) const {
    using kernels::Activation;
    const kernels::Backend& ops = ctx.ops();
    const Tensor in = unshuffle_ > 1 ? pixel_unshuffle(image, unshuffle_) : image;
    const int64_t H = in.dim(1), W = in.dim(2), HW = H * W, F = feat, G = grow;
    // feat = conv_first(in)
    const Tensor first = conv(ctx, conv_first, in);
    // body: [x, x1, x2, x3, x4] side by side in one buffer, so each dense conv reads a prefix of its channels
    Tensor x = first, dense = Tensor::uninitialized({F + 4 * G, H, W}), next = Tensor::uninitialized({F, H, W});
    auto dense_block = [&](const DenseBlock& d, const Tensor& input, Tensor& output) {  // output = input + 0.2 x5
        std::memcpy(dense.data(), input.data(), size_t(F * HW) * 4);
        const Conv* grows[] = {&d.conv1, &d.conv2, &d.conv3, &d.conv4};
        for (int k = 0; k < 4; ++k) conv_into(ctx, *grows[k], dense.data(), H, W, dense.data() + (F + k * G) * HW, Activation::LeakyRelu);
        Tensor x5 = Tensor::uninitialized({F, H, W});
        conv_into(ctx, d.conv5, dense.data(), H, W, x5.data());
        ops.add_scaled(input.data(), 0.2f, x5.data(), output.data(), F * HW);
    };
    for (const Rrdb& r : body) {  // x = x + 0.2 · rdb3(rdb2(rdb1(x)))
        Tensor a = Tensor::uninitialized({F, H, W}), b = Tensor::uninitialized({F, H, W});
        dense_block(r.rdb1, x, a);
        dense_block(r.rdb2, a, b);
        dense_block(r.rdb3, b, a);
        ops.add_scaled(x.data(), 0.2f, a.data(), next.data(), F * HW);
        std::swap(x, next);
    }
    // feat += conv_body(body(feat))
    Tensor f = conv(ctx, conv_body, x);
    ops.add(f.data(), first.data(), f.data(), F * HW);
    // two nearest 2x upsamplings, each with a conv and lrelu; then conv_last(lrelu(conv_hr(.)))
    f = conv(ctx, conv_up1, upsample2(ctx, f), Activation::LeakyRelu);
    f = conv(ctx, conv_up2, upsample2(ctx, f), Activation::LeakyRelu);
    f = conv(ctx, conv_hr, f, Activation::LeakyRelu);
    return conv(ctx, conv_last, f);
}

Tensor Upscaler::compact_forward(const Tensor& in, const ForwardContext& ctx) const {
    Tensor x = in;
    for (size_t i = 0; i + 1 < convs.size(); ++i) {  // conv, PReLU
        x = conv(ctx, convs[i], x);
        ctx.ops().prelu(x.data(), prelus[i].data(), x.dim(0), x.dim(1) * x.dim(2));
    }
    // pixel_shuffle(last conv) + the input upsampled by nearest
    Tensor out = pixel_shuffle(conv(ctx, convs.back(), x), scale_);
    const int64_t H = in.dim(1), W = in.dim(2), s = scale_;
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t h = 0; h < H * s; ++h)
            for (int64_t w = 0; w < W * s; ++w) out[(c * H * s + h) * W * s + w] += in[(c * H + h / s) * W + w / s];
    return out;
}

// ---- A1111's tiled upscale ----------------------------------------------------------------------------------

namespace {

// PIL's crop: pixels outside the image are black.
Image crop_image(const Image& im, int x, int y, int w, int h) {
    Image out{w, h, 3, std::vector<uint8_t>(size_t(w) * h * 3, 0)};
    for (int r = 0; r < h; ++r)
        for (int c = 0; c < w; ++c)
            if (x + c >= 0 && x + c < im.width && y + r >= 0 && y + r < im.height)
                std::memcpy(&out.pixels[(size_t(r) * w + c) * 3], &im.pixels[(size_t(y + r) * im.width + x + c) * 3], 3);
    return out;
}

// PIL's paste of `src` at (x, y), clipped to `dst`; with a mask (one 8-bit weight per pixel of src, column
// `mask_x(c)` / row `mask_y(r)`: 0 keeps dst, 255 takes src) blended as PIL does: t = dst (255 - m) + src m + 128,
// ((t >> 8) + t) >> 8.
template <class Mask>
void paste(Image& dst, const Image& src, int x, int y, Mask mask) {
    for (int r = 0; r < src.height; ++r)
        for (int c = 0; c < src.width; ++c) {
            if (x + c < 0 || x + c >= dst.width || y + r < 0 || y + r >= dst.height) continue;
            const int m = mask(c, r);
            uint8_t* d = &dst.pixels[(size_t(y + r) * dst.width + x + c) * 3];
            const uint8_t* s = &src.pixels[(size_t(r) * src.width + c) * 3];
            for (int k = 0; k < 3; ++k) {
                const int t = d[k] * (255 - m) + s[k] * m + 128;
                d[k] = uint8_t(((t >> 8) + t) >> 8);
            }
        }
}

// the tile through the network: RGB 8-bit -> BGR / 255 -> model -> clamp [0, 1] -> round(255 x) -> RGB
Image upscale_patch(const Upscaler& model, const Image& tile, const ForwardContext& ctx) {
    const int64_t H = tile.height, W = tile.width;
    Tensor x = Tensor::uninitialized({3, H, W});
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t i = 0; i < H * W; ++i) x[c * H * W + i] = float(double(tile.pixels[size_t(i) * 3 + size_t(2 - c)]) / 255.0);
    const Tensor y = model.upscale(x, ctx);
    const int64_t OH = y.dim(1), OW = y.dim(2);
    Image out{int(OW), int(OH), 3, std::vector<uint8_t>(size_t(OW * OH * 3))};
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t i = 0; i < OH * OW; ++i)
            out.pixels[size_t(i) * 3 + size_t(2 - c)] = uint8_t(std::nearbyint(255.0f * std::min(std::max(y[c * OH * OW + i], 0.0f), 1.0f)));
    return out;
}

}  // namespace

Image upscale_tiled(const Upscaler& model, const Image& in, int tile, int overlap, const ForwardContext& ctx) {
    if (in.channels != 3) fail("upscale: the picture must be RGB");
    if (tile <= 0) return upscale_patch(model, in, ctx);
    if (overlap < 0 || overlap >= tile) fail("upscale: the tile overlap (", overlap, ") must be at least 0 and less than the tile (", tile, ")");
    // split_grid: tile positions int(i · (W - tile) / (n - 1)), the last ones moved back inside the picture
    auto positions = [&](int size) {
        const int n = int(std::ceil(double(size - overlap) / double(tile - overlap)));
        std::vector<int> at;
        for (int i = 0; i < std::max(n, 1); ++i) {
            int p = n > 1 ? int(double(i) * (double(size - tile) / double(n - 1))) : 0;
            if (p + tile >= size) p = size - tile;
            at.push_back(p);
        }
        return at;
    };
    const std::vector<int> xs = positions(in.width), ys = positions(in.height);
    const int s = model.scale(), ov = overlap * s, T = tile * s;
    // combine_grid over the upscaled tiles: masks m(i) = uint8(i · 255 / ov) across each overlap
    auto ramp = [&](int i) { return int(uint8_t(float(i) * 255.0f / float(ov))); };
    Image out{in.width * s, in.height * s, 3, std::vector<uint8_t>(size_t(in.width) * s * in.height * s * 3, 0)};
    for (int y : ys) {
        Image row{out.width, T, 3, std::vector<uint8_t>(size_t(out.width) * T * 3, 0)};
        for (int x : xs) {
            const Image up = upscale_patch(model, crop_image(in, x, y, tile, tile), ctx);
            if (x == 0) {
                paste(row, up, 0, 0, [](int, int) { return 255; });
                continue;
            }
            paste(row, crop_image(up, 0, 0, ov, T), x * s, 0, [&](int c, int) { return ramp(c); });
            paste(row, crop_image(up, ov, 0, T - ov, T), x * s + ov, 0, [](int, int) { return 255; });
        }
        if (y == 0) {
            paste(out, row, 0, 0, [](int, int) { return 255; });
            continue;
        }
        paste(out, crop_image(row, 0, 0, row.width, ov), 0, y * s, [&](int, int r) { return ramp(r); });
        paste(out, crop_image(row, 0, ov, row.width, T - ov), 0, y * s + ov, [](int, int) { return 255; });
    }
    return out;
}

Image upscale_by(const Upscaler& model, const Image& in, double scale, int tile, int overlap, const ForwardContext& ctx) {
    if (!(scale > 0) || scale > 16) fail("upscale: the scale must be above 0 and at most 16, given ", scale);
    const int dest_w = int(std::floor(in.width * scale / 8)) * 8, dest_h = int(std::floor(in.height * scale / 8)) * 8;
    if (dest_w < 8 || dest_h < 8) fail("upscale: ", in.width, "x", in.height, " times ", scale, " is smaller than 8 pixels");
    Image img = in;
    for (int pass = 0; pass < 3 && (img.width < dest_w || img.height < dest_h); ++pass) img = upscale_tiled(model, img, tile, overlap, ctx);
    if (img.width != dest_w || img.height != dest_h) img = pil_resize(img, dest_w, dest_h, ResizeFilter::Lanczos);
    return img;
}

}  // namespace sdref
