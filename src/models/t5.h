// t5.h: the T5 v1.1 encoder (T5-XXL for SD 3.x; T5EncoderModel), read off its tensors.
//
//   x = shared[ids]                                                   [n, d]
//   per block (encoder.block.N):
//     x += o(attention(rms(x) · layer.0.layer_norm))                  no 1/sqrt(d_kv) scale; + the position bias
//     x += wo(gelu_tanh(wi_0 h) * wi_1 h),  h = rms(x) · layer.1.layer_norm      (gated-GELU feed-forward)
//   out = rms(x) · final_layer_norm                                   rms(x) = x / sqrt(mean(x^2) + 1e-6)
// The position bias, computed once from block 0's relative_attention_bias [32 buckets, heads] and added in every
// block: bucket(j - i) for query i and key j, bidirectional: 16 buckets each way, exact below 8, logarithmic up to
// distance 128. No attention mask: SD 3's pipelines encode the padding like any other token.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/blocks.h"

namespace sdref {

struct T5Block {
    Norm ln_attention;           // layer.0.layer_norm [d] (weight only)
    Linear q, k, v;              // layer.0.SelfAttention.q/k/v [heads * d_kv, d]
    Linear o;                    // layer.0.SelfAttention.o [d, heads * d_kv]
    Norm ln_ff;                  // layer.1.layer_norm [d]
    Linear wi_0, wi_1;           // layer.1.DenseReluDense.wi_0/wi_1 [d_ff, d]
    Linear wo;                   // layer.1.DenseReluDense.wo [d, d_ff]
};

class T5Encoder {
public:
    // Tensors under `prefix` ("text_encoders.t5xxl.transformer.": shared.weight, encoder.block.N..., encoder.final_layer_norm).
    static T5Encoder load(std::shared_ptr<const WeightStore> w, const std::string& prefix);

    int64_t width() const { return d_; }
    // ids [n] -> last hidden state [n, d]
    Tensor forward(const std::vector<int>& ids, const ForwardContext& ctx = {}) const;

private:
    std::vector<float> position_bias(int64_t n) const;  // [heads, n, n]

    std::shared_ptr<const WeightStore> weights_;
    std::string prefix_;
    Matrix shared_;              // shared.weight [vocab, d]
    std::vector<T5Block> blocks_;
    Tensor relative_bias_;       // encoder.block.0.layer.0.SelfAttention.relative_attention_bias [buckets, heads]
    Norm final_norm_;            // encoder.final_layer_norm [d]
    int64_t d_ = 0, heads_ = 0, d_kv_ = 0, d_ff_ = 0, buckets_ = 32;
    static constexpr float kEps = 1e-6f;
    static constexpr int64_t kMaxDistance = 128;
};

}  // namespace sdref
