// unet_denoiser.h: the U-Net families (SD 1.x, 2.x, SDXL and its refiner) as a Denoiser.
//
//   inpainting U-Net input   x' = [x; mask; masked-image latents]       [9, h, w]
//   ControlNet residuals     r = sum over the active ControlNets of net(x, t, c, image) x strength
//   prediction               unet(x', t, c, r)
#pragma once

#include <memory>

#include "models/denoiser.h"
#include "models/unet.h"

namespace sdref {

class UNetDenoiser : public Denoiser {
public:
    UNetDenoiser(std::shared_ptr<const UNet> unet, DenoiserInfo info) : unet_(std::move(unet)), info_(std::move(info)) {}

    const DenoiserInfo& info() const override { return info_; }
    const char* name() const override { return "U-Net"; }
    Tensor predict(const Tensor& x, float t, const Conditioning& c, const DenoiserInputs& in, const ForwardContext& ctx) const override;
    int64_t predict_bytes(int64_t h, int64_t w) const override { return unet_->forward_bytes(h, w); }
    double predict_flops(int64_t h, int64_t w, int64_t tokens) const override { return unet_->forward_flops(h, w, tokens); }
    std::string control_mismatch(const ControlNet& net) const override;
    const UNet& unet() const { return *unet_; }

private:
    std::shared_ptr<const UNet> unet_;
    DenoiserInfo info_;
};

// The U-Net families' FamilySpec::make_denoiser: the U-Net (its topology from the tensors, or the folder's config),
// with the hypernetworks on its cross-attention; an inpainting U-Net when it reads 9 channels.
std::shared_ptr<const Denoiser> make_unet_denoiser(const DenoiserSource& source);
// The U-Net families' FamilySpec::add_diffusers_denoiser: a unet/ folder (UNet2DConditionModel), renamed with
// diffusers_unet_name and its config's layers_per_block.
Json add_diffusers_unet(WeightStore& w, const std::string& subfolder, const std::string& prefix);

}  // namespace sdref
