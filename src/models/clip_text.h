// clip_text.h: the CLIP text transformer that turns 77 token ids into the U-Net's conditioning.
//
//   x = token_embedding[ids] + position_embedding                         [77, D]
//   for each of L layers (pre-norm, causal self-attention):
//       x = x + out_proj(attention(LN1(x) W_q, LN1(x) W_k, LN1(x) W_v))   heads of D / H
//       x = x + fc2(act(fc1(LN2(x))))                                     act: quick_gelu (SD 1.x), gelu (SD 2.x)
//   last_hidden = final_LN(x_L)
//
// SD 1.x conditions on last_hidden ("clip skip 1"); clip skip n uses final_LN(x_{L-n+1}); SD 2.x uses the
// penultimate layer (clip skip 2). The pooled output is last_hidden at the end token (its first 49407).
// Two checkpoint namings load into the same weights: Hugging Face CLIPTextModel (SD 1.x, OpenAI CLIP ViT-L/14:
// text_model.encoder.layers.N.self_attn.q_proj, ...) and OpenCLIP (SD 2.x, ViT-H/14:
// transformer.resblocks.N.attn.in_proj_weight holding q, k and v). docs/clip.md walks through it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/json.h"
#include "models/forward_context.h"
#include "models/weights.h"

namespace sdref {

struct ClipTextConfig {
    int64_t vocab = 49408, context = 77;
    int64_t width = 768;    // D
    int64_t layers = 12;    // L
    int64_t heads = 12;     // H
    int64_t ffn = 3072;     // hidden width of the MLP
    kernels::Activation act = kernels::Activation::QuickGelu;
};

// One pre-norm transformer layer of CLIP (text and vision towers alike).
struct ClipLayer {
    Tensor ln1_w, ln1_b;    // [D]     layer_norm1 | ln_1
    Matrix q, k, v;         // [D, D]  self_attn.{q,k,v}_proj | rows of attn.in_proj_weight [3D, D]
    Tensor q_b, k_b, v_b;   // [D]
    Matrix out;             // [D, D]  self_attn.out_proj | attn.out_proj
    Tensor out_b;           // [D]
    Tensor ln2_w, ln2_b;    // [D]     layer_norm2 | ln_2
    Matrix fc1;             // [F, D]  mlp.fc1 | mlp.c_fc
    Tensor fc1_b;           // [F]
    Matrix fc2;             // [D, F]  mlp.fc2 | mlp.c_proj
    Tensor fc2_b;           // [D]
};

// The Hugging Face names of layer `prefix` ("...encoder.layers.N."): D wide, F-wide MLP.
ClipLayer load_clip_layer_hf(const WeightStore& w, const std::string& prefix, int64_t D, int64_t F);

// x [T, D] <- x + attn(LN1(x)); x <- x + mlp(LN2(x)). Causal: each position sees only itself and earlier ones.
void clip_layer_forward(const ForwardContext& ctx, const ClipLayer& L, Tensor& x, int64_t heads, bool causal, kernels::Activation act);

struct ClipTextOutput {
    std::vector<Tensor> hidden;  // [L + 1] x [77, D]: the embeddings, then x after each layer (no final LN)
    Tensor last_hidden;          // [77, D] final_LN(hidden[L])
    Tensor pooled;               // [D]     last_hidden at the end token
};

// The projection of the pooled output into the joint image-text space (SDXL conditions on it):
//   pooled_projected = P pooled,   P [proj, D]
struct TextProjection {
    Tensor weight;  // [P, D] fp32 (OpenCLIP stores text_projection [D, P] and multiplies from the right)
    // OpenCLIP's embedder + "model.text_projection" or Hugging Face's embedder + "transformer.text_projection.weight".
    static TextProjection load(const WeightStore& w, const std::string& embedder, int64_t width);
    Tensor apply(const Tensor& pooled) const;  // [D] -> [P]
};

class ClipTextEncoder {
public:
    // The text tower of one embedder: Hugging Face names under embedder + "transformer.text_model." (an SD 1.x
    // checkpoint's cond_stage_model., SDXL's conditioner.embedders.0.) or embedder + "text_model." (a diffusers
    // text_encoder/ file, embedder ""), or OpenCLIP names under embedder + "model." (SD 2.x; SDXL's OpenCLIP-G).
    // Heads and activation come from `settings` (a diffusers config.json, or {"heads", "act"}) when given, else the
    // checkpoint's "text_config" metadata, else CLIP's conventions (64-wide heads; quick_gelu for OpenAI CLIP, gelu
    // for OpenCLIP).
    static ClipTextEncoder load(std::shared_ptr<const WeightStore> w, const Json* settings = nullptr,
                                const std::string& embedder = "cond_stage_model.");

    // The loaders below do not keep `w` alive: the caller must (load() does).
    // Hugging Face names under `prefix` ("cond_stage_model.transformer.text_model." in an SD 1.x checkpoint,
    // "text_model." in a diffusers text_encoder/). heads = 0: from the width (64 per head, as every CLIP).
    static ClipTextEncoder load_hf(const WeightStore& w, const std::string& prefix, int64_t heads,
                                   kernels::Activation act);
    // OpenCLIP names under `prefix` ("cond_stage_model.model." in an SD 2.x checkpoint).
    static ClipTextEncoder load_openclip(const WeightStore& w, const std::string& prefix, int64_t heads,
                                         kernels::Activation act);

    const ClipTextConfig& config() const { return config_; }
    // Give the encoder extra token ids past its vocabulary, one per row of `rows` [n, width] (textual inversion):
    // the first new id is returned; the ids that follow it are the next rows.
    int add_token_rows(const Tensor& rows, const std::string& source);
    // Hold the store whose mapped files the weights point into (load() does this).
    void keep_alive(std::shared_ptr<const WeightStore> store) { weights_ = std::move(store); }
    // Every hidden state, the final output and the pooled vector of one prompt's 77 ids. stream_weights: give
    // each layer's weight pages back once it has run (--low-memory), so one layer is resident at a time.
    ClipTextOutput forward(const std::vector<int>& ids, const ForwardContext& ctx = {}) const;
    // The conditioning [77, D]: final_LN of the output of layer L - clip_skip + 1 (clip_skip >= 1).
    Tensor encode(const std::vector<int>& ids, int clip_skip) const;
    // final_LN(x) for a hidden state.
    Tensor final_norm(const Tensor& x, const ForwardContext& ctx = {}) const;

private:
    std::shared_ptr<const WeightStore> weights_;  // keeps the memory-mapped checkpoint alive
    ClipTextConfig config_;
    Matrix token_embedding_;     // [V, D] token_embedding.weight
    Tensor extra_tokens_;        // [n, D] rows of ids V, V + 1, ... (textual-inversion vectors)
    Tensor position_embedding_;  // [77, D]
    std::vector<ClipLayer> layers_;
    std::vector<std::string> layer_prefixes_;  // the canonical prefix of each layer's tensors (for streaming)
    Tensor final_ln_w_, final_ln_b_;  // [D] final_layer_norm | ln_final
};

}  // namespace sdref
