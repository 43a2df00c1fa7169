#include "models/clip_vision.h"

#include "core/error.h"
#include "kernels/conv2d.h"
#include "kernels/ops.h"

namespace sdref {

ClipVisionEncoder ClipVisionEncoder::load(std::shared_ptr<const WeightStore> store, const std::string& p, int64_t heads) {
    const WeightStore& w = *store;
    ClipVisionEncoder m;
    m.weights_ = store;
    ClipVisionConfig& c = m.config_;
    const Shape patch = w.shape_of(p + "embeddings.patch_embedding.weight");  // [D, 3, P, P]
    if (patch.size() != 4 || patch[1] != 3 || patch[2] != patch[3])
        fail(w.describe(), ": ", p, "embeddings.patch_embedding.weight should be [D, 3, P, P], is ", shape_str(patch));
    c.width = patch[0];
    c.patch_size = patch[2];
    const int64_t positions = w.shape_of(p + "embeddings.position_embedding.weight").at(0);
    int64_t side = 1;
    while ((side + 1) * (side + 1) + 1 <= positions) ++side;
    if (side * side + 1 != positions) fail(w.describe(), ": ", positions, " vision positions is not 1 + a square");
    c.image_size = side * c.patch_size;
    c.layers = 0;
    while (w.has(p + "encoder.layers." + std::to_string(c.layers) + ".layer_norm1.weight")) ++c.layers;
    c.ffn = w.shape_of(p + "encoder.layers.0.mlp.fc1.weight").at(0);
    c.heads = heads > 0 ? heads : std::max<int64_t>(1, c.width / 64);
    const int64_t D = c.width;
    m.patch_embedding_ = w.matrix(p + "embeddings.patch_embedding.weight", patch);
    m.class_embedding_ = w.vector(p + "embeddings.class_embedding", {D});
    m.position_embedding_ = w.vector(p + "embeddings.position_embedding.weight", {positions, D});
    m.pre_ln_w_ = w.vector(p + "pre_layrnorm.weight", {D});
    m.pre_ln_b_ = w.vector(p + "pre_layrnorm.bias", {D});
    for (int64_t l = 0; l < c.layers; ++l)
        m.layers_.push_back(load_clip_layer_hf(w, p + "encoder.layers." + std::to_string(l) + ".", D, c.ffn));
    m.post_ln_w_ = w.vector(p + "post_layernorm.weight", {D});
    m.post_ln_b_ = w.vector(p + "post_layernorm.bias", {D});
    return m;
}

Tensor ClipVisionEncoder::forward(const Tensor& image, const ForwardContext& ctx) const {
    const ClipVisionConfig& c = config_;
    const int64_t D = c.width, S = c.image_size, side = S / c.patch_size, T = 1 + side * side;
    if (image.shape() != Shape{3, S, S}) fail("CLIP vision expects an image [3, ", S, ", ", S, "], got ", shape_str(image.shape()));
    // patch embedding: a PxP convolution with stride P, no bias -> [D, side*side]
    Tensor patches({D, side * side});
    ctx.ops().conv2d({3, S, S, D, c.patch_size, c.patch_size, 0}, image.data(), patch_embedding_.data, patch_embedding_.type,
                     patches.data(), {}, ctx.precision);
    // x = [class; patches^T] + positions
    Tensor x({T, D});
    for (int64_t d = 0; d < D; ++d) x[d] = class_embedding_[d] + position_embedding_[d];
    for (int64_t t = 1; t < T; ++t)
        for (int64_t d = 0; d < D; ++d) x[t * D + d] = patches[d * side * side + (t - 1)] + position_embedding_[t * D + d];
    ctx.ops().layer_norm(x.data(), x.data(), T, D, 1e-5f, pre_ln_w_.data(), pre_ln_b_.data());
    for (const ClipLayer& L : layers_) clip_layer_forward(ctx, L, x, c.heads, /*causal=*/false, c.act);
    Tensor pooled({D});
    ctx.ops().layer_norm(x.data(), pooled.data(), 1, D, 1e-5f, post_ln_w_.data(), post_ln_b_.data());
    return pooled;
}

}  // namespace sdref
