// blocks.h: the building blocks the U-Net and the VAE share, each a plain struct of weights (shapes in the
// comments, members named after the original checkpoint keys) and a forward function.
//
// Activations are one image at a time, channels first: x [C, H, W]. Attention works on tokens [HW, C]; the GEMM
// reads [C, HW] transposed in place, so no transpose is ever materialised.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "models/forward_context.h"
#include "models/weights.h"

namespace sdref {

// sinusoid(t) [dim]: [cos(t f_0), ..., cos(t f_{h-1}), sin(t f_0), ...], f_i = 10000^(-i/h), h = dim / 2
// (diffusers' get_timestep_embedding with flip_sin_to_cos = True, downscale_freq_shift = 0, in fp32): the U-Net's
// timestep embedding and SDXL's micro-conditioning features.
std::vector<float> timestep_embedding(float t, int64_t dim);

struct Norm {
    Tensor weight, bias;  // [C]
    static Norm load(const WeightStore& w, const std::string& name, int64_t channels);
};

struct Linear {
    Matrix weight;  // [out, in] (a 1x1 conv [out, in, 1, 1] loads as the same matrix)
    Tensor bias;    // [out], empty when the layer has none
    static Linear load(const WeightStore& w, const std::string& name, int64_t out, int64_t in, bool bias = true);
    // A linear layer stored either as [out, in] or as a 1x1 convolution [out, in, 1, 1].
    static Linear load_1x1(const WeightStore& w, const std::string& name, int64_t out, int64_t in);
};

struct Conv {
    Matrix weight;  // [out, in, k, k] seen as [out, in*k*k]
    Tensor bias;    // [out]
    int64_t in = 0, out = 0, kernel = 3;
    // `bias` false: a conv without one (bias stays empty)
    static Conv load(const WeightStore& w, const std::string& name, int64_t out, int64_t in, int64_t kernel, bool bias = true);
};

// y [rows, out] = act(x [rows, in] · W^T + b) (+ residual [rows, out]), x row-major with leading dimension ldx, y ldy.
void linear_forward(const ForwardContext& ctx, const Linear& l, const float* x, int64_t rows, int64_t ldx, float* y, int64_t ldy,
                    const float* residual = nullptr, kernels::Activation act = kernels::Activation::None);

// y [out, OH, OW] = act(conv(x [in, H, W]) + bias) (+ residual [out, OH, OW]); padding (kernel-1)/2 on all sides
// unless given.
Tensor conv_forward(const ForwardContext& ctx, const Conv& c, const Tensor& x, int64_t stride = 1, int64_t padding = -1, int64_t padding_end = -1,
                    const float* residual = nullptr, kernels::Activation act = kernels::Activation::None);

// --low-memory (ForwardContext::stream_weights): a model's weights mapped in part by part as it runs (one
// MADV_POPULATE_READ per part, before it runs) and given back after (the pages stay in the page cache), so a forward
// pass holds one layer's weights at a time. A block streams itself: it takes the stream of its own prefix and holds
// a guard for as long as it runs. A null store streams nothing.
struct WeightStream {
    const WeightStore* store = nullptr;
    std::string prefix;  // of every part named: "model.diffusion_model.input_blocks.7.1.", "first_stage_model.decoder."

    // The model's weights under `prefix`, streamed when the context says so.
    static WeightStream of(const ForwardContext& ctx, const WeightStore* store, std::string prefix) {
        return {ctx.stream_weights ? store : nullptr, std::move(prefix)};
    }
    // A part in use from the guard's construction to its end: mapped in at once when it starts (unless its own parts
    // map themselves in: a transformer, block by block), given back when it ends.
    class InUse {
    public:
        InUse(const WeightStream& stream, std::string part, bool map_in) : stream_(stream), part_(std::move(part)) {
            if (map_in) stream_.about_to_use(part_);
        }
        ~InUse() { stream_.done_with(part_); }
        InUse(const InUse&) = delete;
        InUse& operator=(const InUse&) = delete;

    private:
        const WeightStream& stream_;
        std::string part_;
    };
    InUse use(const std::string& part = "") const { return InUse(*this, part, true); }
    InUse hold(const std::string& part = "") const { return InUse(*this, part, false); }

