#include "models/mmdit_denoiser.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "models/controlnet.h"
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

}  // namespace

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
