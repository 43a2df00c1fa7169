#include "models/blocks.h"

#include <cmath>

#include "core/error.h"

namespace sdref {

using kernels::Activation;
using kernels::ElemType;
using kernels::GemmEpilogue;

namespace {

const float* bias_or_null(const Tensor& b) { return b.numel() ? b.data() : nullptr; }

using kernels::activations;

// A weight [out, in] as the GEMM operand of K = in steps over W = out columns (A of a product that writes
// channels, B of one that writes tokens).
kernels::Operand weight_operand(const Matrix& w) { return kernels::weight_rows(w.data, w.type, w.cols); }

}  // namespace

void linear_forward(const ForwardContext& ctx, const Linear& l, const float* x, int64_t rows, int64_t ldx, float* y, int64_t ldy,
                    const float* residual, Activation act) {
    GemmEpilogue ep;
    ep.col_bias = bias_or_null(l.bias);
    ep.residual = residual;
    ep.activation = act;
    ctx.ops().matmul(rows, l.weight.rows, l.weight.cols, activations(x, 1, ldx), weight_operand(l.weight), y, ldy, ep, ctx.precision);
}

namespace {

// tokens[HW, out] = x^T · W^T + b for x [in, HW] (the GEMM reads x transposed in place).
void channels_to_tokens(const ForwardContext& ctx, const Linear& l, const float* x, int64_t hw, float* tokens) {
    const int64_t in = l.weight.cols, out = l.weight.rows;
    GemmEpilogue ep;
    ep.col_bias = bias_or_null(l.bias);
    ctx.ops().matmul(hw, out, in, activations(x, hw, 1), weight_operand(l.weight), tokens, out, ep, ctx.precision);
}

// y[out, HW] = W · tokens^T + b + residual for tokens [HW, in].
void tokens_to_channels(const ForwardContext& ctx, const Linear& l, const float* tokens, int64_t hw, float* y, const float* residual) {
    const int64_t in = l.weight.cols, out = l.weight.rows;
    GemmEpilogue ep;
    ep.row_bias = bias_or_null(l.bias);
    ep.residual = residual;
    ctx.ops().matmul(out, hw, in, weight_operand(l.weight), activations(tokens, 1, in), y, hw, ep, ctx.precision);
}

// Multi-head attention of `n` token rows x [n, in] to `m` context rows c [m, cin]; writes [n, inner] to o.
// q = x Wq, k = ck Wk, v = cv Wv (ck = cv = c unless a hook changes them), o = attention(q, k, v).
void attention_forward(const ForwardContext& ctx, const AttentionWeights& a, const float* x, int64_t n, const float* c, int64_t m, int64_t heads,
                       float* q, float* k, float* v, float* o, const ContextHook* hook) {
    const int64_t inner = a.q.weight.rows, width = a.k.weight.cols;
    linear_forward(ctx, a.q, x, n, a.q.weight.cols, q, inner);
    Tensor ck, cv;
    const bool changed = hook && hook->transform(ctx, c, m, width, &ck, &cv);
    linear_forward(ctx, a.k, changed ? ck.data() : c, m, width, k, inner);
    linear_forward(ctx, a.v, changed ? cv.data() : c, m, width, v, inner);
    const int64_t d = inner / heads;
    ctx.ops().attention({heads, d, n, m}, q, inner, k, inner, v, inner, o, inner, 1.0f / std::sqrt(float(d)), ctx.precision);
}

}  // namespace

std::vector<float> timestep_embedding(float t, int64_t dim) {
    const int64_t half = dim / 2;
    std::vector<float> emb(size_t(dim), 0.0f);
    for (int64_t i = 0; i < half; ++i) {
        const float exponent = float(-std::log(10000.0)) * float(i) / float(half);
        const float arg = t * std::exp(exponent);
        emb[size_t(i)] = std::cos(arg);
        emb[size_t(half + i)] = std::sin(arg);
    }
    return emb;
}

Norm Norm::load(const WeightStore& w, const std::string& name, int64_t channels) {
    return {w.vector(name + ".weight", {channels}), w.vector(name + ".bias", {channels})};
}

Linear Linear::load(const WeightStore& w, const std::string& name, int64_t out, int64_t in, bool bias) {
    Linear l;
    l.weight = w.matrix(name + ".weight", {out, in});
    if (bias) l.bias = w.vector(name + ".bias", {out});
    return l;
}

Linear Linear::load_1x1(const WeightStore& w, const std::string& name, int64_t out, int64_t in) {
    Linear l;
    const Shape s = w.shape_of(name + ".weight");
    l.weight = w.matrix(name + ".weight", s.size() == 4 ? Shape{out, in, 1, 1} : Shape{out, in});
    l.bias = w.vector(name + ".bias", {out});
    return l;
}

Conv Conv::load(const WeightStore& w, const std::string& name, int64_t out, int64_t in, int64_t kernel, bool bias) {
    Conv c;
    c.weight = w.matrix(name + ".weight", {out, in, kernel, kernel});
    if (bias) c.bias = w.vector(name + ".bias", {out});
    c.in = in;
    c.out = out;
    c.kernel = kernel;
    return c;
}

Tensor conv_forward(const ForwardContext& ctx, const Conv& c, const Tensor& x, int64_t stride, int64_t padding, int64_t padding_end,
                    const float* residual, kernels::Activation act) {
    if (x.shape().size() != 3 || x.dim(0) != c.in)
        fail("convolution with ", c.in, " input channels given a tensor of shape ", shape_str(x.shape()));
    kernels::Conv2dShape s{c.in, x.dim(1), x.dim(2), c.out, c.kernel, stride, padding < 0 ? (c.kernel - 1) / 2 : padding,
                           padding_end};
    Tensor y = Tensor::uninitialized({c.out, s.out_height(), s.out_width()});
    GemmEpilogue ep;
    ep.row_bias = c.bias.numel() ? c.bias.data() : nullptr;
    ep.residual = residual;
    ep.activation = act;
    ctx.ops().conv2d(s, x.data(), c.weight.data, c.weight.type, y.data(), ep, ctx.precision);
    return y;
}

ResBlock ResBlock::load_unet(const WeightStore& w, const std::string& p, int64_t in, int64_t out, int64_t emb) {
    ResBlock r;
    r.in = in;
    r.out = out;
    r.norm1 = Norm::load(w, p + "in_layers.0", in);
    r.conv1 = Conv::load(w, p + "in_layers.2", out, in, 3);
    r.emb = Linear::load(w, p + "emb_layers.1", out, emb);
    r.norm2 = Norm::load(w, p + "out_layers.0", out);
    r.conv2 = Conv::load(w, p + "out_layers.3", out, out, 3);
    r.has_skip = in != out;
    if (r.has_skip) r.skip = Conv::load(w, p + "skip_connection", out, in, 1);
    return r;
}

ResBlock ResBlock::load_vae(const WeightStore& w, const std::string& p, int64_t in, int64_t out) {
    ResBlock r;
    r.in = in;
    r.out = out;
    r.norm1 = Norm::load(w, p + "norm1", in);
    r.conv1 = Conv::load(w, p + "conv1", out, in, 3);
    r.norm2 = Norm::load(w, p + "norm2", out);
    r.conv2 = Conv::load(w, p + "conv2", out, out, 3);
    r.has_skip = in != out;
    if (r.has_skip) r.skip = Conv::load(w, p + "nin_shortcut", out, in, 1);
    return r;
}

kernels::GroupMoments* NormSequence::take() {
    if (!replay) return &norms.emplace_back();
    if (next >= norms.size()) fail("shared group norms: this pass has more group norms than the recorded one (", norms.size(), ")");
    kernels::GroupMoments* m = &norms[next++];
    m->given = true;
    return m;
}

namespace {

kernels::GroupMoments* next_norm(NormSequence* norms) { return norms ? norms->take() : nullptr; }

// Rows of tokens a transformer's feed-forward processes at a time: its GEGLU projection is rows x 2F floats,
// 10.5 MB for 1024 of SD 1.5's 64x64 tokens (F = 1280) where all 4096 would take 42 MB (SDXL's 4096 tokens at
// F = 2560: 84 MB)
constexpr int64_t kFeedForwardRows = 1024;

}  // namespace

Tensor resblock_forward(const ForwardContext& ctx, const ResBlock& r, const Tensor& x, const float* emb_silu, int64_t groups, float eps, NormSequence* norms,
                        const WeightStream& stream) {
    const WeightStream::InUse weights = stream.use();
    const int64_t hw = x.dim(1) * x.dim(2);
    // h = conv1(silu(norm1(x)))
    Tensor h = Tensor::uninitialized(x.shape());
    ctx.ops().group_norm(x.data(), h.data(), r.in, hw, groups, eps, r.norm1.weight.data(), r.norm1.bias.data(), Activation::Silu,
                        next_norm(norms));
    h = conv_forward(ctx, r.conv1, h);
    // h += emb_proj(silu(emb)), one value per channel
    if (emb_silu) {
        std::vector<float> e(static_cast<size_t>(r.out));
        linear_forward(ctx, r.emb, emb_silu, 1, r.emb.weight.cols, e.data(), r.out);
        ctx.ops().add_per_channel(h.data(), e.data(), r.out, hw);
    }
    // y = skip(x) + conv2(silu(norm2(h)))
    ctx.ops().group_norm(h.data(), h.data(), r.out, hw, groups, eps, r.norm2.weight.data(), r.norm2.bias.data(), Activation::Silu,
                        next_norm(norms));
    if (!r.has_skip) return conv_forward(ctx, r.conv2, h, 1, -1, -1, x.data());
    return conv_forward(ctx, r.conv2, h, 1, -1, -1, conv_forward(ctx, r.skip, x).data());
}

SpatialTransformer SpatialTransformer::load(const WeightStore& w, const std::string& p, int64_t channels, int64_t heads) {
    SpatialTransformer st;
    st.channels = channels;
    st.norm = Norm::load(w, p + "norm", channels);
    st.inner = w.shape_of(p + "proj_in.weight").at(0);
    st.proj_in = Linear::load_1x1(w, p + "proj_in", st.inner, channels);
    st.heads = heads;
    if (st.inner % heads != 0) fail(w.describe(), ": ", p, " has ", st.inner, " channels, not divisible by ", heads, " heads");
    const int64_t D = st.inner;
    for (int64_t b = 0; w.has(p + "transformer_blocks." + std::to_string(b) + ".norm1.weight"); ++b) {
        const std::string q = p + "transformer_blocks." + std::to_string(b) + ".";
        TransformerBlock t;
        t.norm1 = Norm::load(w, q + "norm1", D);
        t.norm2 = Norm::load(w, q + "norm2", D);
        t.norm3 = Norm::load(w, q + "norm3", D);
        st.context_dim = w.shape_of(q + "attn2.to_k.weight").at(1);
        t.attn1 = {Linear::load(w, q + "attn1.to_q", D, D, false), Linear::load(w, q + "attn1.to_k", D, D, false),
                   Linear::load(w, q + "attn1.to_v", D, D, false), Linear::load(w, q + "attn1.to_out.0", D, D)};
        t.attn2 = {Linear::load(w, q + "attn2.to_q", D, D, false), Linear::load(w, q + "attn2.to_k", D, st.context_dim, false),
                   Linear::load(w, q + "attn2.to_v", D, st.context_dim, false), Linear::load(w, q + "attn2.to_out.0", D, D)};
        const int64_t ff2x = w.shape_of(q + "ff.net.0.proj.weight").at(0);
        t.ff1 = Linear::load(w, q + "ff.net.0.proj", ff2x, D);
        t.ff2 = Linear::load(w, q + "ff.net.2", D, ff2x / 2);
        st.blocks.push_back(std::move(t));
    }
    if (st.blocks.empty()) fail(w.describe(), ": ", p, " has no transformer_blocks");
    st.proj_out = Linear::load_1x1(w, p + "proj_out", channels, st.inner);
    return st;
}

Tensor spatial_transformer_forward(const ForwardContext& ctx, const SpatialTransformer& st, const Tensor& x, const Tensor& context, int64_t groups,
                                   const ContextHook* hook, const WeightStream& stream) {
    const int64_t hw = x.dim(1) * x.dim(2), D = st.inner, C = st.channels, m = context.dim(0);
    if (context.dim(1) != st.context_dim)
        fail("text conditioning is ", context.dim(1), " wide, the U-Net's cross-attention expects ", st.context_dim);
    const WeightStream::InUse weights = stream.hold();  // (its blocks map themselves in, one at a time)
    // tokens = proj_in(groupnorm(x))^T   [HW, D]
    stream.about_to_use("norm.");
    stream.about_to_use("proj_in.");
    Tensor h = Tensor::uninitialized(x.shape());
    ctx.ops().group_norm(x.data(), h.data(), C, hw, groups, 1e-6f, st.norm.weight.data(), st.norm.bias.data(), Activation::None, nullptr);
    Tensor tokens({hw, D}), t({hw, D}), next({hw, D}), q({hw, D}), k({std::max(hw, m), D}), v({std::max(hw, m), D}),
        o({hw, D});
    channels_to_tokens(ctx, st.proj_in, h.data(), hw, tokens.data());
    int64_t widest = 0;  // the feed-forwards' inner width F
    for (const TransformerBlock& b : st.blocks) widest = std::max(widest, b.ff2.weight.cols);
    const int64_t chunk = std::min<int64_t>(hw, kFeedForwardRows);
    Tensor proj({chunk, 2 * widest}), gated({chunk, widest});
    for (size_t i = 0; i < st.blocks.size(); ++i) {
        const TransformerBlock& b = st.blocks[i];
        const WeightStream::InUse block = stream.use("transformer_blocks." + std::to_string(i) + ".");
        // tokens += attn1(norm1(tokens))
        ctx.ops().layer_norm(tokens.data(), t.data(), hw, D, 1e-5f, b.norm1.weight.data(), b.norm1.bias.data());
        attention_forward(ctx, b.attn1, t.data(), hw, t.data(), hw, st.heads, q.data(), k.data(), v.data(), o.data(), hook);
        linear_forward(ctx, b.attn1.out, o.data(), hw, D, next.data(), D, tokens.data());
        std::swap(tokens, next);
        // tokens += attn2(norm2(tokens), context)
        ctx.ops().layer_norm(tokens.data(), t.data(), hw, D, 1e-5f, b.norm2.weight.data(), b.norm2.bias.data());
        attention_forward(ctx, b.attn2, t.data(), hw, context.data(), m, st.heads, q.data(), k.data(), v.data(), o.data(), hook);
        linear_forward(ctx, b.attn2.out, o.data(), hw, D, next.data(), D, tokens.data());
        std::swap(tokens, next);
        // tokens += ff2(geglu(ff1(norm3(tokens))))
        ctx.ops().layer_norm(tokens.data(), t.data(), hw, D, 1e-5f, b.norm3.weight.data(), b.norm3.bias.data());
        const int64_t F = b.ff2.weight.cols;
        // (kFeedForwardRows rows at a time; every row is computed alone, so the chunks give the bits of one pass)
        for (int64_t r0 = 0; r0 < hw; r0 += chunk) {
            const int64_t rows = std::min(chunk, hw - r0);
            linear_forward(ctx, b.ff1, t.data() + r0 * D, rows, D, proj.data(), 2 * F);
            ctx.ops().geglu(proj.data(), gated.data(), rows, F);
            linear_forward(ctx, b.ff2, gated.data(), rows, F, next.data() + r0 * D, D, tokens.data() + r0 * D);
        }
        std::swap(tokens, next);
    }
    stream.about_to_use("proj_out.");
    // y = x + proj_out(tokens)^T
    Tensor y = Tensor::uninitialized(x.shape());
    tokens_to_channels(ctx, st.proj_out, tokens.data(), hw, y.data(), x.data());
    return y;
}

VaeAttention VaeAttention::load(const WeightStore& w, const std::string& p, int64_t channels) {
    VaeAttention a;
    a.channels = channels;
    const int64_t C = channels;
    a.norm = Norm::load(w, p + "norm", C);
    if (w.has(p + "to_q.weight")) {
        a.attn = {Linear::load_1x1(w, p + "to_q", C, C), Linear::load_1x1(w, p + "to_k", C, C),
                  Linear::load_1x1(w, p + "to_v", C, C), Linear::load_1x1(w, p + "to_out.0", C, C)};
    } else {  // the original LDM names: 1x1 convolutions q, k, v, proj_out
        a.attn = {Linear::load_1x1(w, p + "q", C, C), Linear::load_1x1(w, p + "k", C, C), Linear::load_1x1(w, p + "v", C, C),
                  Linear::load_1x1(w, p + "proj_out", C, C)};
    }
    return a;
}

Tensor vae_attention_forward(const ForwardContext& ctx, const VaeAttention& a, const Tensor& x, int64_t groups, NormSequence* norms) {
    const int64_t hw = x.dim(1) * x.dim(2), C = a.channels;
    Tensor h = Tensor::uninitialized(x.shape());
    ctx.ops().group_norm(x.data(), h.data(), C, hw, groups, 1e-6f, a.norm.weight.data(), a.norm.bias.data(), Activation::None,
                        next_norm(norms));
    // q, k, v = projections of the normalised pixels as tokens [HW, C]; one head of width C
    Tensor q = Tensor::uninitialized({hw, C}), k = Tensor::uninitialized({hw, C}), v = Tensor::uninitialized({hw, C}),
           o = Tensor::uninitialized({hw, C});
    channels_to_tokens(ctx, a.attn.q, h.data(), hw, q.data());
    channels_to_tokens(ctx, a.attn.k, h.data(), hw, k.data());
    channels_to_tokens(ctx, a.attn.v, h.data(), hw, v.data());
    ctx.ops().attention({1, C, hw, hw}, q.data(), C, k.data(), C, v.data(), C, o.data(), C, 1.0f / std::sqrt(float(C)), ctx.precision);
    // y = x + to_out(o)^T
    Tensor y = Tensor::uninitialized(x.shape());
    tokens_to_channels(ctx, a.attn.out, o.data(), hw, y.data(), x.data());
    return y;
}

// --- arithmetic work: 2 flops per multiply-add of the GEMMs and attention products (norms, activations and
// element-wise steps are not counted) ---

double conv_flops(const Conv& c, int64_t out_hw) { return 2.0 * double(c.weight.rows) * double(c.weight.cols) * double(out_hw); }

double resblock_flops(const ResBlock& r, int64_t hw) {
    return conv_flops(r.conv1, hw) + conv_flops(r.conv2, hw) + (r.has_skip ? conv_flops(r.skip, hw) : 0.0);
}

double spatial_transformer_flops(const SpatialTransformer& st, int64_t hw, int64_t context_tokens) {
    const double n = double(hw), m = double(context_tokens), D = double(st.inner), C = double(st.channels);
    double f = 2 * n * C * D * 2;  // proj_in, proj_out
    for (const TransformerBlock& b : st.blocks) {
        const double F = double(b.ff2.weight.cols), Dc = double(b.attn2.k.weight.cols);
        f += 2 * n * D * D * 4 + 2 * n * n * D * 2;                    // attn1: q, k, v, out; QK^T, AV
        f += 2 * n * D * D * 2 + 2 * m * Dc * D * 2 + 2 * n * m * D * 2;  // attn2: q, out; k, v of the context; QK^T, AV
        f += 2 * n * D * 2 * F + 2 * n * F * D;                         // ff1 (GEGLU: 2F outputs), ff2
    }
    return f;
}

}  // namespace sdref