    void about_to_use(const std::string& part) const {
        if (store) store->populate(prefix + part);
    }
    void done_with(const std::string& part) const {
        if (store) store->release(prefix + part);
    }
    WeightStream under(const std::string& part) const { return {store, prefix + part}; }
};

// ResNet block (LDM ResBlock / ResnetBlock):
//   h = conv1(silu(norm1(x)));  h += emb_proj(silu(emb)) per channel (U-Net only)
//   h = conv2(silu(norm2(h)));  y = skip(x) + h                  (skip: 1x1 conv when in != out)
struct ResBlock {
    int64_t in = 0, out = 0;
    Norm norm1;     // [in]          in_layers.0   | norm1
    Conv conv1;     // [out, in, 3, 3]  in_layers.2 | conv1
    Linear emb;     // [out, E]      emb_layers.1 (U-Net; absent in the VAE)
    Norm norm2;     // [out]         out_layers.0  | norm2
    Conv conv2;     // [out, out, 3, 3] out_layers.3 | conv2
    Conv skip;      // [out, in, 1, 1]  skip_connection | nin_shortcut (only when in != out)
    bool has_skip = false;
    // U-Net names (LDM) under prefix ("...input_blocks.1.0.")
    static ResBlock load_unet(const WeightStore& w, const std::string& prefix, int64_t in, int64_t out, int64_t emb);
    // VAE names (LDM) under prefix ("first_stage_model.encoder.down.0.block.0.")
    static ResBlock load_vae(const WeightStore& w, const std::string& prefix, int64_t in, int64_t out);
};

// The group norms of one forward pass, in call order: recorded from one pass, then given to others that must
// normalise alike (every tile of a tiled VAE decode uses the whole picture's statistics).
struct NormSequence {
    std::deque<kernels::GroupMoments> norms;
    size_t next = 0;      // the next norm's index
    bool replay = false;  // false: record each norm's moments; true: hand them out in order
    // The next norm's moments (recording: a new entry); an error if a replayed pass has more norms than recorded.
    kernels::GroupMoments* take();
};

// x [in, H, W] -> [out, H, W]. emb_silu: silu(time embedding) [E] or nullptr; groups and eps of the group norms;
// norms: shared group statistics (NormSequence), or nullptr for x's own.
// stream: the block's weights (under its prefix), in use while it runs.
Tensor resblock_forward(const ForwardContext& ctx, const ResBlock& r, const Tensor& x, const float* emb_silu, int64_t groups, float eps,
                        NormSequence* norms = nullptr, const WeightStream& stream = {});

// Multi-head attention projections: q from the tokens, k and v from the context (self-attention: the tokens).
struct AttentionWeights {
    Linear q, k, v;  // [inner, in] / [inner, context_dim] (U-Net: no bias)
    Linear out;      // [out, inner]  to_out.0
};

// One transformer block of the U-Net (diffusers BasicTransformerBlock):
//   t = t + attn1(norm1(t))            self-attention
//   t = t + attn2(norm2(t), context)   cross-attention to the text
//   t = t + ff2(geglu(ff1(norm3(t))))
struct TransformerBlock {
    Norm norm1, norm2, norm3;   // [inner] LayerNorm
    AttentionWeights attn1;     // to_q/to_k/to_v [inner, inner], to_out.0 [inner, inner]
    AttentionWeights attn2;     // to_q [inner, inner], to_k/to_v [inner, context_dim], to_out.0
    Linear ff1;                 // [2F, inner] ff.net.0.proj (GEGLU: value half, gate half)
    Linear ff2;                 // [inner, F]  ff.net.2
};

// SpatialTransformer: tokens = proj_in(groupnorm(x))^T; blocks; y = x + proj_out(tokens)^T.
// proj_in/proj_out are 1x1 convolutions (SD 1.x) or linear layers (SD 2.x): the same matrix either way.
struct SpatialTransformer {
    int64_t channels = 0, inner = 0, heads = 0, context_dim = 0;
    Norm norm;                 // [C] GroupNorm(32, eps 1e-6)
    Linear proj_in;            // [inner, C]
    std::vector<TransformerBlock> blocks;  // transformer_blocks.N
    Linear proj_out;           // [C, inner]
    static SpatialTransformer load(const WeightStore& w, const std::string& prefix, int64_t channels, int64_t heads);
};

// A change to what an attention layer's keys and values are computed from (A1111 hypernetworks): given the
// context c [m, width] of a layer (the normed tokens for self-attention, the text for cross-attention), the contexts
// of its k and v projections. Returns false to leave both as c.
class ContextHook {
public:
    virtual ~ContextHook() = default;
    virtual bool transform(const ForwardContext& ctx, const float* c, int64_t m, int64_t width, Tensor* ck, Tensor* cv) const = 0;
};

// x [C, H, W], context [77, context_dim] -> [C, H, W]; hook: nullptr, or applied in every attention layer;
// stream: the transformer's weights, mapped in and given back one transformer block at a time (SDXL's deepest
// transformers hold ten blocks, 0.7 GB of fp16 weights), all given back when it ends.
Tensor spatial_transformer_forward(const ForwardContext& ctx, const SpatialTransformer& st, const Tensor& x, const Tensor& context, int64_t groups,
                                   const ContextHook* hook = nullptr, const WeightStream& stream = {});

// The VAE's single-head self-attention over pixels (AttnBlock): y = x + to_out(attention(groupnorm(x))).
struct VaeAttention {
    int64_t channels = 0;
    Norm norm;                 // [C] norm
    AttentionWeights attn;     // to_q/to_k/to_v/to_out.0 [C, C] (or q/k/v/proj_out 1x1 convs)
    static VaeAttention load(const WeightStore& w, const std::string& prefix, int64_t channels);
};

// x [C, H, W] -> [C, H, W]
Tensor vae_attention_forward(const ForwardContext& ctx, const VaeAttention& a, const Tensor& x, int64_t groups, NormSequence* norms = nullptr);

// The arithmetic work of a block (2 flops per multiply-add of its GEMMs and attention products), for benchmarks.
double conv_flops(const Conv& c, int64_t out_hw);
double resblock_flops(const ResBlock& r, int64_t hw);
double spatial_transformer_flops(const SpatialTransformer& st, int64_t hw, int64_t context_tokens);

}  // namespace sdref
