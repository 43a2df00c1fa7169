// key_names.cpp: the diffusers names of the original (LDM) tensor names, for loading diffusers folders and files
// through the original names (checkpoint.cpp) and for reaching diffusers-named LoRA layers (lora.cpp).
#include "models/key_names.h"

#include <vector>

#include "models/unet.h"
#include "models/weights.h"

namespace sdref {

namespace {

// "a.b.c" -> {"a", "b", "c"}
std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t dot; (dot = s.find('.', start)) != std::string::npos; start = dot + 1) parts.push_back(s.substr(start, dot - start));
    parts.push_back(s.substr(start));
    return parts;
}

std::string join(const std::vector<std::string>& parts, size_t from) {
    std::string s;
    for (size_t i = from; i < parts.size(); ++i) s += (s.empty() ? "" : ".") + parts[i];
    return s;
}

bool is_number(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

// ResBlock internals: in_layers.0 -> norm1, in_layers.2 -> conv1, emb_layers.1 -> time_emb_proj,
// out_layers.0 -> norm2, out_layers.3 -> conv2, skip_connection -> conv_shortcut.
std::string resblock_name(const std::string& rest) {
    static const std::pair<const char*, const char*> map[] = {
        {"in_layers.0.", "norm1."},        {"in_layers.2.", "conv1."}, {"emb_layers.1.", "time_emb_proj."},
        {"out_layers.0.", "norm2."},       {"out_layers.3.", "conv2."}, {"skip_connection.", "conv_shortcut."},
        {"nin_shortcut.", "conv_shortcut."}};
    for (const auto& [from, to] : map)
        if (rest.rfind(from, 0) == 0) return to + rest.substr(std::string(from).size());
    return rest;
}

}  // namespace

std::string diffusers_unet_name(const std::string& ldm, int64_t L) {
    const std::vector<std::string> p = split(ldm);
    if (p.size() >= 2 && p[0] == "time_embed") return std::string("time_embedding.linear_") + (p[1] == "0" ? "1" : "2") + "." + join(p, 2);
    if (p.size() >= 3 && p[0] == "label_emb") return std::string("add_embedding.linear_") + (p[2] == "0" ? "1" : "2") + "." + join(p, 3);
    if (p.size() >= 2 && p[0] == "out") return std::string(p[1] == "0" ? "conv_norm_out" : "conv_out") + "." + join(p, 2);
    if (p.size() >= 3 && p[0] == "middle_block" && is_number(p[1])) {
        if (p[1] == "1") return "mid_block.attentions.0." + join(p, 2);
        return "mid_block.resnets." + std::string(p[1] == "0" ? "0" : "1") + "." + resblock_name(join(p, 2));
    }
    if (p.size() < 4 || !is_number(p[1]) || !is_number(p[2])) return ldm;
    const int64_t n = std::stoll(p[1]), m = std::stoll(p[2]);
    const std::string rest = join(p, 3);
    if (p[0] == "input_blocks") {
        if (n == 0) return "conv_in." + rest;
        const int64_t i = (n - 1) / (L + 1), j = (n - 1) % (L + 1);
        const std::string level = "down_blocks." + std::to_string(i) + ".";
        if (j == L) return level + "downsamplers.0.conv." + rest.substr(rest.rfind("op.", 0) == 0 ? 3 : 0);
        return level + (m == 0 ? "resnets." + std::to_string(j) + "." + resblock_name(rest)
                               : "attentions." + std::to_string(j) + "." + rest);
    }
    if (p[0] == "output_blocks") {
        const int64_t i = n / (L + 1), j = n % (L + 1);
        const std::string level = "up_blocks." + std::to_string(i) + ".";
        if (m == 0) return level + "resnets." + std::to_string(j) + "." + resblock_name(rest);
        if (m == 2 || rest.rfind("conv.", 0) == 0) return level + "upsamplers.0." + rest;
        return level + "attentions." + std::to_string(j) + "." + rest;
    }
    return ldm;
}

