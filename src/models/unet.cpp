#include "models/unet.h"

#include <cmath>

#include "core/error.h"
#include "kernels/ops.h"

namespace sdref {

namespace {

constexpr int64_t kGroups = 32;
constexpr float kEps = 1e-5f;

std::string block(const std::string& p, const char* kind, int64_t n, int64_t m) {
    return p + kind + "." + std::to_string(n) + "." + std::to_string(m) + ".";
}

// out [E] = second(silu(first(in))) (+ residual [E]); hidden [E] is scratch.
void mlp_silu(const ForwardContext& ctx, const Linear& first, const Linear& second, const float* in, float* hidden, float* out, const float* residual) {
    const int64_t E = first.weight.rows;
    linear_forward(ctx, first, in, 1, first.weight.cols, hidden, E, nullptr, kernels::Activation::Silu);
    linear_forward(ctx, second, hidden, 1, E, out, E, residual);
}

}  // namespace

int64_t unet_layers_per_block(const WeightStore& w, const std::string& p) {
    // L: the first downsampling conv sits at input_blocks[L + 1]
    int64_t L = 1;
    while (!w.has(p + "input_blocks." + std::to_string(L + 1) + ".0.op.weight"))
        if (++L > 16) fail(w.describe(), ": cannot find the U-Net's first downsampling layer");
    return L;
}

std::vector<int64_t> heads_from_config(const Json& config, size_t levels, const std::string& source) {
    const Json* h = config.find("num_attention_heads");
    if (!h || h->is_null()) h = config.find("attention_head_dim");
    if (!h || h->is_null()) return {};
    if (h->is_integer()) return std::vector<int64_t>(levels, h->as_int());
    std::vector<int64_t> heads;
    for (const Json& v : h->items(source + ": attention_head_dim")) heads.push_back(v.as_int(source + ": attention_head_dim"));
    if (heads.size() != levels) fail(source, ": attention_head_dim lists ", heads.size(), " levels, the U-Net has ", levels);
    return heads;
}

UNet UNet::load(std::shared_ptr<const WeightStore> store, const std::string& p, const Json* config, bool encoder_only) {
    const WeightStore& w = *store;
    UNet u;
    u.weights_ = store;
    u.prefix_ = p;
    UNetConfig& c = u.config_;
    // --- the shape of the network, read off the tensors ---
    if (!w.has(p + "input_blocks.0.0.weight")) fail(w.describe(), ": no U-Net under \"", p, "\"");
    const Shape conv_in = w.shape_of(p + "input_blocks.0.0.weight");
    const int64_t C0 = conv_in.at(0);
    c.in_channels = conv_in.at(1);
    c.out_channels = encoder_only ? 0 : w.shape_of(p + "out.2.weight").at(0);
    c.time_embed_dim = w.shape_of(p + "time_embed.0.weight").at(0);
    if (w.has(p + "label_emb.0.0.weight")) c.adm_in_channels = w.shape_of(p + "label_emb.0.0.weight").at(1);
    c.layers_per_block = unet_layers_per_block(w, p);
    const int64_t L = c.layers_per_block;
    for (int64_t level = 0;; ++level) {
        const int64_t n = 1 + level * (L + 1);
        if (!w.has(block(p, "input_blocks", n, 0) + "in_layers.2.weight")) break;
        c.channels.push_back(w.shape_of(block(p, "input_blocks", n, 0) + "out_layers.3.weight").at(0));
        c.attention.push_back(w.has(block(p, "input_blocks", n, 1) + "proj_in.weight"));
    }
    const size_t levels = c.channels.size();
    const bool linear_proj = w.shape_of(p + "middle_block.1.proj_in.weight").size() == 2;
    // heads: config, else metadata, else convention
    std::string meta_text;
    Json meta;
    if (!config && !(meta_text = w.metadata("unet_config")).empty()) {
        meta = Json::parse(meta_text, w.describe() + " unet_config metadata");
        config = &meta;
    }
    if (config) c.heads = heads_from_config(*config, levels, config == &meta ? "unet_config metadata" : "unet/config.json");
    if (c.heads.empty())
        for (int64_t ch : c.channels) c.heads.push_back(linear_proj ? ch / 64 : 8);

    // --- weights ---
    u.time_embed_0 = Linear::load(w, p + "time_embed.0", c.time_embed_dim, C0);
    u.time_embed_2 = Linear::load(w, p + "time_embed.2", c.time_embed_dim, c.time_embed_dim);
    if (c.adm_in_channels > 0) {
        u.label_emb_0 = Linear::load(w, p + "label_emb.0.0", c.time_embed_dim, c.adm_in_channels);
        u.label_emb_2 = Linear::load(w, p + "label_emb.0.2", c.time_embed_dim, c.time_embed_dim);
    }
    u.conv_in = Conv::load(w, p + "input_blocks.0.0", C0, c.in_channels, 3);
    std::vector<int64_t> skips = {C0};  // channels of each skip connection, in push order
    int64_t ch = C0, n = 1;
    for (size_t i = 0; i < levels; ++i) {
        UNetDownLevel d;
        for (int64_t j = 0; j < L; ++j, ++n) {
            d.res.push_back(ResBlock::load_unet(w, block(p, "input_blocks", n, 0), ch, c.channels[i], c.time_embed_dim));
            ch = c.channels[i];
            if (c.attention[i]) d.attn.push_back(SpatialTransformer::load(w, block(p, "input_blocks", n, 1), ch, c.heads[i]));
            d.names.push_back(p + "input_blocks." + std::to_string(n) + ".");
            skips.push_back(ch);
        }
        d.has_down = i + 1 < levels;
        if (d.has_down) {
            d.down = Conv::load(w, block(p, "input_blocks", n, 0) + "op", ch, ch, 3);
            d.names.push_back(p + "input_blocks." + std::to_string(n) + ".");
            skips.push_back(ch);
            ++n;
        }
        u.down_.push_back(std::move(d));
    }
    u.mid_res1_ = ResBlock::load_unet(w, p + "middle_block.0.", ch, ch, c.time_embed_dim);
    u.mid_attn_ = SpatialTransformer::load(w, p + "middle_block.1.", ch, c.heads.back());
    u.mid_res2_ = ResBlock::load_unet(w, p + "middle_block.2.", ch, ch, c.time_embed_dim);
    c.context_dim = u.mid_attn_.context_dim;
    if (encoder_only) return u;
    n = 0;
    for (size_t k = 0; k < levels; ++k) {
        const size_t i = levels - 1 - k;  // the down level this up level mirrors
        UNetUpLevel up;
        for (int64_t j = 0; j <= L; ++j, ++n) {
            const int64_t skip = skips.back();
            skips.pop_back();
            up.res.push_back(ResBlock::load_unet(w, block(p, "output_blocks", n, 0), ch + skip, c.channels[i], c.time_embed_dim));
            ch = c.channels[i];
            if (c.attention[i]) up.attn.push_back(SpatialTransformer::load(w, block(p, "output_blocks", n, 1), ch, c.heads[i]));
            up.names.push_back(p + "output_blocks." + std::to_string(n) + ".");
        }
        up.has_up = i > 0;
        if (up.has_up) up.up = Conv::load(w, block(p, "output_blocks", n - 1, c.attention[i] ? 2 : 1) + "conv", ch, ch, 3);
        u.up_.push_back(std::move(up));
    }
    u.out_norm_ = Norm::load(w, p + "out.0", ch);
    u.out_conv_ = Conv::load(w, p + "out.2", c.out_channels, ch, 3);
    return u;
}

Tensor UNet::transformer(const ForwardContext& ctx, const SpatialTransformer& st, const Tensor& h, const Tensor& context, const WeightStream& stream) const {
    return spatial_transformer_forward(ctx, st, h, context, kGroups, hook_.get(), stream);
}

UNetEncoding UNet::encode(const Tensor& x, float t, const Conditioning& cond, const ForwardContext& ctx, const Tensor* hint) const {
    const WeightStream stream = WeightStream::of(ctx, weights_.get(), "");  // (--low-memory: each block streams itself)
    const UNetConfig& c = config_;
    const Tensor& context = cond.context;
    if (x.shape().size() != 3 || x.dim(0) != c.in_channels)
        fail("U-Net expects a latent with ", c.in_channels, " channels, got shape ", shape_str(x.shape()));
    if (cond.vector.numel() != c.adm_in_channels)
        fail("U-Net expects a conditioning vector of ", c.adm_in_channels, " values (label_emb), got ", cond.vector.numel());

    // emb = time_embed.2(silu(time_embed.0(sinusoid(t)))) [+ label_emb.0.2(silu(label_emb.0.0(y)))]
    const std::vector<float> sinusoid = timestep_embedding(t, time_embed_0.weight.cols);
    const int64_t E = c.time_embed_dim;
    UNetEncoding out;
    std::vector<float> hidden(static_cast<size_t>(E)), emb(static_cast<size_t>(E));
    mlp_silu(ctx, time_embed_0, time_embed_2, sinusoid.data(), hidden.data(), emb.data(), nullptr);
    if (c.adm_in_channels > 0) {
        const std::vector<float> time = emb;
        mlp_silu(ctx, label_emb_0, label_emb_2, cond.vector.data(), hidden.data(), emb.data(), time.data());
    }
    // every ResBlock reads silu(emb)
    out.emb_silu = emb;
    ctx.ops().activation(out.emb_silu.data(), E, kernels::Activation::Silu);
    const float* emb_silu = out.emb_silu.data();

    // down, keeping the skip connections (a ControlNet adds its encoded hint after conv_in)
    Tensor h = conv_forward(ctx, conv_in, x);
    if (hint) {
        if (hint->shape() != h.shape()) fail("ControlNet: the encoded hint is ", shape_str(hint->shape()), ", the latent's features ", shape_str(h.shape()));
        ctx.ops().add(h.data(), hint->data(), h.data(), h.numel());
    }
    std::vector<Tensor>& skips = out.skips;
    skips.push_back(h);
    for (const UNetDownLevel& d : down_) {
        for (size_t j = 0; j < d.res.size(); ++j) {
            h = resblock_forward(ctx, d.res[j], h, emb_silu, kGroups, kEps, nullptr, stream.under(d.names[j] + "0."));
            if (!d.attn.empty()) h = transformer(ctx, d.attn[j], h, context, stream.under(d.names[j] + "1."));
            skips.push_back(h);
        }
        if (d.has_down) {
            const WeightStream::InUse weights = stream.use(d.names.back());
            h = conv_forward(ctx, d.down, h, 2, 1);
            skips.push_back(h);
        }
    }
    // middle
    h = resblock_forward(ctx, mid_res1_, h, emb_silu, kGroups, kEps, nullptr, stream.under(prefix_ + "middle_block.0."));
    h = transformer(ctx, mid_attn_, h, context, stream.under(prefix_ + "middle_block.1."));
    h = resblock_forward(ctx, mid_res2_, h, emb_silu, kGroups, kEps, nullptr, stream.under(prefix_ + "middle_block.2."));
    out.mid = std::move(h);
    return out;
}

Tensor UNet::forward(const Tensor& x, float t, const Conditioning& cond, const ForwardContext& ctx, const ControlResiduals* control) const {
    if (up_.empty()) fail("this U-Net is an encoder copy (a ControlNet's): it has no decoder half");
    const WeightStream stream = WeightStream::of(ctx, weights_.get(), "");  // (--low-memory: each block streams itself)
    const WeightStream::InUse rest = stream.hold(prefix_);  // conv_in, time_embed and out, read where they lie, given back at the end
    UNetEncoding enc = encode(x, t, cond, ctx);
    std::vector<Tensor>& skips = enc.skips;
    Tensor h = std::move(enc.mid);
    const float* emb_silu = enc.emb_silu.data();
    // ControlNet: its residuals join the middle block's output and every skip connection
    if (control) {
        if (control->down.size() != skips.size()) fail("ControlNet: ", control->down.size(), " residuals for ", skips.size(), " skip connections");
        auto add = [&](Tensor& to, const Tensor& r, const char* what) {
            if (to.shape() != r.shape()) fail("ControlNet: a ", what, " residual is ", shape_str(r.shape()), ", the U-Net's ", shape_str(to.shape()));
            ctx.ops().add(to.data(), r.data(), to.data(), to.numel());
        };
        add(h, control->mid, "middle");
        for (size_t i = 0; i < skips.size(); ++i) add(skips[i], control->down[i], "skip");
    }
    const Tensor& context = cond.context;
    // up, consuming the skips in reverse
    for (const UNetUpLevel& u : up_) {
        for (size_t j = 0; j < u.res.size(); ++j) {
            const Tensor& skip = skips.back();
            Tensor cat = Tensor::uninitialized({h.dim(0) + skip.dim(0), h.dim(1), h.dim(2)});
            ctx.ops().concat_channels(h.data(), h.dim(0), skip.data(), skip.dim(0), h.dim(1) * h.dim(2), cat.data());
            skips.pop_back();
            h = resblock_forward(ctx, u.res[j], cat, emb_silu, kGroups, kEps, nullptr, stream.under(u.names[j] + "0."));
            if (!u.attn.empty()) h = transformer(ctx, u.attn[j], h, context, stream.under(u.names[j] + "1."));
        }
        if (u.has_up) {
            // nearest 2x, or to the next skip's size when an odd size was halved (rounding up) on the way down
            const Tensor& next = skips.back();
            Tensor up = Tensor::uninitialized({h.dim(0), next.dim(1), next.dim(2)});
            if (next.dim(1) == 2 * h.dim(1) && next.dim(2) == 2 * h.dim(2))
                ctx.ops().upsample_nearest_2x(h.data(), up.data(), h.dim(0), h.dim(1), h.dim(2));
            else
                ctx.ops().resize_nearest(h.data(), up.data(), h.dim(0), h.dim(1), h.dim(2), next.dim(1), next.dim(2));
            const WeightStream::InUse weights = stream.use(u.names.back() + (u.attn.empty() ? "1." : "2."));
            h = conv_forward(ctx, u.up, up);
        }
    }
    // out
    Tensor n = Tensor::uninitialized(h.shape());
    ctx.ops().group_norm(h.data(), n.data(), h.dim(0), h.dim(1) * h.dim(2), kGroups, kEps, out_norm_.weight.data(),
                         out_norm_.bias.data(), kernels::Activation::Silu, nullptr);
    Tensor out = conv_forward(ctx, out_conv_, n);
    return out;
}

int64_t UNet::forward_bytes(int64_t h, int64_t w) const {
    const UNetConfig& c = config_;
    const int64_t finest = c.channels.front() * h * w;
    int64_t skips = 0;
    for (size_t i = 0; i < c.channels.size(); ++i, h = (h + 1) / 2, w = (w + 1) / 2)
        skips += (c.layers_per_block + 1) * c.channels[i] * h * w;
    return (skips + 12 * finest) * int64_t(sizeof(float));
}

double UNet::forward_flops(int64_t h, int64_t w, int64_t tokens) const {
    // the sizes of each level on the way down (a stride-2 conv halves, rounding up)
    std::vector<int64_t> hw;
    for (size_t i = 0; i < down_.size(); ++i, h = (h + 1) / 2, w = (w + 1) / 2) hw.push_back(h * w);
    double f = conv_flops(conv_in, hw[0]) + conv_flops(out_conv_, hw[0]);
    for (size_t i = 0; i < down_.size(); ++i) {
        const UNetDownLevel& d = down_[i];
        for (size_t j = 0; j < d.res.size(); ++j) {
            f += resblock_flops(d.res[j], hw[i]);
            if (!d.attn.empty()) f += spatial_transformer_flops(d.attn[j], hw[i], tokens);
        }
        if (d.has_down) f += conv_flops(d.down, hw[i + 1]);
    }
    f += resblock_flops(mid_res1_, hw.back()) + spatial_transformer_flops(mid_attn_, hw.back(), tokens) + resblock_flops(mid_res2_, hw.back());
    for (size_t k = 0; k < up_.size(); ++k) {
        const size_t i = up_.size() - 1 - k;
        const UNetUpLevel& u = up_[k];
        for (size_t j = 0; j < u.res.size(); ++j) {
            f += resblock_flops(u.res[j], hw[i]);
            if (!u.attn.empty()) f += spatial_transformer_flops(u.attn[j], hw[i], tokens);
        }
        if (u.has_up) f += conv_flops(u.up, hw[i - 1]);
    }
    return f;
}

}  // namespace sdref
