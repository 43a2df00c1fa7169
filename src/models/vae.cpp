#include "models/vae.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/ops.h"

namespace sdref {

namespace {

constexpr float kEps = 1e-6f;  // every GroupNorm of the VAE

int64_t count(const WeightStore& w, const std::string& prefix, const std::string& suffix) {
    int64_t n = 0;
    while (w.has(prefix + std::to_string(n) + suffix)) ++n;
    return n;
}

// x [C, HW] -> channels_out via a 1x1 convolution stored as a matrix.
Tensor pointwise(const ForwardContext& ctx, const Linear& l, const Tensor& x) {
    Tensor y = Tensor::uninitialized({l.weight.rows, x.dim(1), x.dim(2)});
    kernels::GemmEpilogue ep;
    ep.row_bias = l.bias.data();
    const int64_t hw = x.dim(1) * x.dim(2);
    ctx.ops().matmul(l.weight.rows, hw, l.weight.cols, kernels::weight_rows(l.weight.data, l.weight.type, l.weight.cols),
                     kernels::activations(x.data(), hw, 1), y.data(), hw, ep, ctx.precision);
    return y;
}

Tensor mid_and_out(const ForwardContext& ctx, const VaeCoder& c, Tensor h, int64_t groups, NormSequence* norms = nullptr) {
    h = resblock_forward(ctx, c.mid_block_1, h, nullptr, groups, kEps, norms);
    h = vae_attention_forward(ctx, c.mid_attn, h, groups, norms);
    h = resblock_forward(ctx, c.mid_block_2, h, nullptr, groups, kEps, norms);
    return h;
}

Tensor norm_silu_out(const ForwardContext& ctx, const VaeCoder& c, const Tensor& h, int64_t groups, NormSequence* norms = nullptr) {
    Tensor n = Tensor::uninitialized(h.shape());
    ctx.ops().group_norm(h.data(), n.data(), h.dim(0), h.dim(1) * h.dim(2), groups, kEps, c.norm_out.weight.data(),
                        c.norm_out.bias.data(), kernels::Activation::Silu, norms ? norms->take() : nullptr);
    return conv_forward(ctx, c.conv_out, n);
}

}  // namespace

Vae Vae::load(std::shared_ptr<const WeightStore> store, const std::string& p) {
    const WeightStore& w = *store;
    Vae vae;
    vae.weights_ = store;
    vae.prefix_ = p;
    const std::string enc = p + "encoder.", dec = p + "decoder.";
    const int64_t levels = count(w, enc + "down.", ".block.0.conv1.weight");
    const int64_t per_level = count(w, enc + "down.0.block.", ".conv1.weight");
    if (levels == 0 || per_level == 0) fail(w.describe(), ": no VAE encoder under \"", enc, "\"");
    std::vector<int64_t> ch;  // channels of each level
    for (int64_t i = 0; i < levels; ++i) ch.push_back(w.shape_of(enc + "down." + std::to_string(i) + ".block.0.conv1.weight").at(0));
    // the latent channels: the decoder's conv_in [C, z, 3, 3] (4 for SD 1.x/2.x/SDXL, 16 for SD 3.x)
    const int64_t z = w.shape_of(dec + "conv_in.weight").at(1);
    vae.latent_channels_ = z;
    const int64_t image_channels = w.shape_of(enc + "conv_in.weight").at(1);

    // encoder
    VaeCoder& e = vae.encoder_;
    e.conv_in = Conv::load(w, enc + "conv_in", ch[0], image_channels, 3);
    int64_t in = ch[0];
    for (int64_t i = 0; i < levels; ++i) {
        const std::string lp = enc + "down." + std::to_string(i) + ".";
        VaeLevel level;
        for (int64_t j = 0; j < per_level; ++j) {
            level.blocks.push_back(ResBlock::load_vae(w, lp + "block." + std::to_string(j) + ".", in, ch[size_t(i)]));
            in = ch[size_t(i)];
        }
        level.has_resample = i + 1 < levels;
        if (level.has_resample) level.resample = Conv::load(w, lp + "downsample.conv", in, in, 3);
        e.levels.push_back(std::move(level));
    }
    e.mid_block_1 = ResBlock::load_vae(w, enc + "mid.block_1.", in, in);
    e.mid_attn = VaeAttention::load(w, enc + "mid.attn_1.", in);
    e.mid_block_2 = ResBlock::load_vae(w, enc + "mid.block_2.", in, in);
    e.norm_out = Norm::load(w, enc + "norm_out", in);
    e.conv_out = Conv::load(w, enc + "conv_out", 2 * z, in, 3);
    vae.has_quant_convs_ = w.has(p + "post_quant_conv.weight") || w.has(p + "quant_conv.weight");  // (SD 3.x's VAE has none)
    if (vae.has_quant_convs_) {
        vae.quant_conv_ = Linear::load_1x1(w, p + "quant_conv", 2 * z, 2 * z);
        vae.post_quant_conv_ = Linear::load_1x1(w, p + "post_quant_conv", z, z);
    }

    // decoder: up.N numbered from the shallowest level (the order they were built in, reversed at run time)
    VaeCoder& d = vae.decoder_;
    const int64_t deepest = ch.back();
    d.conv_in = Conv::load(w, dec + "conv_in", deepest, z, 3);
    d.mid_block_1 = ResBlock::load_vae(w, dec + "mid.block_1.", deepest, deepest);
    d.mid_attn = VaeAttention::load(w, dec + "mid.attn_1.", deepest);
    d.mid_block_2 = ResBlock::load_vae(w, dec + "mid.block_2.", deepest, deepest);
    d.levels.resize(size_t(levels));
    in = deepest;
    for (int64_t i = levels - 1; i >= 0; --i) {
        const std::string lp = dec + "up." + std::to_string(i) + ".";
        VaeLevel& level = d.levels[size_t(i)];
        for (int64_t j = 0; j < per_level + 1; ++j) {
            level.blocks.push_back(ResBlock::load_vae(w, lp + "block." + std::to_string(j) + ".", in, ch[size_t(i)]));
            in = ch[size_t(i)];
        }
        level.has_resample = i > 0;
        if (level.has_resample) level.resample = Conv::load(w, lp + "upsample.conv", in, in, 3);
    }
    d.norm_out = Norm::load(w, dec + "norm_out", in);
    d.conv_out = Conv::load(w, dec + "conv_out", image_channels, in, 3);
    return vae;
}

VaeOutput Vae::encode(const Tensor& image, const ForwardContext& ctx) const {
    const VaeCoder& e = encoder_;
    Tensor h = conv_forward(ctx, e.conv_in, image);
    for (const VaeLevel& level : e.levels) {
        for (const ResBlock& b : level.blocks) h = resblock_forward(ctx, b, h, nullptr, groups_, kEps);
        // downsample: pad right and bottom by one, 3x3 conv with stride 2
        if (level.has_resample) h = conv_forward(ctx, level.resample, h, 2, 0, 1);
    }
    h = mid_and_out(ctx, e, h, groups_);
    Tensor moments = norm_silu_out(ctx, e, h, groups_);
    if (has_quant_convs_) moments = pointwise(ctx, quant_conv_, moments);
    const int64_t z = latent_channels_, hw = moments.dim(1) * moments.dim(2);
    VaeOutput out{Tensor({z, moments.dim(1), moments.dim(2)}), Tensor({z, moments.dim(1), moments.dim(2)})};
    std::copy_n(moments.data(), z * hw, out.mean.data());
    for (int64_t i = 0; i < z * hw; ++i) out.logvar[i] = std::clamp(moments[z * hw + i], -30.0f, 20.0f);
    return out;
}

Tensor Vae::decode(const Tensor& latent, const ForwardContext& ctx) const { return decode(latent, nullptr, ctx); }

Tensor Vae::decode(const Tensor& latent, NormSequence* norms, const ForwardContext& ctx) const {
    const WeightStream stream = WeightStream::of(ctx, weights_.get(), prefix_ + "decoder.");  // (--low-memory: part by part)
    const VaeCoder& d = decoder_;
    Tensor h = conv_forward(ctx, d.conv_in, has_quant_convs_ ? pointwise(ctx, post_quant_conv_, latent) : latent);
    {
        const WeightStream::InUse weights = stream.use("mid.");
        h = mid_and_out(ctx, d, h, groups_, norms);
    }
    for (size_t i = d.levels.size(); i-- > 0;) {  // deepest first
        const VaeLevel& level = d.levels[i];
        const WeightStream::InUse weights = stream.use("up." + std::to_string(i) + ".");
        for (const ResBlock& b : level.blocks) h = resblock_forward(ctx, b, h, nullptr, groups_, kEps, norms);
        if (level.has_resample) {
            Tensor up = Tensor::uninitialized({h.dim(0), 2 * h.dim(1), 2 * h.dim(2)});
            ctx.ops().upsample_nearest_2x(h.data(), up.data(), h.dim(0), h.dim(1), h.dim(2));
            h = conv_forward(ctx, level.resample, up);
        }
    }
    return norm_silu_out(ctx, d, h, groups_, norms);
}

}  // namespace sdref

