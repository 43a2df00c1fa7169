#include "addons/hypernetwork.h"

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "io/pytorch_file.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"

namespace sdref {

namespace {

float activate(float x, const std::string& f) {
    if (f == "relu") return x > 0 ? x : 0;
    if (f == "leakyrelu") return x > 0 ? x : 0.01f * x;
    if (f == "elu") return x > 0 ? x : std::expm1(x);
    if (f == "swish" || f == "silu") return x / (1 + std::exp(-x));
    if (f == "tanh") return std::tanh(x);
    if (f == "sigmoid") return 1 / (1 + std::exp(-x));
    if (f == "gelu") return 0.5f * x * (1 + std::erf(x / std::sqrt(2.0f)));
    return x;  // "linear"
}

bool known_activation(const std::string& f) {
    for (const char* a : {"linear", "relu", "leakyrelu", "elu", "swish", "silu", "tanh", "sigmoid", "gelu"})
        if (f == a) return true;
    return false;
}

const PyObject* setting(const PyObject& root, const char* key) { return root.kind == PyObject::Kind::Dict ? root.get(key) : nullptr; }

// One MLP from a module's tensors: "<prefix>[linear.]N.weight" — 2-D for a Linear, 1-D for a LayerNorm.
HypernetworkMlp load_mlp(const PyTorchFile& f, const std::string& prefix, int64_t d, bool activate_output, bool has_norm) {
    std::map<int, std::pair<const TensorView*, const TensorView*>> by_index;  // index -> weight, bias
    for (const TensorView& v : f.tensors()) {
        if (v.name.rfind(prefix, 0) != 0) continue;
        std::string rest = v.name.substr(prefix.size());
        if (rest.rfind("linear.", 0) == 0) rest = rest.substr(7);
        const size_t dot = rest.find('.');
        if (dot == std::string::npos || dot == 0 || rest.find_first_not_of("0123456789") != dot)
            fail(f.path(), ": hypernetwork tensor \"", v.name, "\" is not [linear.]N.weight or .bias");
        auto& slot = by_index[std::stoi(rest.substr(0, dot))];
        if (rest.substr(dot + 1) == "weight") slot.first = &v;
        else if (rest.substr(dot + 1) == "bias") slot.second = &v;
        else fail(f.path(), ": hypernetwork tensor \"", v.name, "\" is not a weight or a bias");
    }
    HypernetworkMlp mlp;
    int64_t width = d;
    for (const auto& [index, wb] : by_index) {
        const auto& [w, b] = wb;
        if (!w || !b) fail(f.path(), ": hypernetwork layer ", prefix, index, " lacks its ", w ? "bias" : "weight");
        if (w->shape.size() == 2) {
            if (w->shape[1] != width || b->shape != Shape{w->shape[0]})
                fail(f.path(), ": hypernetwork layer ", prefix, index, " is ", shape_str(w->shape), ", after a width of ", width);
            mlp.layers.push_back({w->to_f32(), b->to_f32(), true, Tensor(), Tensor()});
            width = w->shape[0];
        } else {
            if (mlp.layers.empty() || w->shape != Shape{width} || !has_norm)
                fail(f.path(), ": hypernetwork tensor ", w->name, " ", shape_str(w->shape), " is not a LayerNorm after a linear layer");
            mlp.layers.back().norm_w = w->to_f32();
            mlp.layers.back().norm_b = b->to_f32();
        }
    }
    if (mlp.layers.empty() || width != d) fail(f.path(), ": the hypernetwork for width ", d, " does not map ", d, " back to ", d);
    mlp.layers.back().activation = activate_output;
    return mlp;
}

}  // namespace

Tensor HypernetworkMlp::apply(const ForwardContext& ctx, const float* x, int64_t m, int64_t d, float strength, const std::string& activation) const {
    Tensor h({m, d}, std::vector<float>(x, x + m * d));
    for (const Layer& l : layers) {
        const int64_t out = l.weight.dim(0), in = l.weight.dim(1);
        Tensor y({m, out});
        kernels::GemmEpilogue bias;
        bias.col_bias = l.bias.data();
        ctx.ops().matmul(m, out, in, kernels::activations(h.data(), 1, in), kernels::weight_rows(l.weight.data(), kernels::ElemType::F32, in),
                         y.data(), out, bias, ctx.precision);
        if (l.activation)
            for (int64_t i = 0; i < m * out; ++i) y[i] = activate(y[i], activation);
        if (l.norm_w.numel()) {
            Tensor n({m, out});
            ctx.ops().layer_norm(y.data(), n.data(), m, out, 1e-5f, l.norm_w.data(), l.norm_b.data());
            y = std::move(n);
        }
        h = std::move(y);
    }
    // x + mlp(x) s
    for (int64_t i = 0; i < m * d; ++i) h[i] = x[i] + h[i] * strength;
    return h;
}

Hypernetwork load_hypernetwork(const std::string& path, float strength) {
    const PyTorchFile f(path);
    const PyObject& root = f.root();
    Hypernetwork hn;
    hn.path = path;
    hn.strength = strength;
    hn.name = std::filesystem::path(path).stem().string();
    const PyObject* act = setting(root, "activation_func");
    hn.activation = act && act->kind == PyObject::Kind::Str ? act->s : "linear";
    if (!known_activation(hn.activation)) fail(path, ": hypernetwork activation_func \"", hn.activation, "\" is not supported");
    const PyObject* out = setting(root, "activate_output");
    const PyObject* norm = setting(root, "is_layer_norm");
    const bool activate_output = out && out->i, has_norm = norm && norm->i;
    for (const auto& [k, v] : root.dict) {
        if (k->kind != PyObject::Kind::Int) continue;  // the widths; the rest are settings
        if (v->kind != PyObject::Kind::List || v->items.size() != 2)
            fail(path, ": hypernetwork entry ", k->i, " is not a [k, v] pair of modules");
        const std::string p = std::to_string(k->i) + ".";
        hn.by_width[k->i] = {load_mlp(f, p + "0.", k->i, activate_output, has_norm), load_mlp(f, p + "1.", k->i, activate_output, has_norm)};
    }
    if (hn.by_width.empty()) fail(path, ": not a hypernetwork (no {width: [k, v]} entries)");
    return hn;
}

bool HypernetworkHook::transform(const ForwardContext& ctx, const float* c, int64_t m, int64_t width, Tensor* ck, Tensor* cv) const {
    bool changed = false;
    for (const Hypernetwork& hn : networks_) {
        const auto it = hn.by_width.find(width);
        if (it == hn.by_width.end()) continue;
        const float* k_in = changed ? ck->data() : c;
        const float* v_in = changed ? cv->data() : c;
        Tensor k = it->second.first.apply(ctx, k_in, m, width, hn.strength, hn.activation);
        Tensor v = it->second.second.apply(ctx, v_in, m, width, hn.strength, hn.activation);
        *ck = std::move(k);
        *cv = std::move(v);
        changed = true;
    }
    return changed;
}

}  // namespace sdref
