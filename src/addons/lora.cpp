#include "addons/lora.h"

#include <map>
#include <memory>

#include "core/error.h"
#include "io/tensor_file.h"
#include "kernels/gemm.h"
#include "models/key_names.h"
#include "models/unet.h"

namespace sdref {

namespace {

// "a.b.c" -> "a_b_c": kohya's way of writing a module path.
std::string underscored(std::string s) {
    for (char& c : s)
        if (c == '.') c = '_';
    return s;
}

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// A weight a LoRA module may change: a whole tensor, or rows of one (OpenCLIP's and SD 3's fused q/k/v projections).
using Target = ModuleWeight;

// kohya's prefix for text encoder i of n.
std::string text_tag(size_t i, size_t n) { return n == 1 ? "lora_te_" : "lora_te" + std::to_string(i + 1) + "_"; }

// Every layer a LoRA can reach, under kohya's module names.
std::map<std::string, Target> targets(const WeightStore& w, const FamilySpec& family) {
    std::map<std::string, Target> t;
    const std::vector<std::string>& text_prefixes = family.text_embedders;
    // the denoiser's layers by their original path and by their diffusers module path (kohya writes both as lora_unet_)
    const std::string denoiser = family.denoiser_prefix;
    for (const std::string& name : w.names(denoiser)) {
        if (!ends_with(name, ".weight") || w.shape_of(name).size() < 2) continue;
        const std::string local = name.substr(denoiser.size());
        t["lora_unet_" + underscored(local.substr(0, local.size() - 7))] = {name};
    }
    for (const auto& [module, weight] : family.diffusers_modules(w, denoiser)) t["lora_unet_" + underscored(module)] = weight;
    for (size_t i = 0; i < text_prefixes.size(); ++i) {
        const std::string& e = text_prefixes[i];
        const std::string tag = text_tag(i, text_prefixes.size());
        // Hugging Face names: the module path after "transformer."
        const std::string hf = e + "transformer.";
        for (const std::string& name : w.names(hf + "text_model."))
            if (ends_with(name, ".weight") && w.shape_of(name).size() == 2)
                t[tag + underscored(name.substr(hf.size(), name.size() - hf.size() - 7))] = {name};
        // OpenCLIP names, reached by their Hugging Face equivalents
        const std::string oc = e + "model.transformer.resblocks.";
        for (int64_t n = 0; w.has(oc + std::to_string(n) + ".attn.in_proj_weight"); ++n) {
            const std::string p = oc + std::to_string(n) + ".";
            const std::string key = tag + "text_model_encoder_layers_" + std::to_string(n) + "_";
            const int64_t D = w.shape_of(p + "attn.in_proj_weight").at(1);
            t[key + "self_attn_q_proj"] = {p + "attn.in_proj_weight", 0, D};
            t[key + "self_attn_k_proj"] = {p + "attn.in_proj_weight", D, D};
            t[key + "self_attn_v_proj"] = {p + "attn.in_proj_weight", 2 * D, D};
            t[key + "self_attn_out_proj"] = {p + "attn.out_proj.weight"};
            t[key + "mlp_fc1"] = {p + "mlp.c_fc.weight"};
            t[key + "mlp_fc2"] = {p + "mlp.c_proj.weight"};
        }
    }
    return t;
}

struct Module {
    const TensorView *down = nullptr, *up = nullptr, *alpha = nullptr;
};

// A LoRA tensor's module (in kohya's naming) and role, or false when it is not a LoRA weight.
bool split_name(const std::string& name, size_t text_encoders, std::string* module, std::string* role) {
    static const std::pair<const char*, const char*> suffixes[] = {
        {".lora_down.weight", "down"}, {".lora_up.weight", "up"}, {".alpha", "alpha"},   // kohya
        {".lora_A.weight", "down"},    {".lora_B.weight", "up"},                          // PEFT
        {".lora.down.weight", "down"}, {".lora.up.weight", "up"}};                        // diffusers
    for (const auto& [suffix, r] : suffixes) {
        if (!ends_with(name, suffix)) continue;
        std::string m = name.substr(0, name.size() - std::string(suffix).size());
        if (m.rfind("lora_", 0) != 0) {
            // diffusers / PEFT: unet.<path>, text_encoder.<path>, text_encoder_2.<path> (maybe under "base_model.model.")
            if (m.rfind("base_model.model.", 0) == 0) m = m.substr(17);
            if (m.rfind("unet.", 0) == 0) m = "lora_unet_" + underscored(m.substr(5));
            else if (m.rfind("transformer.", 0) == 0) m = "lora_unet_" + underscored(m.substr(12));  // (SD 3)
            else if (m.rfind("text_encoder_2.", 0) == 0) m = text_tag(1, 2) + underscored(m.substr(15));
            else if (m.rfind("text_encoder.", 0) == 0) m = text_tag(0, text_encoders) + underscored(m.substr(13));
            else return false;
        } else if (text_encoders == 1 && m.rfind("lora_te1_", 0) == 0) {
            m = "lora_te_" + m.substr(9);
        }
        *module = m;
        *role = r;
        return true;
    }
    return false;
}

// w[rows x cols] += scale up[rows x r] down[r x cols], the product on the GEMM: x w'^T with x = scale up, w' = down^T.
// delta: the product's buffer, reused from layer to layer.
void add_product(float* w, int64_t rows, int64_t cols, const Tensor& up, const Tensor& down, int64_t r, float scale,
                 std::vector<float>& delta) {
    std::vector<float> x(size_t(rows * r)), down_t(size_t(cols * r));
    for (int64_t i = 0; i < rows * r; ++i) x[size_t(i)] = scale * up[i];
    for (int64_t k = 0; k < r; ++k)
        for (int64_t j = 0; j < cols; ++j) down_t[size_t(j * r + k)] = down[k * cols + j];
    if (delta.size() < size_t(rows * cols)) delta.resize(size_t(rows * cols));
    kernels::linear(rows, cols, r, x.data(), r, down_t.data(), kernels::ElemType::F32, delta.data(), cols);
    for (int64_t i = 0; i < rows * cols; ++i) w[i] += delta[size_t(i)];
}

}  // namespace

LoraReport apply_loras(WeightStore& w, const std::vector<LoraSpec>& loras, const FamilySpec& family) {
    LoraReport report;
    if (loras.empty()) return report;
    const std::vector<std::string>& text_prefixes = family.text_embedders;
    const std::map<std::string, Target> reachable = targets(w, family);
    std::vector<float> delta;
    for (const LoraSpec& spec : loras) {
        const std::unique_ptr<TensorFile> file = open_tensor_file(spec.path);
        std::map<std::string, Module> modules;
        for (const TensorView& v : file->tensors()) {
            std::string module, role;
            if (!split_name(v.name, text_prefixes.size(), &module, &role)) {
                report.unused.push_back(spec.path + ": " + v.name);
                continue;
            }
            Module& m = modules[module];
            (role == "down" ? m.down : role == "up" ? m.up : m.alpha) = &v;
        }
        // kohya names the text encoders lora_te_ (SD 1.x/2.x: one) or lora_te1_ / lora_te2_ (SDXL: two)
        for (const auto& [name, m] : modules) {
            const bool single = name.rfind("lora_te_", 0) == 0, second = name.rfind("lora_te2_", 0) == 0;
            if ((single && text_prefixes.size() == 2) || (second && text_prefixes.size() == 1))
                fail(spec.path, ": a LoRA for another model family: its text-encoder layers are named ", single ? "lora_te_" : "lora_te2_",
                     " (", single ? "one text encoder, SD 1.x/2.x" : "two text encoders, SDXL", "), this model has ",
                     text_prefixes.size(), " text encoder", text_prefixes.size() == 1 ? "" : "s");
        }
        size_t known = 0;
        for (const auto& [name, m] : modules) known += reachable.count(name);
        if (!modules.empty() && known == 0)
            fail(spec.path, ": none of its ", modules.size(), " LoRA layers (first: ", modules.begin()->first,
                 ") is a layer of this model: a LoRA for another model family?");
        if (modules.empty()) fail(spec.path, ": no LoRA weights (lora_down/lora_up, lora_A/lora_B) in this file");

        for (const auto& [name, m] : modules) {
            const auto t = reachable.find(name);
            if (t == reachable.end())
                fail(spec.path, ": LoRA layer \"", name, "\": the model has no such layer (a LoRA for another model family?)");
            if (!m.down || !m.up) fail(spec.path, ": LoRA layer \"", name, "\" lacks its ", m.down ? "up" : "down", " weight");
            // up [out, r(, 1, 1)] @ down [r, in(, k, k)]
            const int64_t r = m.down->shape.at(0), in = m.down->numel() / std::max<int64_t>(r, 1);
            const int64_t out = m.up->shape.at(0);
            if (r <= 0 || m.up->numel() != out * r)
                fail(spec.path, ": \"", m.up->name, "\" is ", shape_str(m.up->shape), ", which does not fit \"", m.down->name, "\" ",
                     shape_str(m.down->shape));
            const Shape ws = w.shape_of(t->second.name);
            const int64_t rows = t->second.rows < 0 ? ws[0] : t->second.rows, cols = shape_numel(ws) / ws[0];
            if (out != rows || in != cols)
                fail(spec.path, ": LoRA layer \"", name, "\" updates a [", out, ", ", in, "] weight, the model's ", t->second.name,
                     " is ", shape_str(ws), t->second.rows < 0 ? "" : " (a slice of " + std::to_string(rows) + " rows)");
            const float alpha = m.alpha ? m.alpha->to_f32()[0] : float(r);
            const float scale = spec.multiplier * alpha / float(r);
            Tensor values = w.vector(t->second.name, ws);  // the current values (earlier LoRAs included)
            add_product(values.data() + t->second.first_row * cols, out, in, m.up->to_f32(), m.down->to_f32(), r, scale, delta);
            w.set_owned(t->second.name, std::move(values));
            ++report.layers;
        }
    }
    return report;
}

}  // namespace sdref
