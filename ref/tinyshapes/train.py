"""Train TinyShapes: the VAE first, then the text encoder and U-Net together on the VAE's latents, then the
VAE's decoder alone a little longer.

    python3 ref/tinyshapes/train.py --out ref/tinyshapes/run      (then export.py writes the checkpoint)

Seeded and deterministic on one machine (fixed step counts, fixed thread count). Writes into --out:
    vae.pt, unet.pt (EMA weights included), vae_decoder.pt (the decoder fine-tuned), loss_*.csv, caption_gap.csv,
    latent_stats.json, samples_<step>.png, log.txt
Every phase resumes from its file when it is already there, so a stopped run can be continued.
"""
import argparse
import copy
import csv
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import checker
import dataset
import model
from pngio import write_png

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = os.path.join(HERE, "..", "..", "data", "clip", "bpe_simple_vocab_16e6.txt.gz")


def log(out, *args):
    line = " ".join(str(a) for a in args)
    print(line, flush=True)
    with open(os.path.join(out, "log.txt"), "a") as f:
        f.write(line + "\n")


def make_pool(n, seed):
    rng = np.random.default_rng(seed)
    caps, imgs = [], np.empty((n, dataset.SIZE, dataset.SIZE, 3), np.uint8)
    for i in range(n):
        c, im, _ = dataset.sample(rng)
        caps.append(c)
        imgs[i] = im
    return caps, imgs


def to_tensor(imgs):
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1