std::string diffusers_vae_name(const std::string& ldm, int64_t levels) {
    const std::vector<std::string> p = split(ldm);
    if (p.size() < 3 || (p[0] != "encoder" && p[0] != "decoder")) return ldm;
    const std::string coder = p[0] + ".";
    if (p[1] == "norm_out") return coder + "conv_norm_out." + join(p, 2);
    if (p[1] == "mid") {
        if (p[2] == "block_1") return coder + "mid_block.resnets.0." + resblock_name(join(p, 3));
        if (p[2] == "block_2") return coder + "mid_block.resnets.1." + resblock_name(join(p, 3));
        if (p[2] == "attn_1") {
            const std::string rest = join(p, 3);
            return coder + "mid_block.attentions.0." + (rest.rfind("norm.", 0) == 0 ? "group_norm." + rest.substr(5) : rest);
        }
    }
    if ((p[1] == "down" || p[1] == "up") && p.size() >= 5 && is_number(p[2])) {
        const int64_t i = std::stoll(p[2]);
        const std::string level = p[1] == "down" ? "down_blocks." + std::to_string(i) + "."
                                                 : "up_blocks." + std::to_string(levels - 1 - i) + ".";
        if (p[3] == "block") return coder + level + "resnets." + p[4] + "." + resblock_name(join(p, 5));
        if (p[3] == "downsample" || p[3] == "upsample")
            return coder + level + (p[3] == "downsample" ? "downsamplers" : "upsamplers") + ".0." + join(p, 4);
    }
    return ldm;
}

std::string diffusers_controlnet_name(const std::string& ldm, int64_t L) {
    auto starts = [&](const char* p) { return ldm.rfind(p, 0) == 0; };
    if (starts("input_hint_block.")) {
        const size_t dot = ldm.find('.', 17);
        const int i = std::stoi(ldm.substr(17, dot - 17));
        const std::string rest = ldm.substr(dot + 1);
        if (i == 0) return "controlnet_cond_embedding.conv_in." + rest;
        if (i == 14) return "controlnet_cond_embedding.conv_out." + rest;
        return "controlnet_cond_embedding.blocks." + std::to_string(i / 2 - 1) + "." + rest;
    }
    if (starts("zero_convs.")) {
        const size_t dot = ldm.find('.', 11);
        return "controlnet_down_blocks." + ldm.substr(11, dot - 11) + "." + ldm.substr(ldm.find('.', dot + 1) + 1);
    }
    if (starts("middle_block_out.0.")) return "controlnet_mid_block." + ldm.substr(19);
    return diffusers_unet_name(ldm, L);
}

std::string diffusers_mmdit_name(const std::string& original) {
    static const std::pair<const char*, const char*> top[] = {
        {"x_embedder.proj.", "pos_embed.proj."},
        {"pos_embed", "pos_embed.pos_embed"},
        {"t_embedder.mlp.0.", "time_text_embed.timestep_embedder.linear_1."},
        {"t_embedder.mlp.2.", "time_text_embed.timestep_embedder.linear_2."},
        {"y_embedder.mlp.0.", "time_text_embed.text_embedder.linear_1."},
        {"y_embedder.mlp.2.", "time_text_embed.text_embedder.linear_2."},
        {"context_embedder.", "context_embedder."},
        {"final_layer.linear.", "proj_out."},
        {"final_layer.adaLN_modulation.1.", "norm_out.linear."}};  // (halves swapped: made in memory)
    static const std::pair<const char*, const char*> x_block[] = {
        {"adaLN_modulation.1.", "norm1.linear."}, {"attn.proj.", "attn.to_out.0."},   {"attn.ln_q.", "attn.norm_q."},
        {"attn.ln_k.", "attn.norm_k."},           {"attn2.proj.", "attn2.to_out.0."}, {"attn2.ln_q.", "attn2.norm_q."},
        {"attn2.ln_k.", "attn2.norm_k."},         {"mlp.fc1.", "ff.net.0.proj."},     {"mlp.fc2.", "ff.net.2."}};
    static const std::pair<const char*, const char*> context_block[] = {
        {"adaLN_modulation.1.", "norm1_context.linear."}, {"attn.proj.", "attn.to_add_out."}, {"attn.ln_q.", "attn.norm_added_q."},
        {"attn.ln_k.", "attn.norm_added_k."},             {"mlp.fc1.", "ff_context.net.0.proj."}, {"mlp.fc2.", "ff_context.net.2."}};
    auto replace = [](const std::string& name, const auto& table, const std::string& in_front) -> std::string {
        for (const auto& [from, to] : table)
            if (name.rfind(from, 0) == 0) return in_front + to + name.substr(std::string(from).size());
        return "";
    };
    if (std::string t = replace(original, top, ""); !t.empty()) return t;
    const std::vector<std::string> p = split(original);
    if (p.size() < 4 || p[0] != "joint_blocks" || !is_number(p[1])) return original;
    const std::string block = "transformer_blocks." + p[1] + ".", rest = join(p, 3);
    const std::string t = p[2] == "x_block" ? replace(rest, x_block, block) : p[2] == "context_block" ? replace(rest, context_block, block) : "";
    return t.empty() ? original : t;
}

