#include "models/mmdit.h"

#include <cmath>

#include "core/error.h"

namespace sdref {

namespace {

MmditAttention load_attention(const WeightStore& w, const std::string& p, int64_t H, int64_t head_dim, bool proj) {
    MmditAttention a;
    a.qkv = Linear::load(w, p + "qkv", 3 * H, H);
    a.ln_q = w.vector(p + "ln_q.weight", {head_dim});
    a.ln_k = w.vector(p + "ln_k.weight", {head_dim});
    a.has_proj = proj;
    if (proj) a.proj = Linear::load(w, p + "proj", H, H);
    return a;
}

MmditStream load_stream(const WeightStore& w, const std::string& p, int64_t H, int64_t head_dim) {
    MmditStream s;
    const int64_t chunks = w.shape_of(p + "adaLN_modulation.1.weight").at(0) / H;
    if (chunks != 2 && chunks != 6 && chunks != 9) fail(w.describe(), ": ", p, "adaLN_modulation.1 gives ", chunks, " x ", H, " values (2, 6 or 9)");
    s.pre_only = chunks == 2;
    s.has_attn2 = chunks == 9;
    s.modulation = Linear::load(w, p + "adaLN_modulation.1", chunks * H, H);
    s.attn = load_attention(w, p + "attn.", H, head_dim, !s.pre_only);
    if (s.has_attn2) s.attn2 = load_attention(w, p + "attn2.", H, head_dim, true);
    if (!s.pre_only) {
        const int64_t F = w.shape_of(p + "mlp.fc1.weight").at(0);
        s.fc1 = Linear::load(w, p + "mlp.fc1", F, H);
        s.fc2 = Linear::load(w, p + "mlp.fc2", H, F);
    }
    return s;
}

// y = LN(x) (1 + scale) + shift per token (LayerNorm without affine, eps 1e-6)
Tensor modulate(const ForwardContext& ctx, const Tensor& x, const float* shift, const float* scale) {
    const int64_t n = x.dim(0), H = x.dim(1);
    Tensor y = Tensor::uninitialized({n, H});
    std::vector<float> ones(size_t(H), 1.0f), zeros(size_t(H), 0.0f);
    ctx.ops().layer_norm(x.data(), y.data(), n, H, 1e-6f, ones.data(), zeros.data());
    for (int64_t r = 0; r < n; ++r)
        for (int64_t i = 0; i < H; ++i) y[r * H + i] = y[r * H + i] * (1 + scale[i]) + shift[i];
    return y;
}

// x += gate * y per token
void add_gated(Tensor& x, const Tensor& y, const float* gate) {
    const int64_t n = x.dim(0), H = x.dim(1);
    for (int64_t r = 0; r < n; ++r)
        for (int64_t i = 0; i < H; ++i) x[r * H + i] += gate[i] * y[r * H + i];
}

// qkv of one stream's tokens [n, 3H] -> q, k, v rows written at `row` of the joint [N, H] matrices, q and k RMS-normed per head
void project_qkv(const ForwardContext& ctx, const MmditAttention& a, const Tensor& x, int64_t heads, int64_t head_dim, Tensor& q,
                 Tensor& k, Tensor& v, int64_t row) {
    const int64_t n = x.dim(0), H = heads * head_dim;
    Tensor qkv = Tensor::uninitialized({n, 3 * H});
    linear_forward(ctx, a.qkv, x.data(), n, H, qkv.data(), 3 * H);
    for (int64_t r = 0; r < n; ++r) {
        std::copy_n(qkv.data() + r * 3 * H, H, q.data() + (row + r) * H);
        std::copy_n(qkv.data() + r * 3 * H + H, H, k.data() + (row + r) * H);
        std::copy_n(qkv.data() + r * 3 * H + 2 * H, H, v.data() + (row + r) * H);
    }
    float* qr = q.data() + row * H;
    float* kr = k.data() + row * H;
    ctx.ops().rms_norm(qr, qr, n * heads, head_dim, 1e-6f, a.ln_q.data());
    ctx.ops().rms_norm(kr, kr, n * heads, head_dim, 1e-6f, a.ln_k.data());
}

// softmax(q k^T / sqrt(d)) v over all N tokens, per head
Tensor attend(const ForwardContext& ctx, const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, int64_t head_dim) {
    const int64_t N = q.dim(0), H = heads * head_dim;
    Tensor o = Tensor::uninitialized({N, H});
    ctx.ops().attention({heads, head_dim, N, N, false}, q.data(), H, k.data(), H, v.data(), H, o.data(), H,
                        1.0f / std::sqrt(float(head_dim)), ctx.precision);
    return o;
}

Tensor rows_of(const Tensor& t, int64_t first, int64_t n) {
    const int64_t H = t.dim(1);
    return Tensor({n, H}, std::vector<float>(t.data() + first * H, t.data() + (first + n) * H));
}

Tensor mlp(const ForwardContext& ctx, const MmditStream& s, const Tensor& x) {
    const int64_t n = x.dim(0), H = x.dim(1), F = s.fc1.weight.rows;
    Tensor h = Tensor::uninitialized({n, F}), y = Tensor::uninitialized({n, H});
    linear_forward(ctx, s.fc1, x.data(), n, H, h.data(), F, nullptr, kernels::Activation::GeluTanh);
    linear_forward(ctx, s.fc2, h.data(), n, F, y.data(), H);
    return y;
}

// linear(silu(y)) for a modulation
std::vector<float> modulation(const ForwardContext& ctx, const Linear& l, const std::vector<float>& y_silu) {
    std::vector<float> m(size_t(l.weight.rows));
    linear_forward(ctx, l, y_silu.data(), 1, int64_t(y_silu.size()), m.data(), l.weight.rows);
    return m;
}

}  // namespace

Mmdit Mmdit::load(std::shared_ptr<const WeightStore> store, const std::string& p) {
    const WeightStore& w = *store;
    Mmdit m;
    m.weights_ = store;
    m.prefix_ = p;
    if (!w.has(p + "x_embedder.proj.weight")) fail(w.describe(), ": no MMDiT under \"", p, "\" (no x_embedder.proj.weight)");
    const Shape proj = w.shape_of(p + "x_embedder.proj.weight");
    if (proj.size() != 4 || proj[2] != proj[3]) fail(w.describe(), ": x_embedder.proj.weight has shape ", shape_str(proj));
    m.hidden_ = proj[0], m.in_channels_ = proj[1];
    const int64_t H = m.hidden_;
    m.head_dim_ = w.shape_of(p + "joint_blocks.0.x_block.attn.ln_q.weight").at(0);
    if (H % m.head_dim_) fail(w.describe(), ": the width ", H, " is not a multiple of the head size ", m.head_dim_);
    m.heads_ = H / m.head_dim_;
    m.patch_ = Conv::load(w, p + "x_embedder.proj", H, m.in_channels_, proj[2]);
    const Shape pos = w.shape_of(p + "pos_embed");
    m.pos_side_ = int64_t(std::lround(std::sqrt(double(pos.at(1)))));
    if (pos.size() != 3 || m.pos_side_ * m.pos_side_ != pos[1] || pos[2] != H) fail(w.describe(), ": pos_embed has shape ", shape_str(pos));
    m.pos_embed_ = w.matrix(p + "pos_embed", pos);
    m.pos_embed_.rows = pos[1], m.pos_embed_.cols = H;  // (one row per position)
    m.t1_ = Linear::load(w, p + "t_embedder.mlp.0", H, w.shape_of(p + "t_embedder.mlp.0.weight").at(1));
    m.t2_ = Linear::load(w, p + "t_embedder.mlp.2", H, H);
    m.y1_ = Linear::load(w, p + "y_embedder.mlp.0", H, w.shape_of(p + "y_embedder.mlp.0.weight").at(1));
    m.y2_ = Linear::load(w, p + "y_embedder.mlp.2", H, H);
    m.context_embedder_ = Linear::load(w, p + "context_embedder", H, w.shape_of(p + "context_embedder.weight").at(1));
    for (int64_t i = 0; w.has(p + "joint_blocks." + std::to_string(i) + ".x_block.attn.qkv.weight"); ++i) {
        const std::string bp = p + "joint_blocks." + std::to_string(i) + ".";
        m.blocks_.push_back({load_stream(w, bp + "x_block.", H, m.head_dim_), load_stream(w, bp + "context_block.", H, m.head_dim_)});
    }
    if (m.blocks_.empty()) fail(w.describe(), ": an MMDiT without joint blocks");
    m.final_modulation_ = Linear::load(w, p + "final_layer.adaLN_modulation.1", 2 * H, H);
    const int64_t out = w.shape_of(p + "final_layer.linear.weight").at(0);
    m.out_channels_ = out / (m.patch_.kernel * m.patch_.kernel);
    m.final_linear_ = Linear::load(w, p + "final_layer.linear", out, H);
    return m;
}

Tensor Mmdit::forward(const Tensor& x_in, float t, const Tensor& context, const Tensor& pooled, const std::set<int>& skip_layers,
                      const ForwardContext& ctx) const {
    const int64_t H = hidden_, p = patch_.kernel, C = x_in.shape().size() == 3 ? x_in.dim(0) : 0;
    if (x_in.shape().size() != 3 || C != in_channels_ || x_in.dim(1) % p || x_in.dim(2) % p)
        fail("MMDiT: the latents must be [", in_channels_, ", h, w] with h and w multiples of ", p, ", got ", shape_str(x_in.shape()));
    const int64_t gh = x_in.dim(1) / p, gw = x_in.dim(2) / p, N = gh * gw, L = context.dim(0);
    if (gh > pos_side_ || gw > pos_side_) fail("MMDiT: ", gh, "x", gw, " patches exceed the position table's ", pos_side_, "x", pos_side_);
    // x tokens: patches (a 2x2 stride-2 conv) plus the position table's centre crop
    const Tensor patches = conv_forward(ctx, patch_, x_in, p, 0);  // [H, gh, gw]
    Tensor x = Tensor::uninitialized({N, H});
    const int64_t top = (pos_side_ - gh) / 2, left = (pos_side_ - gw) / 2;
    for (int64_t i = 0; i < gh; ++i) {
        pos_embed_.rows_to_f32((top + i) * pos_side_ + left, gw, x.data() + i * gw * H);  // the crop's row i
        for (int64_t j = 0; j < gw; ++j)
            for (int64_t c = 0; c < H; ++c) x[(i * gw + j) * H + c] += patches[(c * gh + i) * gw + j];
    }
    // c tokens
    Tensor c = Tensor::uninitialized({L, H});
    linear_forward(ctx, context_embedder_, context.data(), L, context.dim(1), c.data(), H);
    // y = t_embedder(sinusoid(t)) + y_embedder(pooled); the modulations read silu(y)
    const std::vector<float> freq = timestep_embedding(t, t1_.weight.cols);
    const size_t width = static_cast<size_t>(H);
    std::vector<float> h1(width), y(width), h2(width), ye(width);
    linear_forward(ctx, t1_, freq.data(), 1, int64_t(freq.size()), h1.data(), H, nullptr, kernels::Activation::Silu);
    linear_forward(ctx, t2_, h1.data(), 1, H, y.data(), H);
    linear_forward(ctx, y1_, pooled.data(), 1, pooled.numel(), h2.data(), H, nullptr, kernels::Activation::Silu);
    linear_forward(ctx, y2_, h2.data(), 1, H, ye.data(), H);
    for (int64_t i = 0; i < H; ++i) y[size_t(i)] += ye[size_t(i)];
    std::vector<float> y_silu = y;
    ctx.ops().activation(y_silu.data(), H, kernels::Activation::Silu);

    const WeightStream stream = WeightStream::of(ctx, weights_.get(), prefix_);
    for (size_t b = 0; b < blocks_.size(); ++b) {
        if (skip_layers.count(int(b))) continue;  // (skip-layer guidance: both streams pass unchanged)
        const auto in_use = stream.use("joint_blocks." + std::to_string(b) + ".");  // (--low-memory: one block resident)
        const MmditStream& xs = blocks_[b].x;
        const MmditStream& cs = blocks_[b].context;
        const std::vector<float> xm = modulation(ctx, xs.modulation, y_silu), cm = modulation(ctx, cs.modulation, y_silu);
        auto xchunk = [&](int i) { return xm.data() + i * H; };
        auto cchunk = [&](int i) { return cm.data() + i * H; };
        // joint attention over [x tokens; c tokens]
        const Tensor xn = modulate(ctx, x, xchunk(0), xchunk(1));
        const Tensor cn = modulate(ctx, c, cchunk(0), cchunk(1));
        Tensor q = Tensor::uninitialized({N + L, H}), k = Tensor::uninitialized({N + L, H}), v = Tensor::uninitialized({N + L, H});
        project_qkv(ctx, xs.attn, xn, heads_, head_dim_, q, k, v, 0);
        project_qkv(ctx, cs.attn, cn, heads_, head_dim_, q, k, v, N);
        const Tensor o = attend(ctx, q, k, v, heads_, head_dim_);
        Tensor xo = Tensor::uninitialized({N, H});
        linear_forward(ctx, xs.attn.proj, o.data(), N, H, xo.data(), H);
        // MMDiT-X: a second attention on x alone, from the same normalised x with its own modulation
        Tensor x2n;
        if (xs.has_attn2) x2n = modulate(ctx, x, xchunk(6), xchunk(7));
        add_gated(x, xo, xchunk(2));
        if (xs.has_attn2) {
            Tensor q2 = Tensor::uninitialized({N, H}), k2 = Tensor::uninitialized({N, H}), v2 = Tensor::uninitialized({N, H});
            project_qkv(ctx, xs.attn2, x2n, heads_, head_dim_, q2, k2, v2, 0);
            const Tensor o2 = attend(ctx, q2, k2, v2, heads_, head_dim_);
            Tensor x2o = Tensor::uninitialized({N, H});
            linear_forward(ctx, xs.attn2.proj, o2.data(), N, H, x2o.data(), H);
            add_gated(x, x2o, xchunk(8));
        }
        add_gated(x, mlp(ctx, xs, modulate(ctx, x, xchunk(3), xchunk(4))), xchunk(5));
        // the context stream (the last block's is pre-only: its output is not used)
        if (!cs.pre_only) {
            const Tensor co_rows = rows_of(o, N, L);
            Tensor co = Tensor::uninitialized({L, H});
            linear_forward(ctx, cs.attn.proj, co_rows.data(), L, H, co.data(), H);
            add_gated(c, co, cchunk(2));
            add_gated(c, mlp(ctx, cs, modulate(ctx, c, cchunk(3), cchunk(4))), cchunk(5));
        }
    }
    // final layer: modulated LN, linear to p p C per token, unpatchify
    const std::vector<float> fm = modulation(ctx, final_modulation_, y_silu);
    const Tensor xf = modulate(ctx, x, fm.data(), fm.data() + H);
    const int64_t F = final_linear_.weight.rows;
    Tensor f = Tensor::uninitialized({N, F});
    linear_forward(ctx, final_linear_, xf.data(), N, H, f.data(), F);
    Tensor out = Tensor::uninitialized({out_channels_, gh * p, gw * p});
    for (int64_t i = 0; i < gh; ++i)
        for (int64_t j = 0; j < gw; ++j)
            for (int64_t pr = 0; pr < p; ++pr)
                for (int64_t pc = 0; pc < p; ++pc)
                    for (int64_t ch = 0; ch < out_channels_; ++ch)
                        out[(ch * gh * p + i * p + pr) * gw * p + j * p + pc] = f[(i * gw + j) * F + (pr * p + pc) * out_channels_ + ch];
    return out;
}

int64_t Mmdit::dual_attention_blocks() const {
    int64_t n = 0;
    for (const MmditBlock& b : blocks_) n += b.x.has_attn2;
    return n;
}

int64_t Mmdit::forward_bytes(int64_t h, int64_t w, int64_t tokens) const {
    // per token: x, c and their normalised copies, q, k, v, the attention output and projection (10 H), the MLP's
    // hidden layer (4 H), the second attention's (5 H); the tiled attention keeps no score matrix
    const int64_t p = patch_.kernel, n = (h / p) * (w / p) + tokens;
    return (19 * hidden_ + 4 * hidden_) * n * int64_t(sizeof(float));
}

double Mmdit::forward_flops(int64_t h, int64_t w, int64_t tokens) const {
    const double p = double(patch_.kernel), N = double(h / patch_.kernel) * double(w / patch_.kernel), L = double(tokens);
    const double H = double(hidden_), C = double(in_channels_);
    double f = 2 * N * C * p * p * H + 2 * L * double(context_width()) * H + 2 * N * H * double(final_linear_.weight.rows);
    for (const MmditBlock& b : blocks_) {
        const double T = N + L, F = double(b.x.fc1.weight.rows);
        f += 2 * T * H * 3 * H + 2 * T * T * H * 2;                           // qkv of both streams; QK^T, AV over all tokens
        f += 2 * N * H * H + 2 * N * H * F * 2;                              // x: proj, MLP
        if (!b.context.pre_only) f += 2 * L * H * H + 2 * L * H * double(b.context.fc1.weight.rows) * 2;
        if (b.x.has_attn2) f += 2 * N * H * 4 * H + 2 * N * N * H * 2;       // attn2: qkv, proj; QK^T, AV over x
    }
    return f;
}

}  // namespace sdref
