// mmdit_denoiser.h: SD 3's MMDiT (models/mmdit.h) as a Denoiser. It predicts the flow velocity
//
//   v = mmdit(x_sigma, t = sigma x 1000, context, pooled [, skip_layers])     x_sigma = (1 - sigma) x0 + sigma eps
//
// and reads no mask (SD 3's inpainting blends latents in the pipeline) and no ControlNet.
#pragma once

#include <memory>

#include "models/denoiser.h"
#include "models/mmdit.h"

namespace sdref {

class MmditDenoiser : public Denoiser {
public:
    MmditDenoiser(std::shared_ptr<const Mmdit> mmdit, DenoiserInfo info) : mmdit_(std::move(mmdit)), info_(std::move(info)) {}

    const DenoiserInfo& info() const override { return info_; }
    const char* name() const override { return "MMDiT"; }
    Tensor predict(const Tensor& x, float t, const Conditioning& c, const DenoiserInputs& in, const ForwardContext& ctx) const override;
    int64_t predict_bytes(int64_t h, int64_t w) const override { return mmdit_->forward_bytes(h, w); }
    double predict_flops(int64_t h, int64_t w, int64_t tokens) const override { return mmdit_->forward_flops(h, w, tokens); }
    std::string control_mismatch(const ControlNet& net) const override;
    const Mmdit& mmdit() const { return *mmdit_; }

private:
    std::shared_ptr<const Mmdit> mmdit_;
    DenoiserInfo info_;
};

// SD 3's FamilySpec::make_denoiser: the transformer, and the variant's sampling defaults (steps, guidance):
//   SD 3.5 Medium (MMDiT-X blocks)  40 steps, CFG 4.5      SD 3.5 Large  28 steps, CFG 3.5
//   SD 3.5 Large Turbo ("turbo" in the file's name or its modelspec metadata)  4 steps, CFG 1
std::shared_ptr<const Denoiser> make_mmdit_denoiser(const DenoiserSource& source);
// SD 3's FamilySpec::add_diffusers_denoiser: a transformer/ folder (SD3Transformer2DModel). Tensors that are one in
// both layouts are renamed (diffusers_mmdit_name); the original layout's fused qkv (diffusers' to_q, to_k, to_v and
// add_q/k/v_proj) and the modulations whose halves diffusers swaps (norm_out, the last block's norm1_context) are
// made in memory from the folder's values, in their stored precision (SD 3.5 Medium: 0.9 GB held in memory).
Json add_diffusers_mmdit(WeightStore& w, const std::string& subfolder, const std::string& prefix);

}  // namespace sdref
