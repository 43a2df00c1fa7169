#include "models/mmdit_denoiser.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "core/error.h"
#include "io/mapped_file.h"
#include "io/tensor_file.h"
#include "models/controlnet.h"
#include "models/key_names.h"
#include "models/weights.h"

namespace sdref {

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

// Whether the file is a Turbo (distilled) release: its name, or its ModelSpec metadata, says so.
bool is_turbo(const WeightStore& w, const std::string& source) {
    const std::string base = source.substr(source.find_last_of('/') + 1);
    if (lower(base).find("turbo") != std::string::npos) return true;
    for (const char* key : {"modelspec.architecture", "modelspec.title", "modelspec.implementation"})
        if (lower(w.metadata(key)).find("turbo") != std::string::npos) return true;
    return false;
}

// The bytes of tensors laid end to end (same dtype; a fused projection's rows, then its bias).
TensorRecord joined(const std::string& name, const std::vector<const TensorView*>& parts) {
    TensorRecord r{name, parts[0]->dtype, parts[0]->shape, {}};
    r.shape[0] = 0;
    for (const TensorView* p : parts) {
        if (p->dtype != r.dtype || p->shape.size() != r.shape.size()) fail(p->name, ": the parts of ", name, " differ in type or rank");
        r.shape[0] += p->shape[0];
        r.bytes.append(reinterpret_cast<const char*>(p->bytes), p->nbytes);
    }
    return r;
}

// [a; b] -> [b; a]: a modulation's two halves (rows, or a bias's values) swapped.
TensorRecord swapped_halves(const std::string& name, const TensorView& t) {
    TensorRecord r{name, t.dtype, t.shape, std::string(reinterpret_cast<const char*>(t.bytes), t.nbytes)};
    const size_t half = t.nbytes / 2;
    std::rotate(r.bytes.begin(), r.bytes.begin() + long(half), r.bytes.end());
    return r;
}

}  // namespace

Json add_diffusers_mmdit(WeightStore& w, const std::string& dir, const std::string& prefix) {
    Json config = Json::parse(read_text_file(dir + "/config.json"), dir + "/config.json");
    const std::vector<std::string> files = diffusers_weight_files(dir, "diffusion_pytorch_model");
    std::vector<std::unique_ptr<TensorFile>> opened;
    std::map<std::string, const TensorView*> tensors;
    std::vector<std::string> consumed;  // the folder's tensors whose values the made ones hold
    for (const std::string& f : files) {
        opened.push_back(open_tensor_file(f));
        for (const TensorView& t : opened.back()->tensors()) tensors[t.name] = &t;
    }
    auto get = [&](const std::string& name) -> const TensorView& {
        const auto it = tensors.find(name);
        if (it == tensors.end()) fail(dir, ": no tensor \"", name, "\" (an SD3Transformer2DModel has it)");
        consumed.push_back(name);
        return *it->second;
    };
    std::vector<TensorRecord> made;
    for (const char* part : {"weight", "bias"}) {
        const std::string s = std::string(".") + part;
        made.push_back(swapped_halves("final_layer.adaLN_modulation.1" + s, get("norm_out.linear" + s)));
        for (int n = 0; tensors.count("transformer_blocks." + std::to_string(n) + ".attn.to_q.weight"); ++n) {
            const std::string d = "transformer_blocks." + std::to_string(n) + ".", o = "joint_blocks." + std::to_string(n) + ".";
            made.push_back(joined(o + "x_block.attn.qkv" + s, {&get(d + "attn.to_q" + s), &get(d + "attn.to_k" + s), &get(d + "attn.to_v" + s)}));
            made.push_back(joined(o + "context_block.attn.qkv" + s,
                                  {&get(d + "attn.add_q_proj" + s), &get(d + "attn.add_k_proj" + s), &get(d + "attn.add_v_proj" + s)}));
            if (tensors.count(d + "attn2.to_q.weight"))
                made.push_back(joined(o + "x_block.attn2.qkv" + s, {&get(d + "attn2.to_q" + s), &get(d + "attn2.to_k" + s), &get(d + "attn2.to_v" + s)}));
            if (!tensors.count(d + "attn.to_add_out.weight"))  // the pre-only last block: (scale, shift) in diffusers
                made.push_back(swapped_halves(o + "context_block.adaLN_modulation.1" + s, get(d + "norm1_context.linear" + s)));
        }
    }
    // first: the made tensors shadow the folder's unswapped ones under the same names
    w.add_file(std::make_unique<MemoryTensorFile>(dir + " (q, k, v joined; modulations reordered)", std::move(made)), prefix);
    for (const std::string& f : files) w.add_file(f, prefix, diffusers_mmdit_name);
    for (const std::string& name : consumed) w.mark_used(prefix + name);  // (a renamed file's names are the prefix + its own)
    return config;
}

Tensor MmditDenoiser::predict(const Tensor& x, float t, const Conditioning& c, const DenoiserInputs& in, const ForwardContext& ctx) const {
    if (!in.controls.empty()) fail("the MMDiT takes no ControlNet");
    return mmdit_->forward(x, t, c.context, c.vector, in.skip_layers, ctx);
}

std::string MmditDenoiser::control_mismatch(const ControlNet& net) const {
    return cat(net.source(), " is a U-Net ControlNet; SD 3's transformer takes none in sdref");
}

std::shared_ptr<const Denoiser> make_mmdit_denoiser(const DenoiserSource& s) {
    if (!s.hypernetworks.empty())
        fail(s.hypernetworks.front().first, ": a hypernetwork modifies a U-Net's cross-attention; SD 3's transformer has none");
    auto mmdit = std::make_shared<const Mmdit>(Mmdit::load(s.store, s.prefix));
    DenoiserInfo info = s.info;
    info.latent_channels = mmdit->in_channels();
    info.vector_width = mmdit->pooled_width();
    info.context_width = mmdit->context_width();
    info.layers = mmdit->depth();
    info.start_step_rounds_down = true;
    if (is_turbo(*s.store, s.source)) info.default_steps = 4, info.default_cfg = 1.0f;
    else if (mmdit->dual_attention_blocks() > 0) info.default_steps = 40, info.default_cfg = 4.5f;
    else info.default_steps = 28, info.default_cfg = 3.5f;
    return std::make_shared<MmditDenoiser>(std::move(mmdit), std::move(info));
}

}  // namespace sdref
