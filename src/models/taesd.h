// taesd.h: TAESD, the tiny autoencoder (madebyollin/taesd): a decoder and an encoder of 64 channels without
// attention or norms, about a hundredth of the KL VAE's work, for fast final pictures and live previews. It works in
// the denoiser's latent space: decode(z) stands for vae.decode(z / scale + shift) / 2 + 1/2, encode(x) for
// scale · (vae.encode(2x - 1) - shift).
//
// The layers, by their index in taesd.py's nn.Sequential (the original files' key prefixes):
//   Decoder  latent [z, h, w]
//     0 tanh(z / 3) * 3;  1 conv z->64, 2 ReLU;  3-5 Block;  6 nearest 2x, 7 conv;  8-10 Block;  11 2x, 12 conv;
//     13-15 Block;  16 2x, 17 conv;  18 Block;  19 conv 64->3          -> image [3, 8h, 8w], about [0, 1]
//   Encoder  image [3, H, W] in [0, 1]
//     0 conv 3->64;  1 Block;  2 conv stride 2;  3-5 Block;  6 conv /2;  7-9 Block;  10 conv /2;  11-13 Block;
//     14 conv 64->z                                                    -> latent [z, H/8, W/8]
//   Block(x) = ReLU(conv.4(ReLU(conv.2(ReLU(conv.0(x))))) + x)         (3x3 convs with bias, 64 -> 64)
//   Every conv is 3x3 with padding 1; those between Blocks (7, 12, 17, and the stride-2 ones) have no bias.
// Files as people have them: taesd_decoder.safetensors (+ _encoder) of the original release (taesd, taesdxl,
// taesd3 for 16-channel latents), a folder holding them, or a diffusers AutoencoderTiny folder (encoder.layers.N
// = original N, decoder.layers.N-1 = original N). docs/vae.md compares it with the KL VAE.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/blocks.h"

namespace sdref {

struct TaesdBlock {
    Conv conv0, conv2, conv4;  // N.conv.0 / .2 / .4  [64, 64, 3, 3] with bias
};

// One entry of a coder's table: what index N of the nn.Sequential does.
struct TaesdLayer {
    enum Kind { Clamp, Conv3x3, ConvNoBias, Downsample, Relu, Block, Upsample } kind;
    int index;
};

struct TaesdCoder {
    std::vector<TaesdLayer> layers;  // the table above
    std::vector<Conv> convs;         // the convs of Conv3x3 / ConvNoBias / Downsample layers, in order
    std::vector<TaesdBlock> blocks;  // the Blocks, in order
};

class Taesd {
public:
    // From a decoder file (taesd*_decoder.safetensors, an _encoder beside it is taken too), a folder holding them,
    // or a diffusers AutoencoderTiny folder. Errors name the file and the tensor.
    static Taesd load(const std::string& path);

    int64_t latent_channels() const { return latent_channels_; }
    bool has_decoder() const { return !decoder_.layers.empty(); }
    bool has_encoder() const { return !encoder_.layers.empty(); }
    // The release the files name ("taesd", "taesdxl", "taesd3", "taef1"), or "" (a diffusers folder does not say).
    const std::string& variant() const { return variant_; }
    const std::string& path() const { return path_; }

    // latent [z, h, w] in the denoiser's space -> image [3, 8h, 8w], about [0, 1] (not clamped)
    Tensor decode(const Tensor& latent, const ForwardContext& ctx = {}) const;
    // image [3, H, W] in [0, 1] -> latent [z, H/8, W/8] in the denoiser's space
    Tensor encode(const Tensor& image, const ForwardContext& ctx = {}) const;

private:
    Tensor run(const TaesdCoder& coder, Tensor x, const ForwardContext& ctx) const;

    std::shared_ptr<const WeightStore> weights_;
    TaesdCoder decoder_, encoder_;
    int64_t latent_channels_ = 0;
    std::string variant_, path_;
};

}  // namespace sdref
