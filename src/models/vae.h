// vae.h: the KL autoencoder that maps images to the 8x smaller latent space and back.
//
// Encoder  image [3, H, W] in [-1, 1]
//   conv_in -> per level: L ResBlocks, then a stride-2 conv (not after the last level)   [C_i, H/2^i, W/2^i]
//   -> mid: ResBlock, self-attention, ResBlock -> GroupNorm + SiLU -> conv_out [2z, H/8, W/8]
//   -> quant_conv (1x1) -> mean, logvar (clamped to [-30, 20])     z = latent channels (4; SD 3.x: 16, no quant convs)
// Decoder  latent [z, H/8, W/8] (already divided by the scaling factor 0.18215)
//   post_quant_conv (1x1) -> conv_in -> mid (ResBlock, attention, ResBlock)
//   -> per level, deepest first: L+1 ResBlocks, then nearest 2x + conv (not after the shallowest level)
//   -> GroupNorm + SiLU -> conv_out -> image [3, H, W] in about [-1, 1]
// Names follow the original checkpoint (first_stage_model.encoder.down.N.block.M, decoder.up.N, mid.attn_1, ...);
// a diffusers vae/ folder is read through a renamer. docs/vae.md walks through it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/json.h"
#include "models/blocks.h"

namespace sdref {

struct VaeLevel {
    std::vector<ResBlock> blocks;  // down.N.block.M / up.N.block.M
    Conv resample;                 // down.N.downsample.conv (stride 2) / up.N.upsample.conv (after 2x nearest)
    bool has_resample = false;
};

struct VaeCoder {
    Conv conv_in;                        // encoder [C0, 3, 3, 3] / decoder [C_last, z, 3, 3]
    std::vector<VaeLevel> levels;        // down.0 .. down.n-1 / up.0 .. up.n-1 (LDM numbering: up.0 is the shallowest)
    ResBlock mid_block_1, mid_block_2;   // mid.block_1, mid.block_2
    VaeAttention mid_attn;               // mid.attn_1
    Norm norm_out;                       // norm_out
    Conv conv_out;                       // encoder [2z, C_last, 3, 3] / decoder [3, C0, 3, 3]
};

struct VaeOutput {
    Tensor mean, logvar;  // [z, H/8, W/8]
};

class Vae {
public:
    // From "first_stage_model." names (a single-file checkpoint) or a renamed diffusers vae/ (see checkpoint.h).
    static Vae load(std::shared_ptr<const WeightStore> w, const std::string& prefix = "first_stage_model.");

    int64_t latent_channels() const { return latent_channels_; }
    // The decoder's widest level (its conv_in's outputs): 512 for the SD 1.x/2.x and SDXL VAEs.
    int64_t decoder_width() const { return decoder_.conv_in.out; }
    // image [3, H, W] in [-1, 1] -> the posterior's mean and log-variance.
    VaeOutput encode(const Tensor& image, const ForwardContext& ctx = {}) const;
    // latent [z, h, w] (unscaled) -> image [3, 8h, 8w].
    Tensor decode(const Tensor& latent, const ForwardContext& ctx = {}) const;
    // The same in tiles of `tile` latent pixels overlapping by `overlap`, blended with linear ramps across the
    // overlaps (--low-memory: activations of one tile at a time). The decoder's attention then sees one tile, so
    // results differ slightly from decode() on images larger than a tile.
    static constexpr int64_t kOverlap = 8;  // latent pixels two neighbouring tiles share
    static constexpr int64_t kTile = 24;  // latent pixels a side of decode_tiled's tiles (192 px; with --low-memory's
                                          // streamed weights the decode of SD 1.5 at 512x512 stays under the
                                          // sampling loop's 216 MB, 345 MB with 32, 436 MB with 40; bench/RESULTS.md)
    // Every tile is normalised with group statistics of the whole picture, pooled over a first pass of tiles
    // (NormSequence). ctx.stream_weights (--low-memory): each part of the decoder (the middle, then each level) maps
    // its weights in before it runs and gives them back after, for every tile.
    Tensor decode_tiled(const Tensor& latent, int64_t tile = kTile, int64_t overlap = kOverlap, const ForwardContext& ctx = {}) const;

    // An estimate of the activation memory decode() needs for a latent of h x w (bytes): three tensors of the
    // largest level at once (its input, upsampled copy and convolution output; measured: 2.5).
    int64_t decode_bytes(int64_t h, int64_t w) const;
    // The arithmetic work of decode() for a latent of h x w: 2 flops per multiply-add of every convolution and
    // of the middle attention's projections and products (for benchmarks).
    double decode_flops(int64_t h, int64_t w) const;

private:
    Tensor decode(const Tensor& latent, NormSequence* norms, const ForwardContext& ctx) const;

    std::shared_ptr<const WeightStore> weights_;  // keeps the memory-mapped checkpoint alive
    std::string prefix_;                          // "first_stage_model."
    VaeCoder encoder_, decoder_;
    Linear quant_conv_;       // [2z, 2z] 1x1 quant_conv (absent in SD 3.x's VAE)
    Linear post_quant_conv_;  // [z, z]   1x1 post_quant_conv (absent in SD 3.x's VAE)
    bool has_quant_convs_ = true;
    int64_t latent_channels_ = 4;
    int64_t groups_ = 32;
};

}  // namespace sdref
