// mmdit.h: SD 3's Multimodal Diffusion Transformer (MMDiT; SD 3.5 Medium's MMDiT-X), original checkpoint names
// under model.diffusion_model., topology from the tensors.
//
//   x tokens = patchify(conv 2x2/2 (x_embedder.proj)) + pos_embed cropped to the centre    [N, H]
//   c tokens = context_embedder(context)                                                    [L, H]
//   y = t_embedder(sinusoid(t, 256)) + y_embedder(pooled)     (each linear, SiLU, linear)   [H]
//   per joint block (joint_blocks.N; skipped entirely when listed in skip_layers):
//     x_block.adaLN_modulation(SiLU(y)) -> shift, scale, gate (attention), shift, scale, gate (MLP)
//                                          [+ shift, scale, gate of attn2: MMDiT-X blocks]
//     context_block's likewise (the last block is pre-only: shift and scale, no output projection, no MLP)
//     joint attention over [x tokens; c tokens]: per stream qkv, RMS-normed q and k per head (ln_q, ln_k), one
//       softmax(q k^T / sqrt(d)) v over both; each stream's share goes through its own proj
//     x += gate * attn;  (MMDiT-X: x += gate2 * attn2(modulated x), self-attention on x alone)
//     x += gate * mlp(LN(x) (1 + scale) + shift);  mlp = fc2(gelu_tanh(fc1))   and the same for c
//     where each LN is LayerNorm without affine (eps 1e-6) and the modulated input LN(x) (1 + scale) + shift
//   out = unpatchify(final_layer.linear(LN(x) (1 + scale) + shift))                        [C, h, w]
// docs/sd3.md.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "models/blocks.h"

namespace sdref {

struct MmditAttention {
    Linear qkv;                 // attn.qkv [3H, H]
    Tensor ln_q, ln_k;          // attn.ln_q / ln_k [head_dim] (RMS)
    Linear proj;                // attn.proj [H, H] (absent in a pre-only context block)
    bool has_proj = true;
};

struct MmditStream {
    Linear modulation;          // adaLN_modulation.1 [k H, H]: k = 6, 9 (with attn2) or 2 (pre-only)
    MmditAttention attn, attn2; // attn2: MMDiT-X's second attention (x_block only)
    bool has_attn2 = false, pre_only = false;
    Linear fc1, fc2;            // mlp.fc1 [4H, H], mlp.fc2 [H, 4H]
};

struct MmditBlock {
    MmditStream x, context;     // x_block, context_block
};

class Mmdit {
public:
    static Mmdit load(std::shared_ptr<const WeightStore> w, const std::string& prefix = "model.diffusion_model.");

    int64_t in_channels() const { return in_channels_; }
    int64_t depth() const { return int64_t(blocks_.size()); }
    int64_t hidden() const { return hidden_; }
    int64_t pooled_width() const { return y1_.weight.cols; }      // the pooled text vector it reads
    int64_t context_width() const { return context_embedder_.weight.cols; }  // the text tokens' width (T5's)
    int64_t dual_attention_blocks() const;                         // MMDiT-X blocks (SD 3.5 Medium: 13)
    // An upper estimate of one forward's activation memory (bytes), and its arithmetic work (2 per multiply-add of
    // the products), on latents of h x w with `tokens` context tokens.
    int64_t forward_bytes(int64_t h, int64_t w, int64_t tokens = kMaxContextTokens) const;
    double forward_flops(int64_t h, int64_t w, int64_t tokens) const;
    static constexpr int64_t kMaxContextTokens = 77 + 512;         // CLIP's 77 and T5's longest

    // x [C, h, w] (h, w multiples of the patch size), t = sigma * 1000, context [L, Dc], pooled [P] -> velocity [C, h, w].
    Tensor forward(const Tensor& x, float t, const Tensor& context, const Tensor& pooled, const std::set<int>& skip_layers = {},
                   const ForwardContext& ctx = {}) const;

private:
    std::shared_ptr<const WeightStore> weights_;
    std::string prefix_;
    Conv patch_;                       // x_embedder.proj [H, C, p, p]
    Matrix pos_embed_;                 // pos_embed [1, S*S, H], as stored (Medium's is 226 M values: only the crop is read)
    int64_t pos_side_ = 0;             // S
    Linear t1_, t2_, y1_, y2_;         // t_embedder.mlp.0/2, y_embedder.mlp.0/2
    Linear context_embedder_;
    std::vector<MmditBlock> blocks_;
    Linear final_modulation_, final_linear_;  // final_layer.adaLN_modulation.1 [2H, H], final_layer.linear [p p C, H]
    int64_t hidden_ = 0, heads_ = 0, head_dim_ = 0, in_channels_ = 16, out_channels_ = 16;
};

}  // namespace sdref