namespace sdref {

namespace {

// Tile starts along an axis of n latent pixels: every `tile - overlap`, the last one flush with the end.
std::vector<int64_t> tile_starts(int64_t n, int64_t tile, int64_t overlap) {
    std::vector<int64_t> starts;
    if (n <= tile) return {0};
    for (int64_t s = 0;; s += tile - overlap) {
        if (s + tile >= n) {
            starts.push_back(n - tile);
            break;
        }
        starts.push_back(s);
    }
    return starts;
}

// Blend weight of pixel p in a tile of n pixels: ramps up over the first `o` pixels when a tile lies before, and
// down over the last `o` when one lies after.
float ramp(int64_t p, int64_t n, bool before, bool after, int64_t o) {
    float w = 1.0f;
    if (before && p < o) w = (float(p) + 0.5f) / float(o);
    if (after && p >= n - o) w = std::min(w, (float(n - p) - 0.5f) / float(o));
    return w;
}

// Group-norm moments pooled over several passes (tiles), norm by norm and group by group.
struct PooledMoments {
    std::vector<std::vector<double>> n, sum, sq;  // [norm][group]: values, their sum, the sum of their squares

    // a pass that recorded its own moments (not a replay)
    void add(const NormSequence& pass) {
        n.resize(pass.norms.size()), sum.resize(n.size()), sq.resize(n.size());
        for (size_t k = 0; k < pass.norms.size(); ++k) {
            const kernels::GroupMoments& m = pass.norms[k];
            const size_t groups = m.mean.size();
            n[k].resize(groups), sum[k].resize(groups), sq[k].resize(groups);
            for (size_t g = 0; g < groups; ++g) {
                const double c = double(m.count);
                n[k][g] += c;
                sum[k][g] += c * m.mean[g];
                sq[k][g] += c * (m.var[g] + m.mean[g] * m.mean[g]);
            }
        }
    }
    // mean = sum n m / sum n,   var = sum n (v + m^2) / sum n - mean^2
    void write(NormSequence& to) const {
        for (size_t k = 0; k < to.norms.size() && k < n.size(); ++k)
            for (size_t g = 0; g < n[k].size(); ++g) {
                const double mean = sum[k][g] / n[k][g];
                to.norms[k].mean[g] = mean;
                to.norms[k].var[g] = std::max(sq[k][g] / n[k][g] - mean * mean, 0.0);
            }
    }
};

}  // namespace

Tensor Vae::decode_tiled(const Tensor& latent, int64_t tile, int64_t overlap, const ForwardContext& ctx) const {
    const int64_t z = latent.dim(0), h = latent.dim(1), w = latent.dim(2);
    if (h <= tile && w <= tile) return decode(latent, nullptr, ctx);
    const std::vector<int64_t> ys = tile_starts(h, tile, overlap), xs = tile_starts(w, tile, overlap);
    // the latents of the tile at (y0, x0)
    auto crop = [&](int64_t y0, int64_t x0) {
        const int64_t th = std::min(tile, h), tw = std::min(tile, w);
        Tensor c({z, th, tw});
        for (int64_t k = 0; k < z; ++k)
            for (int64_t y = 0; y < th; ++y)
                std::copy_n(latent.data() + (k * h + y0 + y) * w + x0, tw, c.data() + (k * th + y) * tw);
        return c;
    };
    // Every tile is normalised with the whole picture's group statistics: with each tile's own, a tile of sky and
    // one of ground get different colours (the seams of naive tiling). They are estimated by decoding every tile
    // once with its own and pooling each group norm's moments over the tiles by value counts (PooledMoments);
    // these tiles do not overlap (the last one is flush with the edge), so they are fewer than the blended ones.
    NormSequence norms;
    PooledMoments pooled;
    const std::vector<int64_t> ys0 = tile_starts(h, tile, 0), xs0 = tile_starts(w, tile, 0);  // (no overlap: fewer)
    for (int64_t y0 : ys0)
        for (int64_t x0 : xs0) {
            NormSequence own;
            decode(crop(y0, x0), &own, ctx);
            pooled.add(own);
            if (norms.norms.empty()) norms = std::move(own);
        }
    pooled.write(norms);
    norms.replay = true;
    Tensor sum({3, 8 * h, 8 * w}), weight({8 * h, 8 * w});
    for (size_t a = 0; a < ys.size(); ++a)
        for (size_t b = 0; b < xs.size(); ++b) {
            const int64_t th = std::min(tile, h), tw = std::min(tile, w), y0 = ys[a], x0 = xs[b];
            norms.next = 0;
            const Tensor img = decode(crop(y0, x0), &norms, ctx);
            const int64_t H = 8 * th, W = 8 * tw, o = 8 * overlap;
            for (int64_t y = 0; y < H; ++y) {
                const float wy = ramp(y, H, a > 0, a + 1 < ys.size(), o);
                for (int64_t x = 0; x < W; ++x) {
                    const float wt = wy * ramp(x, W, b > 0, b + 1 < xs.size(), o);
                    const int64_t gy = 8 * y0 + y, gx = 8 * x0 + x;
                    weight[gy * 8 * w + gx] += wt;
                    for (int64_t c = 0; c < 3; ++c) sum[(c * 8 * h + gy) * 8 * w + gx] += wt * img[(c * H + y) * W + x];
                }
            }
        }
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t i = 0; i < 64 * h * w; ++i) sum[c * 64 * h * w + i] /= weight[i];
    return sum;
}

