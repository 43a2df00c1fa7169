// unet.h: the denoising U-Net of Stable Diffusion 1.x/2.x and SDXL: eps (or v) = unet(x_t, t, text context, y).
//
//   emb  = time_embed.2(silu(time_embed.0(sinusoid(t))))                [E]      (E = 4 * C0)
//   emb += label_emb.0.2(silu(label_emb.0.0(y)))                        SDXL only: y [adm_in], the conditioner's
//                                                                       pooled text + micro-conditioning vector
//   h    = input_blocks.0 (conv_in)                                     [C0, h, w]
//   down: per level i, L x (ResBlock(emb) [+ SpatialTransformer(context)]), then a stride-2 conv, keeping every
//         output as a skip connection                                   [C_i, h/2^i, w/2^i]
//   mid:  ResBlock, SpatialTransformer, ResBlock
//   up:   per level, deepest first, L+1 x (concat(h, skip) -> ResBlock [+ SpatialTransformer]), then 2x upsampling
//   out:  GroupNorm + SiLU + conv -> [out_channels, h, w]
//
// SD 1.5 as a table (C0 = 320, L = 2, 8 heads, context 768):
//   level  channels  attention   resolution at 512x512
//   0      320       yes         64x64
//   1      640       yes         32x32
//   2      1280      yes         16x16
//   3      1280      no          8x8
// SDXL base (C0 = 320, L = 2, context 2048, adm_in 2816): levels 320 / 640 / 1280 at 128 / 64 / 32 for 1024x1024,
// no attention at level 0, transformer depth 2 at level 1 and 10 at level 2 (and in the middle block).
// Depth, widths, attention levels, transformer depth per level, and in/out channels come from the checkpoint's shapes; head counts from the
// config (diffusers attention_head_dim, which counts heads) or, without one, 64-wide heads for SD 2.x (linear
// proj_in) and 8 heads for SD 1.x. Names are the original ones (model.diffusion_model.input_blocks.N.M...).
// docs/unet.md walks through it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/json.h"
#include "models/blocks.h"
#include "models/conditioning.h"

namespace sdref {

struct UNetConfig {
    int64_t in_channels = 4, out_channels = 4;
    int64_t layers_per_block = 2;            // L
    std::vector<int64_t> channels;           // per level: 320, 640, 1280, 1280
    std::vector<bool> attention;             // per level: a SpatialTransformer after each ResBlock
    std::vector<int64_t> heads;              // per level
    int64_t context_dim = 768;
    int64_t time_embed_dim = 1280;           // E
    int64_t adm_in_channels = 0;             // width of y for label_emb (SDXL: 2816, refiner: 2560); 0: none
};

struct UNetDownLevel {
    std::vector<ResBlock> res;               // input_blocks.N.0
    std::vector<SpatialTransformer> attn;    // input_blocks.N.1 (attention levels)
    Conv down;                               // input_blocks.N.0.op (all but the deepest level)
    bool has_down = false;
    std::vector<std::string> names;          // "model.diffusion_model.input_blocks.N." of each block, then the op's
};

struct UNetUpLevel {
    std::vector<ResBlock> res;               // output_blocks.N.0 (L + 1 of them)
    std::vector<SpatialTransformer> attn;    // output_blocks.N.1
    Conv up;                                 // output_blocks.N.{1|2}.conv (all but the shallowest level)
    bool has_up = false;
    std::vector<std::string> names;          // "model.diffusion_model.output_blocks.N." of each block
};

// The encoder half's results: the skip connections (input_blocks, in order), the middle block's output, silu(emb).
struct UNetEncoding {
    std::vector<Tensor> skips;
    Tensor mid;
    std::vector<float> emb_silu;
};

// What ControlNets add (already scaled): one residual per skip connection, one to the middle block's output.
struct ControlResiduals {
    std::vector<Tensor> down;
    Tensor mid;
};

class UNet {
public:
    // `config`: a diffusers unet/config.json, or nullptr (then the checkpoint's "unet_config" metadata, if any).
    // encoder_only: input_blocks, middle_block and the embeddings alone (a ControlNet's copy).
    static UNet load(std::shared_ptr<const WeightStore> w, const std::string& prefix = "model.diffusion_model.",
                     const Json* config = nullptr, bool encoder_only = false);

    const UNetConfig& config() const { return config_; }
    // Applied to every attention layer's key/value context from now on (A1111 hypernetworks); nullptr: none.
    void set_context_hook(std::shared_ptr<const ContextHook> hook) { hook_ = std::move(hook); }
    // An upper estimate of the activation memory one forward() needs for a latent of h x w (bytes): every skip
    // connection kept for the way up, plus working buffers (the feed-forward's 8C-wide projection) at the finest level.
    int64_t forward_bytes(int64_t h, int64_t w) const;
    // The arithmetic work of one forward() on a latent of h x w with `context_tokens` context rows (flops:
    // 2 per multiply-add of every convolution, linear layer and attention product).
    double forward_flops(int64_t h, int64_t w, int64_t context_tokens) const;
    // x [in_channels, h, w] at timestep t (integer or fractional), conditioned on c -> [out_channels, h, w].
    // Any h, w: sizes halved with rounding up on the way down are restored to the skip's size on the way up.
    // ctx.stream_weights: map each layer's weights in before it runs and give them back after (--low-memory; a
    // transformer's one transformer block at a time), so only one layer's weights are resident at a time; they are
    // read again from the page cache on the next call.
    // control: ControlNet residuals to add, or nullptr.
    Tensor forward(const Tensor& x, float t, const Conditioning& c, const ForwardContext& ctx = {},
                   const ControlResiduals* control = nullptr) const;
    // The encoder half alone (what a ControlNet runs); hint: added to conv_in's output when given.
    UNetEncoding encode(const Tensor& x, float t, const Conditioning& c, const ForwardContext& ctx = {},
                        const Tensor* hint = nullptr) const;

private:
    // A transformer, its weights (stream: under its prefix) mapped in block by block with --low-memory
    Tensor transformer(const ForwardContext& ctx, const SpatialTransformer& st, const Tensor& h, const Tensor& context, const WeightStream& stream) const;

    std::shared_ptr<const WeightStore> weights_;  // keeps the memory-mapped checkpoint alive
    UNetConfig config_;
    std::string prefix_;   // "model.diffusion_model."
    std::shared_ptr<const ContextHook> hook_;
    Linear time_embed_0;   // [E, C0] time_embed.0
    Linear time_embed_2;   // [E, E]  time_embed.2
    Linear label_emb_0;    // [E, adm_in] label_emb.0.0 (SDXL)
    Linear label_emb_2;    // [E, E]      label_emb.0.2 (SDXL)
    Conv conv_in;          // [C0, in, 3, 3] input_blocks.0.0
    std::vector<UNetDownLevel> down_;
    ResBlock mid_res1_, mid_res2_;     // middle_block.0, middle_block.2
    SpatialTransformer mid_attn_;      // middle_block.1
    std::vector<UNetUpLevel> up_;      // deepest first
    Norm out_norm_;                    // [C0] out.0
    Conv out_conv_;                    // [out, C0, 3, 3] out.2
};

// The head counts a config gives: diffusers' attention_head_dim (an int or one per level; it counts heads).
std::vector<int64_t> heads_from_config(const Json& config, size_t levels, const std::string& source);
// The ResBlocks per level (L), read off the tensors: the first downsampling conv is input_blocks[L + 1].
int64_t unet_layers_per_block(const WeightStore& w, const std::string& prefix);

}  // namespace sdref
