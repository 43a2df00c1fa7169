#include "models/t5.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/convert.h"

namespace sdref {

T5Encoder T5Encoder::load(std::shared_ptr<const WeightStore> store, const std::string& p) {
    const WeightStore& w = *store;
    T5Encoder t;
    t.weights_ = store;
    t.prefix_ = p;
    if (!w.has(p + "shared.weight")) fail(w.describe(), ": no T5 encoder under \"", p, "\" (no shared.weight)");
    const Shape embed = w.shape_of(p + "shared.weight");
    if (embed.size() != 2) fail(w.describe(), ": ", p, "shared.weight has shape ", shape_str(embed));
    t.d_ = embed[1];
    t.shared_ = w.matrix(p + "shared.weight", embed);
    const std::string b0 = p + "encoder.block.0.layer.0.SelfAttention.";
    const Shape rel = w.shape_of(b0 + "relative_attention_bias.weight");
    if (rel.size() != 2) fail(w.describe(), ": ", b0, "relative_attention_bias.weight has shape ", shape_str(rel));
    t.buckets_ = rel[0];
    t.heads_ = rel[1];
    t.relative_bias_ = w.vector(b0 + "relative_attention_bias.weight", rel);
    const int64_t inner = w.shape_of(b0 + "q.weight").at(0);
    if (inner % t.heads_) fail(w.describe(), ": ", b0, "q.weight's ", inner, " rows are not a multiple of ", t.heads_, " heads");
    t.d_kv_ = inner / t.heads_;
    t.d_ff_ = w.shape_of(p + "encoder.block.0.layer.1.DenseReluDense.wi_0.weight").at(0);
    for (int64_t i = 0; w.has(p + "encoder.block." + std::to_string(i) + ".layer.0.layer_norm.weight"); ++i) {
        const std::string bp = p + "encoder.block." + std::to_string(i) + ".layer.";
        T5Block b;
        b.ln_attention.weight = w.vector(bp + "0.layer_norm.weight", {t.d_});
        b.q = Linear::load(w, bp + "0.SelfAttention.q", inner, t.d_, false);
        b.k = Linear::load(w, bp + "0.SelfAttention.k", inner, t.d_, false);
        b.v = Linear::load(w, bp + "0.SelfAttention.v", inner, t.d_, false);
        b.o = Linear::load(w, bp + "0.SelfAttention.o", t.d_, inner, false);
        b.ln_ff.weight = w.vector(bp + "1.layer_norm.weight", {t.d_});
        b.wi_0 = Linear::load(w, bp + "1.DenseReluDense.wi_0", t.d_ff_, t.d_, false);
        b.wi_1 = Linear::load(w, bp + "1.DenseReluDense.wi_1", t.d_ff_, t.d_, false);
        b.wo = Linear::load(w, bp + "1.DenseReluDense.wo", t.d_, t.d_ff_, false);
        t.blocks_.push_back(std::move(b));
    }
    if (t.blocks_.empty()) fail(w.describe(), ": a T5 encoder without blocks under \"", p, "encoder.block.\"");
    t.final_norm_.weight = w.vector(p + "encoder.final_layer_norm.weight", {t.d_});
    return t;
}

// bias[h][i][j] = relative_attention_bias[bucket(j - i)][h], T5's bidirectional buckets
std::vector<float> T5Encoder::position_bias(int64_t n) const {
    const int64_t half = buckets_ / 2, exact = half / 2;
    std::vector<float> bias(size_t(heads_ * n * n));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
            const int64_t rel = j - i, distance = std::abs(rel);
            int64_t bucket = rel > 0 ? half : 0;
            if (distance < exact) {
                bucket += distance;
            } else {  // (the float32 arithmetic of transformers, truncated to an integer)
                const float large = float(exact) + std::log(float(distance) / float(exact)) / std::log(float(kMaxDistance) / float(exact)) *
                                                       float(half - exact);
                bucket += std::min<int64_t>(int64_t(large), half - 1);
            }
            for (int64_t h = 0; h < heads_; ++h) bias[size_t((h * n + i) * n + j)] = relative_bias_[bucket * heads_ + h];
        }
    return bias;
}

