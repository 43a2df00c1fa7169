// upscaler.h: Real-ESRGAN's super-resolution networks, the upscalers A1111's Extras tab and hires fix offer.
//
// RRDBNet (BasicSR; RealESRGAN_x4plus, _x2plus): lrelu = LeakyReLU(0.2), all convs 3x3 with bias
//   in  = x (x4), pixel_unshuffle(x, 2) (x2: conv_first takes 12 channels), pixel_unshuffle(x, 4) (x1: 48)
//   feat = conv_first(in);  feat += conv_body(body(feat))                  body: num_block RRDBs
//   RRDB(x) = x + 0.2 · rdb3(rdb2(rdb1(x)))
//   rdb(x): x1 = lrelu(conv1(x)), x2 = lrelu(conv2([x, x1])), ..., x5 = conv5([x, x1, x2, x3, x4]);  x + 0.2 · x5
//   feat = lrelu(conv_up1(up2(feat)));  feat = lrelu(conv_up2(up2(feat)));  out = conv_last(lrelu(conv_hr(feat)))
// SRVGGNetCompact (realesr-general-x4v3): body.0 conv in->F, body.1 PReLU(F), then num_conv x (conv F->F, PReLU),
//   last conv F -> 3·s²;  out = pixel_shuffle(that, s) + nearest-upsampled input
// The topology comes from the tensors: the architecture from its names, widths, block counts and scale from
// shapes. Files as released: .pth ({'params_ema': ...} or {'params': ...}, read without running code) and
// .safetensors. The output is the network's, not clamped. docs/upscalers.md.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/blocks.h"
#include "pipeline/image.h"

namespace sdref {

struct DenseBlock {
    Conv conv1, conv2, conv3, conv4, conv5;  // rdbN.convM: [G, F + (M-1)G, 3, 3] for M < 5; conv5 [F, F + 4G, 3, 3]
};

struct Rrdb {
    DenseBlock rdb1, rdb2, rdb3;  // body.N.rdb1 ..
};

class Upscaler {
public:
    static Upscaler load(const std::string& path);

    enum class Arch { Rrdb, Compact };
    Arch arch() const { return arch_; }
    const char* arch_name() const { return arch_ == Arch::Rrdb ? "RRDBNet" : "SRVGGNetCompact"; }
    int scale() const { return scale_; }
    const std::string& path() const { return path_; }

    // image [3, H, W] (values as the network was trained: RGB or A1111's BGR, in [0, 1]) -> [3, sH, sW]. Sizes the
    // pixel-unshuffle cannot split are reflect-padded at the bottom and right, and the output cropped (RealESRGANer).
    Tensor upscale(const Tensor& image, const ForwardContext& ctx = {}) const;

private:
    Tensor rrdb_forward(const Tensor& in, const ForwardContext& ctx) const;
    Tensor compact_forward(const Tensor& in, const ForwardContext& ctx) const;

    std::shared_ptr<const WeightStore> weights_;
    Arch arch_ = Arch::Rrdb;
    int scale_ = 4;
    int unshuffle_ = 1;  // RRDBNet: 1 (x4), 2 (x2) or 4 (x1)
    std::string path_;
    // RRDBNet
    Conv conv_first, conv_body, conv_up1, conv_up2, conv_hr, conv_last;
    std::vector<Rrdb> body;
    int64_t feat = 0, grow = 0;
    // SRVGGNetCompact
    std::vector<Conv> convs;      // body.0, body.2, ..., the last
    std::vector<Tensor> prelus;   // body.1, body.3, ...: [F]
};

// A1111's upscale_with_model: the picture cut into tiles of `tile` pixels overlapping by `overlap` (tile 0: whole),
// each fed to the network as BGR / 255, clamped to [0, 1], rounded to 8 bits, and the tiles blended back along the
// overlaps with PIL's 8-bit mask arithmetic (modules/images.py split_grid / combine_grid).
Image upscale_tiled(const Upscaler& model, const Image& in, int tile = 192, int overlap = 8, const ForwardContext& ctx = {});

// A1111's Upscaler.upscale (the Extras tab, the hires fix): the target is (size · scale) rounded down to a multiple
// of 8; the network runs (tiled) until the picture reaches it, at most 3 times, then Lanczos resizes to it exactly.
Image upscale_by(const Upscaler& model, const Image& in, double scale, int tile = 192, int overlap = 8, const ForwardContext& ctx = {});

}  // namespace sdref
