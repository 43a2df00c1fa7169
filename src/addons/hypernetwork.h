// hypernetwork.h: A1111's hypernetworks (NovelAI's "modules"): small MLPs that change what every attention layer
// of the U-Net computes its keys and values from.
//
//   for a layer whose context c (the normed tokens for self-attention, the text for cross-attention) has width d
//   with an entry in the file:   k = to_k(c + mlp_k(c) s),   v = to_v(c + mlp_v(c) s)      s: the strength
//   mlp = Linear(d, d l_1) [act] [LayerNorm] ... Linear(d l_{n-1}, d) [act if activate_output]
// with l = layer_structure (e.g. [1, 2, 1]); dropout only acts in training and is ignored. Several hypernetworks
// apply one after the other. The file is a PyTorch pickle {d: [state_k, state_v], "layer_structure", "activation_func",
// "is_layer_norm", "activate_output", ...}, read without running code.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/blocks.h"

namespace sdref {

struct HypernetworkMlp {
    struct Layer {
        Tensor weight, bias;       // Linear [out, in], [out]
        bool activation = false;   // the file's activation after it
        Tensor norm_w, norm_b;     // LayerNorm [out] after it (is_layer_norm), empty otherwise
    };
    std::vector<Layer> layers;
    // y [m, d] = x + mlp(x) s
    Tensor apply(const ForwardContext& ctx, const float* x, int64_t m, int64_t d, float strength, const std::string& activation) const;
};

struct Hypernetwork {
    std::string name, path, activation;  // activation_func: linear, relu, leakyrelu, elu, swish, tanh, sigmoid, gelu
    float strength = 1.0f;
    std::map<int64_t, std::pair<HypernetworkMlp, HypernetworkMlp>> by_width;  // d -> (k, v)
};

Hypernetwork load_hypernetwork(const std::string& path, float strength);

// Hypernetworks as the U-Net's context hook, applied in order.
class HypernetworkHook : public ContextHook {
public:
    explicit HypernetworkHook(std::vector<Hypernetwork> networks) : networks_(std::move(networks)) {}
    bool transform(const ForwardContext& ctx, const float* c, int64_t m, int64_t width, Tensor* ck, Tensor* cv) const override;

private:
    std::vector<Hypernetwork> networks_;
};

}  // namespace sdref
