"""Write the trained TinyShapes networks as one SD 1.x single-file checkpoint in the original layout (fp16).

    python3 ref/tinyshapes/export.py --run ref/tinyshapes/run --out models/tinyshapes.safetensors

The U-Net and text encoder are the EMA weights. The U-Net was trained on z0 = (mean - m) / s, the VAE's posterior
mean normalised per channel over the training pictures; SD 1.x pipelines use z0 = mean' * 0.18215, so the VAE's quant
convolutions are changed here to give mean' = k (mean - m) with k = 1 / (0.18215 s), and post_quant_conv undoes it:
an ordinary SD 1.x file, no custom scale. The log-variance rows are set to the noise the decoder was trained with.
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


def fold_latent_affine(vae_state, m, s, noise):
    """mean' = k (mean - m), k = 1 / (0.18215 s) per channel: quant_conv's mean rows W, b -> k W, k (b - m); its
    log-variance rows -> constant 2 ln(noise s k) (the training noise, noise * spread, in the new units);
    post_quant_conv P, p -> P / k (columns), p + P m, so that it sees mean = mean' / k + m as before."""
    st = {n: t.clone() for n, t in vae_state.items()}
    k = 1.0 / (SD_SCALE * s)
    w, b = st["quant_conv.weight"], st["quant_conv.bias"]
    z = len(m)
    w[:z] *= k[:, None, None, None]
    b[:z] = k * (b[:z] - m)
    w[z:] = 0
    b[z:] = 2 * torch.log(noise * s * k)
    p_w, p_b = st["post_quant_conv.weight"], st["post_quant_conv.bias"]
    p_b += p_w[:, :, 0, 0] @ m
    p_w /= k[None, :, None, None]
    return st


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
    stats = json.load(open(os.path.join(args.run, "latent_stats.json")))
    m, s = torch.tensor(stats["mean"]), torch.tensor(stats["std"])
    unet_ckpt = torch.load(os.path.join(args.run, "unet.pt"))
    # the VAE with its fine-tuned decoder (train.py's last phase) unless that phase was skipped (--decoder-steps 0)
    vae_file = os.path.join(args.run, "vae_decoder.pt")
    if not os.path.exists(vae_file):
        vae_file = os.path.join(args.run, "vae.pt")
    vae_state = fold_latent_affine(torch.load(vae_file), m, s, stats["vae_noise"])

    # the folded VAE decodes z0 / 0.18215 exactly as the trained one decodes z0 * s + m, and encodes to z0
    vae_a, vae_b = model.AutoencoderKL().eval(), model.AutoencoderKL().eval()
    vae_a.load_state_dict(torch.load(vae_file))
    vae_b.load_state_dict(vae_state)
    z0 = torch.randn(1, 4, dataset.SIZE // 8, dataset.SIZE // 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        err = (vae_a.decode(z0 * s[None, :, None, None] + m[None, :, None, None]) - vae_b.decode(z0 / SD_SCALE)).abs().max().item()
        x = vae_a.decode(z0 * s[None, :, None, None] + m[None, :, None, None])
        enc_err = (vae_b.encode(x)[0] * SD_SCALE - (vae_a.encode(x)[0] - m[None, :, None, None]) / s[None, :, None, None]).abs().max().item()
    assert err < 1e-3 and enc_err < 1e-3, (err, enc_err)

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
        "tinyshapes_training": json.dumps({"unet_step": unet_ckpt["step"], "latent_stats": stats,
                                           "parameters": {"unet": model.count(unet), "text": model.count(text), "vae": model.count(vae)}}),
    }
    write_safetensors(args.out, tensors, metadata)
    print(f"wrote {args.out}: {len(tensors)} tensors, {os.path.getsize(args.out) / 1e6:.1f} MB, VAE fold error {err:.2e}")


if __name__ == "__main__":
    main()
