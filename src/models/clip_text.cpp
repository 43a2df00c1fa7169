#include "models/clip_text.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/convert.h"
#include "kernels/ops.h"
#include "text/clip_tokenizer.h"

namespace sdref {

namespace {

// The number of layers: the highest N + 1 with a tensor "<prefix>N." present.
int64_t count_layers(const WeightStore& w, const std::string& prefix) {
    int64_t n = 0;
    while (!w.names(prefix + std::to_string(n) + ".").empty()) ++n;
    if (n == 0) fail(w.describe(), ": no text encoder layers under \"", prefix, "\"");
    return n;
}

ClipTextConfig shape_config(const WeightStore& w, const std::string& token_embedding, int64_t layers, int64_t heads,
                            kernels::Activation act) {
    const Shape te = w.shape_of(token_embedding);
    if (te.size() != 2) fail(w.describe(), ": \"", token_embedding, "\" should be [vocab, width], is ", shape_str(te));
    ClipTextConfig c;
    c.vocab = te[0];
    c.width = te[1];
    c.layers = layers;
    c.heads = heads > 0 ? heads : std::max<int64_t>(1, c.width / 64);
    if (c.width % c.heads != 0) fail(w.describe(), ": text width ", c.width, " is not divisible by ", c.heads, " heads");
    c.act = act;
    return c;
}

ClipTextEncoder with_store(ClipTextEncoder enc, std::shared_ptr<const WeightStore> store) {
    enc.keep_alive(std::move(store));
    return enc;
}

}  // namespace

ClipLayer load_clip_layer_hf(const WeightStore& w, const std::string& p, int64_t D, int64_t F) {
    ClipLayer L;
    L.ln1_w = w.vector(p + "layer_norm1.weight", {D});
    L.ln1_b = w.vector(p + "layer_norm1.bias", {D});
    L.q = w.matrix(p + "self_attn.q_proj.weight", {D, D});
    L.q_b = w.vector(p + "self_attn.q_proj.bias", {D});
    L.k = w.matrix(p + "self_attn.k_proj.weight", {D, D});
    L.k_b = w.vector(p + "self_attn.k_proj.bias", {D});
    L.v = w.matrix(p + "self_attn.v_proj.weight", {D, D});
    L.v_b = w.vector(p + "self_attn.v_proj.bias", {D});
    L.out = w.matrix(p + "self_attn.out_proj.weight", {D, D});
    L.out_b = w.vector(p + "self_attn.out_proj.bias", {D});
    L.ln2_w = w.vector(p + "layer_norm2.weight", {D});
    L.ln2_b = w.vector(p + "layer_norm2.bias", {D});
    L.fc1 = w.matrix(p + "mlp.fc1.weight", {F, D});
    L.fc1_b = w.vector(p + "mlp.fc1.bias", {F});
    L.fc2 = w.matrix(p + "mlp.fc2.weight", {D, F});
    L.fc2_b = w.vector(p + "mlp.fc2.bias", {D});
    return L;
}

namespace {

// x [rows, K] row-major as the A operand of a product; a weight [N, K] as its B operand.
kernels::Operand rows(const float* x, int64_t K) { return kernels::activations(x, 1, K); }
kernels::Operand weight(const Matrix& w) { return kernels::weight_rows(w.data, w.type, w.cols); }

}  // namespace

void clip_layer_forward(const ForwardContext& ctx, const ClipLayer& L, Tensor& x, int64_t heads, bool causal, kernels::Activation act) {
    const int64_t T = x.dim(0), D = x.dim(1), F = L.fc1.rows;
    Tensor h({T, D}), qkv({T, 3 * D}), attn({T, D}), mlp({T, F}), next({T, D});
    const kernels::AttentionShape shape{heads, D / heads, T, T, causal};
    const float scale = 1.0f / std::sqrt(float(D / heads));
    // x = x + out_proj(attention(LN1(x)))
    ctx.ops().layer_norm(x.data(), h.data(), T, D, 1e-5f, L.ln1_w.data(), L.ln1_b.data());
    const Matrix* proj[3] = {&L.q, &L.k, &L.v};
    const Tensor* bias[3] = {&L.q_b, &L.k_b, &L.v_b};
    for (int i = 0; i < 3; ++i) {
        kernels::GemmEpilogue ep;
        ep.col_bias = bias[i]->data();
        ctx.ops().matmul(T, D, D, rows(h.data(), D), weight(*proj[i]), qkv.data() + i * D, 3 * D, ep, ctx.precision);
    }
    ctx.ops().attention(shape, qkv.data(), 3 * D, qkv.data() + D, 3 * D, qkv.data() + 2 * D, 3 * D, attn.data(), D, scale, ctx.precision);
    kernels::GemmEpilogue out_ep;
    out_ep.col_bias = L.out_b.data();
    out_ep.residual = x.data();
    ctx.ops().matmul(T, D, D, rows(attn.data(), D), weight(L.out), next.data(), D, out_ep, ctx.precision);
    std::swap(x, next);
    // x = x + fc2(act(fc1(LN2(x))))
    ctx.ops().layer_norm(x.data(), h.data(), T, D, 1e-5f, L.ln2_w.data(), L.ln2_b.data());
    kernels::GemmEpilogue fc1_ep;
    fc1_ep.col_bias = L.fc1_b.data();
    fc1_ep.activation = act;
    ctx.ops().matmul(T, F, D, rows(h.data(), D), weight(L.fc1), mlp.data(), F, fc1_ep, ctx.precision);
    kernels::GemmEpilogue fc2_ep;
    fc2_ep.col_bias = L.fc2_b.data();
    fc2_ep.residual = x.data();
    ctx.ops().matmul(T, D, F, rows(mlp.data(), F), weight(L.fc2), next.data(), D, fc2_ep, ctx.precision);
    std::swap(x, next);
}

ClipTextEncoder ClipTextEncoder::load_hf(const WeightStore& w, const std::string& prefix, int64_t heads,
                                         kernels::Activation act) {
    ClipTextEncoder m;
    const std::string layer_prefix = prefix + "encoder.layers.";
    ClipTextConfig& c = m.config_ =
        shape_config(w, prefix + "embeddings.token_embedding.weight", count_layers(w, layer_prefix), heads, act);
    const int64_t D = c.width;
    c.ffn = w.shape_of(layer_prefix + "0.mlp.fc1.weight").at(0);
    m.token_embedding_ = w.matrix(prefix + "embeddings.token_embedding.weight", {c.vocab, D});
    m.position_embedding_ = w.vector(prefix + "embeddings.position_embedding.weight", {c.context, D});
    for (int64_t l = 0; l < c.layers; ++l) {
        m.layer_prefixes_.push_back(layer_prefix + std::to_string(l) + ".");
        m.layers_.push_back(load_clip_layer_hf(w, m.layer_prefixes_.back(), D, c.ffn));
    }
    m.final_ln_w_ = w.vector(prefix + "final_layer_norm.weight", {D});
    m.final_ln_b_ = w.vector(prefix + "final_layer_norm.bias", {D});
    return m;
}

ClipTextEncoder ClipTextEncoder::load_openclip(const WeightStore& w, const std::string& prefix, int64_t heads,
                                               kernels::Activation act) {
    ClipTextEncoder m;
    const std::string layer_prefix = prefix + "transformer.resblocks.";
    ClipTextConfig& c = m.config_ =
        shape_config(w, prefix + "token_embedding.weight", count_layers(w, layer_prefix), heads, act);
    const int64_t D = c.width;
    c.ffn = w.shape_of(layer_prefix + "0.mlp.c_fc.weight").at(0);
    m.token_embedding_ = w.matrix(prefix + "token_embedding.weight", {c.vocab, D});
    m.position_embedding_ = w.vector(prefix + "positional_embedding", {c.context, D});
    for (int64_t l = 0; l < c.layers; ++l) {
        const std::string p = layer_prefix + std::to_string(l) + ".";
        ClipLayer L;
        L.ln1_w = w.vector(p + "ln_1.weight", {D});
        L.ln1_b = w.vector(p + "ln_1.bias", {D});
        // in_proj_weight [3D, D] stacks W_q, W_k, W_v
        const Matrix in_proj = w.matrix(p + "attn.in_proj_weight", {3 * D, D});
        const Tensor in_bias = w.vector(p + "attn.in_proj_bias", {3 * D});
        L.q = in_proj.row_slice(0, D);
        L.k = in_proj.row_slice(D, D);
        L.v = in_proj.row_slice(2 * D, D);
        L.q_b = Tensor({D}, std::vector<float>(in_bias.data(), in_bias.data() + D));
        L.k_b = Tensor({D}, std::vector<float>(in_bias.data() + D, in_bias.data() + 2 * D));
        L.v_b = Tensor({D}, std::vector<float>(in_bias.data() + 2 * D, in_bias.data() + 3 * D));
        L.out = w.matrix(p + "attn.out_proj.weight", {D, D});
        L.out_b = w.vector(p + "attn.out_proj.bias", {D});
        L.ln2_w = w.vector(p + "ln_2.weight", {D});
        L.ln2_b = w.vector(p + "ln_2.bias", {D});
        L.fc1 = w.matrix(p + "mlp.c_fc.weight", {c.ffn, D});
        L.fc1_b = w.vector(p + "mlp.c_fc.bias", {c.ffn});
        L.fc2 = w.matrix(p + "mlp.c_proj.weight", {D, c.ffn});
        L.fc2_b = w.vector(p + "mlp.c_proj.bias", {D});
        m.layers_.push_back(std::move(L));
        m.layer_prefixes_.push_back(p);
    }
    m.final_ln_w_ = w.vector(prefix + "ln_final.weight", {D});
    m.final_ln_b_ = w.vector(prefix + "ln_final.bias", {D});
    return m;
}

ClipTextEncoder ClipTextEncoder::load(std::shared_ptr<const WeightStore> store, const Json* settings, const std::string& embedder) {
    const WeightStore& w = *store;
    Json meta;
    if (!settings) {
        if (const std::string text = w.metadata("text_config"); !text.empty()) {
            meta = Json::parse(text, w.describe() + " text_config metadata");
            settings = &meta;
        }
    }
    // heads and activation: diffusers' config.json keys or the metadata's short ones
    int64_t heads = 0;
    std::string act;
    if (settings) {
        for (const char* key : {"num_attention_heads", "heads"})
            if (const Json* h = settings->find(key)) heads = h->as_int(std::string("text encoder settings: ") + key);
        for (const char* key : {"hidden_act", "act"})
            if (const Json* a = settings->find(key)) act = a->as_string(std::string("text encoder settings: ") + key);
    }
    auto activation = [&](kernels::Activation fallback) {
        if (act.empty()) return fallback;
        if (act == "quick_gelu") return kernels::Activation::QuickGelu;
        if (act == "gelu") return kernels::Activation::Gelu;
        fail(w.describe(), ": unsupported text encoder activation \"", act, "\"");
    };
    for (const std::string& prefix : {embedder + "transformer.text_model.", embedder + "text_model."})
        if (w.has(prefix + "embeddings.token_embedding.weight"))
            return with_store(load_hf(w, prefix, heads, activation(kernels::Activation::QuickGelu)), store);
    if (w.has(embedder + "model.token_embedding.weight"))
        return with_store(load_openclip(w, embedder + "model.", heads, activation(kernels::Activation::Gelu)), store);
    fail(w.describe(), ": no CLIP text encoder found (looked for ", embedder, "transformer.text_model.*, ", embedder,
         "text_model.* and ", embedder, "model.*)");
}

TextProjection TextProjection::load(const WeightStore& w, const std::string& embedder, int64_t width) {
    TextProjection p;
    if (w.has(embedder + "model.text_projection")) {
        // OpenCLIP: text_projection [D, P], applied as pooled @ P; stored here transposed, as [P, D]
        const Shape s = w.shape_of(embedder + "model.text_projection");
        if (s.size() != 2 || s[0] != width) fail(w.describe(), ": ", embedder, "model.text_projection should be [", width, ", P], is ", shape_str(s));
        const Tensor t = w.vector(embedder + "model.text_projection", s);
        p.weight = Tensor({s[1], s[0]});
        for (int64_t i = 0; i < s[0]; ++i)
            for (int64_t j = 0; j < s[1]; ++j) p.weight[j * s[0] + i] = t[i * s[1] + j];
        return p;
    }
    // Hugging Face CLIPTextModelWithProjection: text_projection.weight [P, D], a linear layer without bias
    const std::string name = embedder + "transformer.text_projection.weight";
    if (!w.has(name)) fail(w.describe(), ": no text projection (looked for ", embedder, "model.text_projection and ", name, ")");
    const Shape s = w.shape_of(name);
    if (s.size() != 2 || s[1] != width) fail(w.describe(), ": ", name, " should be [P, ", width, "], is ", shape_str(s));
    p.weight = w.vector(name, s);
    return p;
}

Tensor TextProjection::apply(const Tensor& pooled) const {
    const int64_t P = weight.dim(0), D = weight.dim(1);
    Tensor out({P});
    for (int64_t j = 0; j < P; ++j) {
        float acc = 0;
        for (int64_t i = 0; i < D; ++i) acc += weight[j * D + i] * pooled[i];
        out[j] = acc;
    }
    return out;
}

int ClipTextEncoder::add_token_rows(const Tensor& rows, const std::string& source) {
    const int64_t D = config_.width;
    if (rows.shape().size() != 2 || rows.dim(1) != D)
        fail(source, ": its vectors are ", shape_str(rows.shape()), ", this text encoder takes ", D, "-wide token embeddings");
    const int64_t before = extra_tokens_.numel() ? extra_tokens_.dim(0) : 0;
    Tensor grown({before + rows.dim(0), D});
    std::copy_n(extra_tokens_.data(), before * D, grown.data());
    std::copy_n(rows.data(), rows.numel(), grown.data() + before * D);
    extra_tokens_ = std::move(grown);
    return int(config_.vocab + before);
}

Tensor ClipTextEncoder::final_norm(const Tensor& x, const ForwardContext& ctx) const {
    Tensor y(x.shape());
    ctx.ops().layer_norm(x.data(), y.data(), x.dim(0), x.dim(1), 1e-5f, final_ln_w_.data(), final_ln_b_.data());
    return y;
}

ClipTextOutput ClipTextEncoder::forward(const std::vector<int>& ids, const ForwardContext& ctx) const {
    const ClipTextConfig& c = config_;
    const int64_t T = c.context, D = c.width;
    if (int64_t(ids.size()) != T) fail("text encoder: expected ", T, " token ids, got ", ids.size());

    // x = token_embedding[ids] + position_embedding
    Tensor x({T, D});
    for (int64_t t = 0; t < T; ++t) {
        const int id = ids[size_t(t)];
        const int64_t extra = extra_tokens_.numel() ? extra_tokens_.dim(0) : 0;
        if (id < 0 || id >= c.vocab + extra)
            fail("text encoder: token id ", id, " is outside the vocabulary (", c.vocab, extra ? " and the embeddings' ids" : "", ")");
        float* xr = x.data() + t * D;
        if (id >= c.vocab) {
            std::copy_n(extra_tokens_.data() + (id - c.vocab) * D, D, xr);
            for (int64_t i = 0; i < D; ++i) xr[i] += position_embedding_[t * D + i];
            continue;
        }
        token_embedding_.rows_to_f32(id, 1, xr);
        for (int64_t i = 0; i < D; ++i) xr[i] += position_embedding_[t * D + i];
    }

    ClipTextOutput out;
    out.hidden.push_back(x);
    for (size_t l = 0; l < layers_.size(); ++l) {
        clip_layer_forward(ctx, layers_[l], x, c.heads, /*causal=*/true, c.act);
        if (ctx.stream_weights && weights_) weights_->release(layer_prefixes_[l]);
        out.hidden.push_back(x);
    }
    out.last_hidden = final_norm(x, ctx);
    // pooled: at the end token's first position (without one, the largest id's, as CLIP's argmax)
    const auto end = std::find(ids.begin(), ids.end(), ClipTokenizer::kEndOfText);
    const int64_t eos = (end != ids.end() ? end : std::max_element(ids.begin(), ids.end())) - ids.begin();
    out.pooled = Tensor({D}, std::vector<float>(out.last_hidden.data() + eos * D, out.last_hidden.data() + (eos + 1) * D));
    return out;
}

Tensor ClipTextEncoder::encode(const std::vector<int>& ids, int clip_skip) const {
    if (clip_skip < 1 || clip_skip > config_.layers) fail("--clip-skip must be between 1 and ", config_.layers, ", got ", clip_skip);
    const ClipTextOutput o = forward(ids);
    return clip_skip == 1 ? o.last_hidden : final_norm(o.hidden[size_t(config_.layers - clip_skip + 1)]);
}

}  // namespace sdref
