#include "models/unet_denoiser.h"

#include <algorithm>

#include "addons/hypernetwork.h"
#include "core/error.h"
#include "io/mapped_file.h"
#include "models/controlnet.h"
#include "models/key_names.h"

namespace sdref {

namespace {

void add_residuals(const ForwardContext& ctx, ControlResiduals* sum, const ControlResiduals& r) {
    for (size_t i = 0; i < sum->down.size(); ++i) ctx.ops().add(sum->down[i].data(), r.down[i].data(), sum->down[i].data(), r.down[i].numel());
    ctx.ops().add(sum->mid.data(), r.mid.data(), sum->mid.data(), r.mid.numel());
}

}  // namespace

Tensor UNetDenoiser::predict(const Tensor& x, float t, const Conditioning& c, const DenoiserInputs& in, const ForwardContext& ctx) const {
    // an inpainting U-Net reads [latents; mask; masked-image latents]
    Tensor input = x;
    if (info_.inpainting) {
        if (!in.mask || !in.masked_latents) fail("an inpainting U-Net needs the mask and the masked picture's latents");
        const int64_t z = x.dim(0), hw = x.dim(1) * x.dim(2);
        input = Tensor({2 * z + 1, x.dim(1), x.dim(2)});
        std::copy_n(x.data(), z * hw, input.data());
        std::copy_n(in.mask->data(), hw, input.data() + z * hw);
        std::copy_n(in.masked_latents->data(), z * hw, input.data() + (z + 1) * hw);
    }
    // ControlNet residuals, summed over the ControlNets acting at this call (they read the latents alone)
    ControlResiduals residuals;
    for (size_t i = 0; i < in.controls.size(); ++i) {
        const ControlSpec& cs = *in.controls[i];
        ControlResiduals r = cs.net->forward(x, t, c, cs.image, cs.strength, ctx);
        if (i == 0) residuals = std::move(r);
        else add_residuals(ctx, &residuals, r);
    }
    return unet_->forward(input, t, c, ctx, in.controls.empty() ? nullptr : &residuals);
}

std::string UNetDenoiser::control_mismatch(const ControlNet& net) const {
    const UNetConfig &a = net.encoder().config(), &b = unet_->config();
    if (a.context_dim == b.context_dim && a.adm_in_channels == b.adm_in_channels) return "";
    return cat(net.source(), " is a ControlNet for another model family (cross-attention width ", a.context_dim, ", the model's ",
               b.context_dim, ")");
}

Json add_diffusers_unet(WeightStore& w, const std::string& dir, const std::string& prefix) {
    Json config = Json::parse(read_text_file(dir + "/config.json"), dir + "/config.json");
    const int64_t L = config.find("layers_per_block") ? config.at("layers_per_block").as_int(dir + "/config.json: layers_per_block") : 2;
    for (const std::string& file : diffusers_weight_files(dir, "diffusion_pytorch_model"))
        w.add_file(file, prefix, [L](const std::string& n) { return diffusers_unet_name(n, L); });
    return config;
}

std::shared_ptr<const Denoiser> make_unet_denoiser(const DenoiserSource& s) {
    auto unet = std::make_shared<UNet>(UNet::load(s.store, s.prefix, s.config));
    if (!s.hypernetworks.empty()) {
        std::vector<Hypernetwork> networks;
        for (const auto& [file, strength] : s.hypernetworks) networks.push_back(load_hypernetwork(file, strength));
        unet->set_context_hook(std::make_shared<HypernetworkHook>(std::move(networks)));
    }
    DenoiserInfo info = s.info;
    info.inpainting = unet->config().in_channels == 9;
    info.latent_channels = info.inpainting ? 4 : unet->config().in_channels;
    info.vector_width = unet->config().adm_in_channels;
    info.context_width = unet->config().context_dim;
    return std::make_shared<UNetDenoiser>(std::move(unet), std::move(info));
}

}  // namespace sdref
