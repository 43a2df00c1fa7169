"""Write the trained TinyShapes networks as one SD 1.x single-file checkpoint in the original layout (fp16).

    python3 ref/tinyshapes/export.py --run ref/tinyshapes/run --out models/tinyshapes.safetensors

The U-Net and text encoder are the EMA weights. The U-Net was trained on z0 = mean / std (unit variance); SD 1.x
pipelines use z0 = mean' * 0.18215, so the VAE's quant convolutions are rescaled here (mean' = k mean with
k = 1 / (0.18215 std), and post_quant_conv divides by k again): an ordinary SD 1.x file, no custom scale.
"""
import argparse
import datetime
import json
import math
import os
import struct

import torch

import dataset
import model

SD_SCALE = 0.18215


def fold_latent_scale(vae_state, k):
    """quant_conv: mean rows times k, log-variance bias plus 2 ln k; post_quant_conv: input columns over k."""
    s = {n: t.clone() for n, t in vae_state.items()}
    z = s["post_quant_conv.weight"].shape[0]
    s["quant_conv.weight"][:z] *= k
    s["quant_conv.bias"][:z] *= k
    s["quant_conv.bias"][z:] += 2 * math.log(k)
    s["post_quant_conv.weight"] /= k
    return s


def write_safetensors(path, tensors, metadata):
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": {torch.float16: "F16", torch.float32: "F32"}[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default=os.path.join(os.path.dirname(__file__), "run"))
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    std = float(open(os.path.join(args.run, "latent_std.txt")).read())
    unet_ckpt = torch.load(os.path.join(args.run, "unet.pt"))
    vae_state = fold_latent_scale(torch.load(os.path.join(args.run, "vae.pt")), 1.0 / (SD_SCALE * std))

    # the folded VAE decodes z0 / 0.18215 exactly as the trained one decodes z0 * std
    vae_a, vae_b = model.AutoencoderKL().eval(), model.AutoencoderKL().eval()
    vae_a.load_state_dict(torch.load(os.path.join(args.run, "vae.pt")))
    vae_b.load_state_dict(vae_state)
    z0 = torch.randn(1, 4, dataset.SIZE // 8, dataset.SIZE // 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        err = (vae_a.decode(z0 * std) - vae_b.decode(z0 / SD_SCALE)).abs().max().item()
    assert err < 1e-3, err

    tensors = {}
    for prefix, state in (("model.diffusion_model.", unet_ckpt["ema_unet"]), ("first_stage_model.", vae_state),
                          ("cond_stage_model.transformer.", unet_ckpt["ema_text"])):
        for name, t in state.items():
            tensors[prefix + name] = t.to(torch.float16)
    unet, text, vae = model.UNet(), model.TextEncoder(), model.AutoencoderKL()
    metadata = {
        "modelspec.sai_model_spec": "1.0.0",
        "modelspec.architecture": "stable-diffusion-v1",
        "modelspec.title": "TinyShapes",
        "modelspec.description": "A tiny SD 1.x-topology model trained on procedural coloured shapes (sdref's demo model)",
        "modelspec.resolution": f"{dataset.SIZE}x{dataset.SIZE}",
        "modelspec.license": "MIT",
        "modelspec.date": datetime.date.today().isoformat(),
        "unet_config": json.dumps({"sample_size": dataset.SIZE // 8, "in_channels": 4, "out_channels": 4, "layers_per_block": 2,
                                   "block_out_channels": unet.channels, "cross_attention_dim": unet.context,
                                   "norm_num_groups": model.GROUPS, "attention_head_dim": unet.heads}),
        "vae_config": json.dumps({"in_channels": 3, "out_channels": 3, "latent_channels": vae.z, "layers_per_block": 2,
                                  "block_out_channels": vae.channels, "norm_num_groups": model.GROUPS, "sample_size": dataset.SIZE,
                                  "scaling_factor": SD_SCALE}),
        "text_config": json.dumps(text.config),
        "tinyshapes_training": json.dumps({"unet_step": unet_ckpt["step"], "latent_std": std,
                                           "parameters": {"unet": model.count(unet), "text": model.count(text), "vae": model.count(vae)}}),
    }
    write_safetensors(args.out, tensors, metadata)
    print(f"wrote {args.out}: {len(tensors)} tensors, {os.path.getsize(args.out) / 1e6:.1f} MB, VAE fold error {err:.2e}")


if __name__ == "__main__":
    main()
