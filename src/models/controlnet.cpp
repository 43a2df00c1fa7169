#include "models/controlnet.h"

#include "core/error.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "kernels/ops.h"
#include "models/key_names.h"

namespace sdref {

namespace {

const std::string kPrefix = "control_model.";

// [C, HW] -> 1x1 conv -> [C', HW]
Tensor conv1x1(const ForwardContext& ctx, const Linear& l, const Tensor& x) {
    Conv c;
    c.weight = l.weight;
    c.bias = l.bias;
    c.in = l.weight.cols;
    c.out = l.weight.rows;
    c.kernel = 1;
    return conv_forward(ctx, c, x);
}

}  // namespace

ControlNet ControlNet::load(const std::string& path) {
    ControlNet cn;
    cn.source_ = path;
    cn.weights_ = std::make_shared<WeightStore>();
    WeightStore& w = *cn.weights_;
    Json config;
    const Json* cfg = nullptr;
    std::string file = path;
    if (is_directory(path)) {
        config = Json::parse(read_text_file(path + "/config.json"), path + "/config.json");
        cfg = &config;
        file.clear();
        for (const char* name : {"/diffusion_pytorch_model.safetensors", "/diffusion_pytorch_model.fp16.safetensors", "/diffusion_pytorch_model.bin"})
            if (file.empty() && path_exists(path + name)) file = path + name;
        if (file.empty()) fail(path, ": a ControlNet folder without diffusion_pytorch_model.safetensors");
    }
    {
        const std::unique_ptr<TensorFile> probe = open_tensor_file(file);
        if (probe->find("control_model.input_blocks.0.0.weight")) {
            w.add_file(file);
        } else if (probe->find("controlnet_cond_embedding.conv_in.weight")) {
            int64_t L = 0;  // resnets per down block
            while (probe->find("down_blocks.0.resnets." + std::to_string(L) + ".conv1.weight")) ++L;
            if (L == 0) fail(file, ": a diffusers ControlNet without down_blocks.0.resnets");
            w.add_file(file, kPrefix, [L](const std::string& n) { return diffusers_controlnet_name(n, L); });
        } else if (probe->find("input_blocks.0.0.weight") && probe->find("input_hint_block.0.weight")) {
            w.add_file(file, kPrefix);  // the original layout without its prefix
        } else {
            fail(file, ": not a ControlNet (no control_model.input_hint_block, controlnet_cond_embedding or input_hint_block)");
        }
    }
    cn.encoder_ = std::make_shared<UNet>(UNet::load(cn.weights_, kPrefix, cfg, /*encoder_only=*/true));
    // the hint encoder: convs at the even indices, 3x3, stride 2 at 4, 8 and 12 (the three downsamplings)
    int64_t in = 3;
    for (int i = 0; w.has(kPrefix + "input_hint_block." + std::to_string(i) + ".weight"); i += 2) {
        const std::string name = kPrefix + "input_hint_block." + std::to_string(i);
        const int64_t out = w.shape_of(name + ".weight").at(0);
        cn.hint_.push_back(Conv::load(w, name, out, in, 3));
        in = out;
    }
    if (cn.hint_.size() != 8) fail(w.describe(), ": the ControlNet's input_hint_block has ", cn.hint_.size(), " convolutions, expected 8");
    const UNetConfig& c = cn.encoder_->config();
    if (in != c.channels.front())
        fail(w.describe(), ": the hint encoder ends with ", in, " channels, the encoder's first level has ", c.channels.front());
    for (int64_t i = 0; w.has(kPrefix + "zero_convs." + std::to_string(i) + ".0.weight"); ++i) {
        const std::string name = kPrefix + "zero_convs." + std::to_string(i) + ".0";
        const int64_t ch = w.shape_of(name + ".weight").at(0);
        cn.zero_convs_.push_back(Linear::load_1x1(w, name, ch, ch));
    }
    const int64_t mid = c.channels.back();
    cn.middle_out_ = Linear::load_1x1(w, kPrefix + "middle_block_out.0", mid, mid);
    return cn;
}

ControlResiduals ControlNet::forward(const Tensor& x, float t, const Conditioning& c, const Tensor& image, float scale,
                                     const ForwardContext& generation) const {
    ForwardContext ctx = generation;
    ctx.stream_weights = false;  // (a ControlNet is small beside its U-Net: it stays mapped)
    // hint = input_hint_block(image): conv, SiLU, ..., conv (no SiLU after the last)
    Tensor h = image;
    for (size_t i = 0; i < hint_.size(); ++i) {
        const bool down = i == 2 || i == 4 || i == 6;  // input_hint_block.4, .8, .12
        h = conv_forward(ctx, hint_[i], h, down ? 2 : 1, 1);
        if (i + 1 < hint_.size()) ctx.ops().activation(h.data(), h.numel(), kernels::Activation::Silu);
    }
    const UNetEncoding e = encoder_->encode(x, t, c, ctx, &h);
    if (e.skips.size() != zero_convs_.size())
        fail(source_, ": ", zero_convs_.size(), " zero convolutions for ", e.skips.size(), " skip connections");
    auto scaled = [scale](Tensor t) {
        for (int64_t i = 0; i < t.numel(); ++i) t[i] *= scale;
        return t;
    };
    ControlResiduals r;
    for (size_t i = 0; i < e.skips.size(); ++i) r.down.push_back(scaled(conv1x1(ctx, zero_convs_[i], e.skips[i])));
    r.mid = scaled(conv1x1(ctx, middle_out_, e.mid));
    return r;
}

}  // namespace sdref