std::map<std::string, ModuleWeight> diffusers_unet_modules(const WeightStore& w, const std::string& prefix) {
    std::map<std::string, ModuleWeight> modules;
    const int64_t L = unet_layers_per_block(w, prefix);
    for (const std::string& name : w.names(prefix)) {
        if (name.size() < 7 || name.compare(name.size() - 7, 7, ".weight") != 0 || w.shape_of(name).size() < 2) continue;
        const std::string d = diffusers_unet_name(name.substr(prefix.size()), L);
        modules[d.substr(0, d.size() - 7)] = {name};
    }
    return modules;
}

std::map<std::string, ModuleWeight> diffusers_mmdit_modules(const WeightStore& w, const std::string& p) {
    std::map<std::string, ModuleWeight> m;
    auto add = [&](const std::string& module, const std::string& original) {
        if (w.has(p + original + ".weight")) m[module] = {p + original + ".weight"};
    };
    // q, k and v: thirds of a fused qkv
    auto add_qkv = [&](const std::string& module, const char* const names[3], const std::string& original) {
        const std::string name = p + original + ".weight";
        if (!w.has(name)) return;
        const int64_t H = w.shape_of(name).at(0) / 3;
        for (int i = 0; i < 3; ++i) m[module + names[i]] = {name, i * H, H};
    };
    static const char* const to_qkv[3] = {"to_q", "to_k", "to_v"};
    static const char* const add_proj[3] = {"add_q_proj", "add_k_proj", "add_v_proj"};
    add("pos_embed.proj", "x_embedder.proj");
    add("time_text_embed.timestep_embedder.linear_1", "t_embedder.mlp.0");
    add("time_text_embed.timestep_embedder.linear_2", "t_embedder.mlp.2");
    add("time_text_embed.text_embedder.linear_1", "y_embedder.mlp.0");
    add("time_text_embed.text_embedder.linear_2", "y_embedder.mlp.2");
    add("context_embedder", "context_embedder");
    add("proj_out", "final_layer.linear");
    for (int n = 0; w.has(p + "joint_blocks." + std::to_string(n) + ".x_block.attn.qkv.weight"); ++n) {
        const std::string d = "transformer_blocks." + std::to_string(n) + ".", o = "joint_blocks." + std::to_string(n) + ".";
        const bool pre_only = !w.has(p + o + "context_block.attn.proj.weight");
        add(d + "norm1.linear", o + "x_block.adaLN_modulation.1");
        if (!pre_only) add(d + "norm1_context.linear", o + "context_block.adaLN_modulation.1");
        add_qkv(d + "attn.", to_qkv, o + "x_block.attn.qkv");
        add_qkv(d + "attn.", add_proj, o + "context_block.attn.qkv");
        add(d + "attn.to_out.0", o + "x_block.attn.proj");
        add(d + "attn.to_add_out", o + "context_block.attn.proj");
        add_qkv(d + "attn2.", to_qkv, o + "x_block.attn2.qkv");
        add(d + "attn2.to_out.0", o + "x_block.attn2.proj");
        add(d + "ff.net.0.proj", o + "x_block.mlp.fc1");
        add(d + "ff.net.2", o + "x_block.mlp.fc2");
        add(d + "ff_context.net.0.proj", o + "context_block.mlp.fc1");
        add(d + "ff_context.net.2", o + "context_block.mlp.fc2");
    }
    return m;
}

}  // namespace sdref