double Vae::decode_flops(int64_t h, int64_t w) const {
    const VaeCoder& d = decoder_;
    double hw = double(h * w), C = double(d.mid_attn.channels);
    double f = (has_quant_convs_ ? 2.0 * double(post_quant_conv_.weight.rows * post_quant_conv_.weight.cols) * hw : 0.0) +
               conv_flops(d.conv_in, h * w);
    f += resblock_flops(d.mid_block_1, h * w) + resblock_flops(d.mid_block_2, h * w);
    f += 2 * 4 * C * C * hw + 2 * 2 * hw * hw * C;  // attention: q, k, v, out; QK^T, PV
    for (size_t i = d.levels.size(); i-- > 0;) {
        for (const ResBlock& b : d.levels[i].blocks) f += resblock_flops(b, h * w);
        if (d.levels[i].has_resample) h *= 2, w *= 2, f += conv_flops(d.levels[i].resample, h * w);
    }
    return f + conv_flops(d.conv_out, h * w);
}

int64_t Vae::decode_bytes(int64_t h, int64_t w) const {
    int64_t peak = 0;
    for (auto level = decoder_.levels.rbegin(); level != decoder_.levels.rend(); ++level) {
        const int64_t c = std::max(level->blocks.front().in, level->blocks.front().out);
        peak = std::max(peak, 3 * c * h * w);
        if (level->has_resample) h *= 2, w *= 2;
        peak = std::max(peak, 3 * c * h * w);
    }
    return peak * int64_t(sizeof(float));
}

}  // namespace sdref