def to_pixels(y):
    """Network output in [-1, 1], NCHW -> uint8 NHWC pictures."""
    return ((y.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


def probe_pictures(n=200, seed=77):
    """Single-shape pictures with their labels (held-out pairs included), apart from the training pool."""
    rng, out = np.random.default_rng(seed), []
    while len(out) < n:
        _, img, lab = dataset.sample(rng, held_out_ok=True)
        if lab is not None:
            out.append((img, lab))
    return out


def judged(pictures, labels):
    """Shares of pictures the analytic checker (checker.py) judges right: (colours, shape, shape of the large)."""
    got = [checker.judge(p) for p in pictures]
    colour = np.mean([g["colour"] == l["colour"] and g["background"] == l["background"] for g, l in zip(got, labels)])
    shape = [g["shape"] == l["shape"] for g, l in zip(got, labels)]
    large = [ok for ok, l in zip(shape, labels) if l.get("size", "large") == "large"]
    return float(colour), float(np.mean(shape)), float(np.mean(large))


@torch.no_grad()
def judge_reconstructions(vae, probe):
    """The VAE's reconstructions (posterior mean, no noise) of the probe pictures, judged by the checker."""
    x = to_tensor(np.stack([p for p, _ in probe]))
    y = torch.cat([vae.decode(vae.encode(x[i : i + 50])[0]) for i in range(0, len(x), 50)])
    return judged(to_pixels(y), [l for _, l in probe])


def reconstruction_phase(args, vae, imgs, name, steps, lr, noise, seed):
    """Reconstruction (L1 + MSE) on whole pictures (GroupNorm statistics and the attention depend on the extent:
    crops train a VAE that shifts colours on whole pictures), of the parameters that require gradients. Pixels that
    differ from the picture's background (its corner) weigh 1 + fg_weight: a small shape covers 2 x 2 latent pixels
    and is otherwise lost in the background's error. The decoder sees z = mean + noise * std(mean) per channel:
    noise a fixed fraction of the latents' own spread, whatever their scale, so that the decoder learns to map
    every latent near a picture's to that picture."""
    params = [p for p in vae.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    g = np.random.default_rng(seed)
    rows, judged_rows, probe, t0 = [], [], probe_pictures(), time.time()
    for step in range(1, steps + 1):
        x = to_tensor(imgs[g.integers(len(imgs), size=args.vae_batch)])
        w = 1 + args.vae_fg_weight * ((x - x[:, :, :1, :1]).abs().amax(dim=1, keepdim=True) > 0.05).float()
        mean, _ = vae.encode(x)
        spread = mean.detach().std(dim=(0, 2, 3), keepdim=True)
        y = vae.decode(mean + torch.randn_like(mean) * noise * spread)
        err = (y - x).abs() + (y - x) ** 2
        rec = (err * w).sum() / (w.sum() * 3)
        for p in opt.param_groups:
            p["lr"] = lr * min(1.0, step / 100) * (0.5 * (1 + math.cos(math.pi * step / steps)) * 0.9 + 0.1)
        opt.zero_grad(set_to_none=True)
        rec.backward()
        opt.step()
        rows.append((step, float(rec)))
        if step % 50 == 0:
            psnr = 10 * math.log10(4 / float(((y.detach().clamp(-1, 1) - x) ** 2).mean()))
            log(args.out, f"{name} step {step} rec {rec.item():.4f} psnr {psnr:.1f} dB {time.time() - t0:.0f}s")
        if step % 500 == 0 or step == steps:
            judged_rows.append((step,) + judge_reconstructions(vae.eval(), probe))
            vae.train()
            log(args.out, f"{name} step {step} reconstructions judged right: colours {judged_rows[-1][1]:.2f} "
                f"shape {judged_rows[-1][2]:.2f} (large {judged_rows[-1][3]:.2f})")
    with open(os.path.join(args.out, f"loss_{name}.csv"), "w") as f:
        csv.writer(f).writerows([("step", "reconstruction")] + rows)
    with open(os.path.join(args.out, f"judged_{name}.csv"), "w") as f:
        csv.writer(f).writerows([("step", "colours", "shape", "shape_large")] + judged_rows)


def train_vae(args, imgs):
    """The whole VAE, with decoder noise vae_noise. Without noise (the first run: learned posterior, KL weight
    1e-5) the posterior collapsed to sigma 0.05 of a spread of 2.7 and generated latents slightly off the data
    decoded to textures. The learned log-variance is not used; export.py sets it to the noise trained with."""
    path = os.path.join(args.out, "vae.pt")
    torch.manual_seed(args.seed)
    vae = model.AutoencoderKL()
    if os.path.exists(path):
        vae.load_state_dict(torch.load(path))
        return vae
    log(args.out, "vae parameters", model.count(vae))
    reconstruction_phase(args, vae, imgs, "vae", args.vae_steps, args.vae_lr, args.vae_noise, args.seed + 1)
    torch.save(vae.state_dict(), path)
    return vae


def finetune_decoder(args, imgs):
    """The decoder alone, longer and with less noise (decoder_noise), for sharper edges. The encoder is frozen, so
    the latents the U-Net was trained on do not change (SD's own VAE was improved this way: its ft-MSE decoder)."""
    path = os.path.join(args.out, "vae_decoder.pt")
    if os.path.exists(path) or args.decoder_steps == 0:
        return
    torch.manual_seed(args.seed + 7)
    vae = model.AutoencoderKL()
    vae.load_state_dict(torch.load(os.path.join(args.out, "vae.pt")))
    for m in (vae.encoder, vae.quant_conv):
        m.requires_grad_(False)
    reconstruction_phase(args, vae, imgs, "decoder", args.decoder_steps, args.decoder_lr, args.decoder_noise, args.seed + 8)
    torch.save(vae.state_dict(), path)


@torch.no_grad()
def encode_pool(vae, imgs, batch=64):
    """Posterior means of every picture, in the VAE's own (unscaled) units."""
    out = []  # plain NCHW: the runs that trained with channels-last tensors (faster) did not converge here
    for i in range(0, len(imgs), batch):
        out.append(vae.encode(to_tensor(imgs[i : i + batch]))[0])
    return torch.cat(out)


@torch.no_grad()
def ddim_sample(unet, text, vae, tok, prompts, seed, norm, alphas, steps=20, cfg=5.0):
    """Deterministic DDIM (eta 0) with classifier-free guidance; the picture check during training.
    norm = (shift, scale): the U-Net works on (latent - shift) / scale."""
    g = torch.Generator().manual_seed(seed)
    n = len(prompts)
    ctx = text(torch.tensor([tok(p) for p in prompts] + [tok("")] * n))
    x = torch.randn(n, 4, dataset.SIZE // 8, dataset.SIZE // 8, generator=g)
    ts = list(range(999, -1, -1000 // steps))[:steps]
    for i, t in enumerate(ts):
        eps_c, eps_u = unet(torch.cat([x, x]), torch.full((2 * n,), t), ctx).chunk(2)
        eps = eps_u + cfg * (eps_c - eps_u)
        a = alphas[t]
        a_prev = alphas[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0)
        x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    return to_pixels(vae.decode(x * norm[1] + norm[0]))


def test_prompts():
    """The generation test's prompts (make_checker_set.py): every large colour-shape pair on another colour."""
    names, out = list(dataset.COLOURS), []
    for ci, colour in enumerate(names):
        for si, shape in enumerate(dataset.SHAPES):
            bg = names[(ci + 1 + si) % len(names)]
            out.append((f"a large {colour} {shape} on {dataset.article(bg)} {bg} background",
                        {"colour": colour, "shape": shape, "background": bg}))
    return out


SAMPLE_PROMPTS = [
    "a red circle on a blue background",
    "a small green triangle at the top left",
    "a yellow star on a black background",
    "a large white square in the center on a purple background",
    "a red star on a white background",  # held out
    "a blue triangle at the bottom right on an orange background",  # held out
    "a yellow cross on a green background",  # held out
    "a yellow star and a white square on a blue background",
]


@torch.no_grad()
def caption_gap(unet, text, ids, latents, alphas, seed):
    """The noise loss with each picture's own caption and with the captions shuffled, at t = 300, 500, 700, on a
    fixed set of pool pictures and noise: the gap is the part of the loss the text explains, the progress measure
    that counts (the loss alone falls as much from learning what pictures look like in general)."""
    g = torch.Generator().manual_seed(seed)
    n = len(ids)
    perm = torch.randperm(n, generator=g)
    eps = torch.randn(latents.shape, generator=g)
    ctx, ctx_shuffled = text(ids), text(ids[perm])
    out = []
    for t in (300, 500, 700):
        a = alphas[t]
        zt = a.sqrt() * latents + (1 - a).sqrt() * eps
        tt = torch.full((n,), t)
        right = F.mse_loss(unet(zt, tt, ctx), eps).item()
        wrong = F.mse_loss(unet(zt, tt, ctx_shuffled), eps).item()
        out.append((t, right, wrong))
    return out


def train_unet(args, caps, latents, norm, vae, tok):
    """The DDPM objective: predict the noise eps added to z_0 at a random timestep t,
    z_t = sqrt(abar_t) z_0 + sqrt(1 - abar_t) eps, loss = w(t) |eps - unet(z_t, t, text(caption))|^2,
    w(t) = min(SNR(t), gamma) / SNR(t) with SNR = abar / (1 - abar) ("min-SNR" weighting: the nearly clean
    timesteps, whose noise is easy to see, stop dominating the gradient; the layout is decided at high t).
    10% of captions are dropped to "" so that the model also learns the unconditional prediction (CFG).
    z_0 is the VAE's latent normalised per channel over the pool (export.py folds that into the VAE)."""
    path = os.path.join(args.out, "unet.pt")
    torch.manual_seed(args.seed + 2)
    text, unet = model.TextEncoder(), model.UNet()
    log(args.out, "text parameters", model.count(text), "unet parameters", model.count(unet))
    alphas = model.sd_alphas_cumprod()
    snr = alphas / (1 - alphas)
    weight = snr.clamp(max=args.min_snr) / snr
    ids = torch.tensor([tok(c) for c in caps])
    empty = torch.tensor(tok(""))
    params = list(text.parameters()) + list(unet.parameters())
    groups = [{"params": list(unet.parameters()), "base_lr": args.lr},
              {"params": list(text.parameters()), "base_lr": args.text_lr}]
    opt = torch.optim.AdamW(groups, lr=args.lr, weight_decay=0.01)
    ema_text, ema_unet = copy.deepcopy(text).requires_grad_(False), copy.deepcopy(unet).requires_grad_(False)
    start, rows, gaps, judged_rows = 1, [], [], []
    if os.path.exists(path):
        s = torch.load(path)
        text.load_state_dict(s["text"]), unet.load_state_dict(s["unet"]), opt.load_state_dict(s["opt"])
        ema_text.load_state_dict(s["ema_text"]), ema_unet.load_state_dict(s["ema_unet"])
        start, rows, gaps, judged_rows = s["step"] + 1, s["rows"], s["gaps"], s["judged"]
        torch.set_rng_state(s["rng"])
    g = np.random.default_rng(args.seed + 3 + start)
    probe = torch.from_numpy(np.random.default_rng(args.seed + 4).choice(len(caps), 64, replace=False))
    t0 = time.time()
    for step in range(start, args.steps + 1):
        idx = torch.from_numpy(g.integers(len(caps), size=args.batch))
        z0 = latents[idx]
        c = ids[idx].clone()
        c[torch.rand(args.batch) < 0.1] = empty
        t = torch.randint(0, 1000, (args.batch,))
        eps = torch.randn_like(z0)
        a = alphas[t][:, None, None, None]
        zt = a.sqrt() * z0 + (1 - a).sqrt() * eps
        err = ((unet(zt, t, text(c)) - eps) ** 2).mean(dim=(1, 2, 3))
        loss = (weight[t] * err).mean()
        f = min(1.0, step / 200) * (0.5 * (1 + math.cos(math.pi * step / args.steps)) * 0.9 + 0.1)
        for p in opt.param_groups:
            p["lr"] = p["base_lr"] * f
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, m in ((ema_text, text), (ema_unet, unet)):
                for pe, pm in zip(e.parameters(), m.parameters()):
                    pe.mul_(decay).add_(pm, alpha=1 - decay)
        rows.append((step, float(loss), float(err.mean())))
        if step % 50 == 0:
            recent = np.mean([r[1] for r in rows[-50:]]), np.mean([r[2] for r in rows[-50:]])
            log(args.out, f"unet step {step} loss {recent[0]:.4f} (unweighted {recent[1]:.4f}) lr {args.lr * f:.2e} "
                f"{time.time() - t0:.0f}s")
        if step % args.sample_every == 0 or step == args.steps:
            gap = caption_gap(ema_unet, ema_text, ids[probe], latents[probe], alphas, args.seed + 5)
            gaps.append((step, gap))
            log(args.out, f"unet step {step} caption gap (t, right, shuffled):",
                " ".join(f"{t} {r:.4f} {w:.4f}" for t, r, w in gap))
            pics = ddim_sample(ema_unet, ema_text, vae, tok, SAMPLE_PROMPTS, seed=0, norm=norm, alphas=alphas)
            write_png(os.path.join(args.out, f"samples_{step:06d}.png"), np.concatenate(list(pics), axis=1))
            tests = test_prompts()
            pics = ddim_sample(ema_unet, ema_text, vae, tok, [p for p, _ in tests], seed=1, norm=norm, alphas=alphas)
            judged_rows.append((step,) + judged(pics, [l for _, l in tests])[:2])
            log(args.out, f"unet step {step} test prompts judged right: colours {judged_rows[-1][1]:.2f} shape {judged_rows[-1][2]:.2f}")
            with open(os.path.join(args.out, "judged_unet.csv"), "w") as f:
                csv.writer(f).writerows([("step", "colours", "shape")] + judged_rows)
            torch.save({"text": text.state_dict(), "unet": unet.state_dict(), "opt": opt.state_dict(),
                        "ema_text": ema_text.state_dict(), "ema_unet": ema_unet.state_dict(), "step": step,
                        "rows": rows, "gaps": gaps, "judged": judged_rows, "rng": torch.get_rng_state()}, path)
            with open(os.path.join(args.out, "loss_unet.csv"), "w") as f:
                csv.writer(f).writerows([("step", "weighted_loss", "loss")] + rows)
            with open(os.path.join(args.out, "caption_gap.csv"), "w") as f:
                csv.writer(f).writerows([("step", "t", "right_caption", "shuffled_caption")] +
                                        [(s, t, r, w) for s, gp in gaps for t, r, w in gp])
    return ema_text, ema_unet


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "run"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pool", type=int, default=12000, help="pictures rendered for training")
    ap.add_argument("--vae-steps", type=int, default=2200)
    ap.add_argument("--vae-batch", type=int, default=8)
    ap.add_argument("--vae-fg-weight", type=float, default=10.0, help="extra weight of the shapes' pixels")
    ap.add_argument("--vae-noise", type=float, default=0.15, help="decoder input noise, a fraction of the spread")
    ap.add_argument("--vae-lr", type=float, default=5e-4)
    ap.add_argument("--decoder-steps", type=int, default=500, help="decoder fine-tuning after the U-Net")
    ap.add_argument("--decoder-lr", type=float, default=2e-4)
    ap.add_argument("--decoder-noise", type=float, default=0.08)
    ap.add_argument("--steps", type=int, default=1800)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3, help="U-Net learning rate")
    ap.add_argument("--text-lr", type=float, default=2e-3, help="text encoder learning rate")
    ap.add_argument("--min-snr", type=float, default=5.0, help="loss weight min(SNR, gamma) / SNR")
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--sample-every", type=int, default=250)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    log(args.out, "args", vars(args))
    caps, imgs = make_pool(args.pool, args.seed)
    log(args.out, f"pool of {len(caps)} pictures in {time.time() - t0:.0f}s")
    vae = train_vae(args, imgs).eval()
    log(args.out, f"vae done at {time.time() - t0:.0f}s")
    lat_path = os.path.join(args.out, "latents.pt")
    if os.path.exists(lat_path):
        latents = torch.load(lat_path)
    else:
        latents = encode_pool(vae, imgs)
        torch.save(latents, lat_path)
    stats = {"mean": latents.mean(dim=(0, 2, 3)).tolist(), "std": latents.std(dim=(0, 2, 3)).tolist(),
             "vae_noise": args.vae_noise}
    log(args.out, f"latents encoded at {time.time() - t0:.0f}s, per channel", stats)
    with open(os.path.join(args.out, "latent_stats.json"), "w") as f:
        json.dump(stats, f)
    shift = torch.tensor(stats["mean"])[None, :, None, None]
    scale = torch.tensor(stats["std"])[None, :, None, None]
    tok = dataset.ClipTokenizer(VOCAB)
    train_unet(args, caps, (latents - shift) / scale, (shift, scale), vae, tok)
    log(args.out, f"u-net done at {time.time() - t0:.0f}s")
    finetune_decoder(args, imgs)
    log(args.out, f"all done at {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