Tensor T5Encoder::forward(const std::vector<int>& ids, const ForwardContext& ctx) const {
    const kernels::Backend& ops = ctx.ops();
    const int64_t n = int64_t(ids.size()), d = d_, inner = heads_ * d_kv_;
    // x = shared[ids]
    Tensor x = Tensor::uninitialized({n, d});
    for (int64_t r = 0; r < n; ++r) {
        if (ids[size_t(r)] < 0 || ids[size_t(r)] >= shared_.rows) fail("T5: token id ", ids[size_t(r)], " is outside the vocabulary of ", shared_.rows);
        shared_.rows_to_f32(ids[size_t(r)], 1, x.data() + r * d);
    }
    const std::vector<float> bias = position_bias(n);
    Tensor h = Tensor::uninitialized({n, d}), q = Tensor::uninitialized({n, inner}), k = Tensor::uninitialized({n, inner}),
           v = Tensor::uninitialized({n, inner}), o = Tensor::uninitialized({n, inner}), scores = Tensor::uninitialized({n, n}),
           gate = Tensor::uninitialized({n, d_ff_}), up = Tensor::uninitialized({n, d_ff_});
    const WeightStream stream = WeightStream::of(ctx, weights_.get(), prefix_);
    for (size_t i = 0; i < blocks_.size(); ++i) {
        const T5Block& b = blocks_[i];
        const auto in_use = stream.use("encoder.block." + std::to_string(i) + ".");  // (--low-memory: one block resident)
        // x += o(softmax(q k^T + bias) v), per head, on rms(x)
        ops.rms_norm(x.data(), h.data(), n, d, kEps, b.ln_attention.weight.data());
        linear_forward(ctx, b.q, h.data(), n, d, q.data(), inner);
        linear_forward(ctx, b.k, h.data(), n, d, k.data(), inner);
        linear_forward(ctx, b.v, h.data(), n, d, v.data(), inner);
        for (int64_t hd = 0; hd < heads_; ++hd) {
            const float* bh = bias.data() + hd * n * n;
            kernels::GemmEpilogue with_bias;
            with_bias.residual = bh;  // scores = q_h k_h^T + bias_h
            ops.matmul(n, n, d_kv_, kernels::activations(q.data() + hd * d_kv_, 1, inner), kernels::activations(k.data() + hd * d_kv_, 1, inner),
                       scores.data(), n, with_bias, ctx.precision);
            ops.softmax_rows(scores.data(), n, n);
            ops.matmul(n, d_kv_, n, kernels::activations(scores.data(), 1, n), kernels::activations(v.data() + hd * d_kv_, inner, 1),
                       o.data() + hd * d_kv_, inner, {}, ctx.precision);
        }
        linear_forward(ctx, b.o, o.data(), n, inner, h.data(), d, x.data());  // (the residual must not alias the output)
        std::swap(x, h);
        // x += wo(gelu_tanh(wi_0 h) * wi_1 h), on rms(x)
        ops.rms_norm(x.data(), h.data(), n, d, kEps, b.ln_ff.weight.data());
        linear_forward(ctx, b.wi_0, h.data(), n, d, gate.data(), d_ff_, nullptr, kernels::Activation::GeluTanh);
        linear_forward(ctx, b.wi_1, h.data(), n, d, up.data(), d_ff_);
        ops.mul(gate.data(), up.data(), gate.data(), n * d_ff_);
        linear_forward(ctx, b.wo, gate.data(), n, d_ff_, h.data(), d, x.data());
        std::swap(x, h);
    }
    Tensor out = Tensor::uninitialized({n, d});
    ops.rms_norm(x.data(), out.data(), n, d, kEps, final_norm_.weight.data());
    return out;
}

}  // namespace sdref
