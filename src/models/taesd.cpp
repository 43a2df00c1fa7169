#include "models/taesd.h"

#include <cmath>

#include "core/error.h"
#include "io/mapped_file.h"

namespace sdref {

namespace {

using L = TaesdLayer;

// taesd.py's Decoder and Encoder, index by index.
const std::vector<TaesdLayer> kDecoderTable = {
    {L::Clamp, 0},   {L::Conv3x3, 1},     {L::Relu, 2},   {L::Block, 3},  {L::Block, 4},       {L::Block, 5},
    {L::Upsample, 6}, {L::ConvNoBias, 7}, {L::Block, 8},  {L::Block, 9},  {L::Block, 10},      {L::Upsample, 11},
    {L::ConvNoBias, 12}, {L::Block, 13},  {L::Block, 14}, {L::Block, 15}, {L::Upsample, 16},   {L::ConvNoBias, 17},
    {L::Block, 18},  {L::Conv3x3, 19}};
const std::vector<TaesdLayer> kEncoderTable = {
    {L::Conv3x3, 0}, {L::Block, 1},  {L::Downsample, 2}, {L::Block, 3},  {L::Block, 4},  {L::Block, 5},
    {L::Downsample, 6}, {L::Block, 7}, {L::Block, 8},    {L::Block, 9},  {L::Downsample, 10}, {L::Block, 11},
    {L::Block, 12},  {L::Block, 13}, {L::Conv3x3, 14}};

std::string base_name(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "taesdxl_decoder.safetensors" -> "taesdxl"; "" when the name is not a release's
std::string variant_of(const std::string& file) {
    const std::string name = base_name(file);
    for (const char* v : {"taesdxl", "taesd3", "taef1", "taesd"})
        if (name.rfind(std::string(v) + "_", 0) == 0) return v;
    return "";
}

// Loads a coder's layers from canonical names "<prefix>N...", channels in -> width -> out.
TaesdCoder load_coder(const WeightStore& w, const std::string& prefix, const std::vector<TaesdLayer>& table, int64_t in,
                      int64_t width, int64_t out) {
    TaesdCoder c;
    c.layers = table;
    const int last = table.back().index, first_conv = table.front().kind == L::Conv3x3 ? table.front().index : 1;
    for (const TaesdLayer& l : table) {
        const std::string p = prefix + std::to_string(l.index);
        switch (l.kind) {
            case L::Conv3x3:
                c.convs.push_back(Conv::load(w, p, l.index == last ? out : width, l.index == first_conv ? in : width, 3));
                break;
            case L::ConvNoBias:
            case L::Downsample: c.convs.push_back(Conv::load(w, p, width, width, 3, false)); break;
            case L::Block:
                c.blocks.push_back({Conv::load(w, p + ".conv.0", width, width, 3), Conv::load(w, p + ".conv.2", width, width, 3),
                                    Conv::load(w, p + ".conv.4", width, width, 3)});
                break;
            case L::Clamp:
            case L::Relu:
            case L::Upsample: break;
        }
    }
    return c;
}

// diffusers' AutoencoderTiny names: original decoder index N is decoder.layers.N-1, encoder N is encoder.layers.N
WeightStore::Renamer diffusers_names(const std::string& coder, int shift) {
    return [coder, shift](const std::string& name) {
        const size_t dot = name.find('.');
        return coder + ".layers." + std::to_string(std::stoi(name.substr(0, dot)) - shift) + name.substr(dot);
    };
}

}  // namespace

Taesd Taesd::load(const std::string& path) {
    Taesd t;
    t.path_ = path;
    auto store = std::make_shared<WeightStore>();
    std::string decoder_file, encoder_file;
    if (is_directory(path) && path_exists(path + "/config.json")) {  // diffusers AutoencoderTiny
        const std::string file = path + "/diffusion_pytorch_model.safetensors";
        if (!path_exists(file)) fail(path, ": a diffusers folder without diffusion_pytorch_model.safetensors");
        store->add_file(file, "decoder.", diffusers_names("decoder", 1));
        store->add_file(file, "encoder.", diffusers_names("encoder", 0));
    } else {
        if (is_directory(path)) {
            for (const char* v : {"taesd", "taesdxl", "taesd3", "taef1"})
                if (path_exists(path + "/" + v + "_decoder.safetensors")) decoder_file = path + "/" + v + "_decoder.safetensors";
            if (decoder_file.empty()) fail(path, ": no taesd*_decoder.safetensors in this folder, nor a diffusers config.json");
        } else {
            if (!path_exists(path)) fail(path, ": no such file");
            decoder_file = path;
        }
        t.variant_ = variant_of(decoder_file);
        const size_t at = decoder_file.rfind("_decoder.");
        if (at != std::string::npos) encoder_file = decoder_file.substr(0, at) + "_encoder." + decoder_file.substr(at + 9);
        store->add_file(decoder_file, "decoder.");
        if (!encoder_file.empty() && path_exists(encoder_file)) store->add_file(encoder_file, "encoder.");
    }
    // the latent width from the decoder's first conv [64, z, 3, 3] (an encoder file given alone has a 14.weight)
    if (!store->has("decoder.1.weight"))
        fail(path, ": not a TAESD decoder: no tensor ", store->has("decoder.14.weight") ? "1.weight (this is an encoder)" : "1.weight");
    const Shape first = store->shape_of("decoder.1.weight");
    if (first.size() != 4 || first[2] != 3 || first[3] != 3) fail(path, ": tensor 1.weight has shape ", shape_str(first), ", TAESD's is [64, z, 3, 3]");
    t.latent_channels_ = first[1];
    const int64_t width = first[0];
    t.decoder_ = load_coder(*store, "decoder.", kDecoderTable, t.latent_channels_, width, 3);
    if (store->has("encoder.0.weight")) t.encoder_ = load_coder(*store, "encoder.", kEncoderTable, 3, width, t.latent_channels_);
    t.weights_ = std::move(store);
    return t;
}

// One coder's table, top to bottom.
Tensor Taesd::run(const TaesdCoder& c, Tensor x, const ForwardContext& ctx) const {
    const kernels::Backend& ops = ctx.ops();
    size_t conv = 0, block = 0;
    for (const TaesdLayer& l : c.layers) {
        switch (l.kind) {
            case L::Clamp:  // x = tanh(x / 3) * 3
                for (int64_t i = 0; i < x.numel(); ++i) x[i] = std::tanh(x[i] / 3.0f) * 3.0f;
                break;
            case L::Conv3x3:
            case L::ConvNoBias: x = conv_forward(ctx, c.convs[conv++], x); break;
            case L::Downsample: x = conv_forward(ctx, c.convs[conv++], x, 2, 1); break;
            case L::Relu: ops.activation(x.data(), x.numel(), kernels::Activation::Relu); break;
            case L::Upsample: {
                Tensor up = Tensor::uninitialized({x.dim(0), 2 * x.dim(1), 2 * x.dim(2)});
                ops.upsample_nearest_2x(x.data(), up.data(), x.dim(0), x.dim(1), x.dim(2));
                x = std::move(up);
                break;
            }
            case L::Block: {  // ReLU(conv4(ReLU(conv2(ReLU(conv0(x))))) + x)
                const TaesdBlock& b = c.blocks[block++];
                Tensor h = conv_forward(ctx, b.conv0, x, 1, -1, -1, nullptr, kernels::Activation::Relu);
                h = conv_forward(ctx, b.conv2, h, 1, -1, -1, nullptr, kernels::Activation::Relu);
                h = conv_forward(ctx, b.conv4, h, 1, -1, -1, x.data());
                ops.activation(h.data(), h.numel(), kernels::Activation::Relu);
                x = std::move(h);
                break;
            }
        }
    }
    return x;
}

Tensor Taesd::decode(const Tensor& latent, const ForwardContext& ctx) const {
    if (latent.shape().size() != 3 || latent.dim(0) != latent_channels_)
        fail(path_, ": TAESD decodes latents of ", latent_channels_, " channels, given ", shape_str(latent.shape()));
    return run(decoder_, latent, ctx);
}

Tensor Taesd::encode(const Tensor& image, const ForwardContext& ctx) const {
    if (!has_encoder()) fail(path_, ": no TAESD encoder (taesd*_encoder.safetensors beside the decoder)");
    if (image.shape().size() != 3 || image.dim(0) != 3) fail(path_, ": TAESD encodes [3, H, W] images, given ", shape_str(image.shape()));
    return run(encoder_, image, ctx);
}

}  // namespace sdref
