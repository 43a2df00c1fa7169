"""The figures of docs/train.md from a training run: losses.png (loss curves and the caption gap), dataset.png
(captioned pictures of the dataset), samples.png (the sample prompts after every checkpoint).

    python3 ref/tinyshapes/figures.py ref/tinyshapes/run docs/images/tinyshapes
"""
import csv
import os
import sys

import matplotlib
import matplotlib.image as mpimg

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import dataset  # noqa: E402


def read(path, column):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return np.array([int(r["step"]) for r in rows]), np.array([float(r[column]) for r in rows])


def smooth(y, n=25):
    return np.convolve(y, np.ones(n) / n, mode="valid") if len(y) > n else y


def main():
    run, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    losses(run, os.path.join(out, "losses.png"))
    pictures(os.path.join(out, "dataset.png"))
    samples(run, os.path.join(out, "samples.png"))
    if len(sys.argv) > 3:  # the sdref binary: prompts.png too
        prompts(sys.argv[3], os.path.join(out, "prompts.png"))


def pictures(path, n=12):
    """n dataset pictures with their captions (the generator of make_checker_set.py, seeded)."""
    rng = np.random.default_rng(7)
    fig, axes = plt.subplots(2, n // 2, figsize=(13, 5.8))
    for ax in axes.flat:
        caption, img, _ = dataset.sample(rng)
        ax.imshow(img, interpolation="nearest")
        words, lines, line = caption.split(), [], ""
        for w in words:
            if len(line) + len(w) > 22:
                lines.append(line)
                line = ""
            line += (" " if line else "") + w
        ax.set_title("\n".join(lines + [line]), fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def samples(run, path):
    """samples_<step>.png of the run, one row per checkpoint, labelled with the step."""
    files = sorted(f for f in os.listdir(run) if f.startswith("samples_") and f.endswith(".png"))
    fig, axes = plt.subplots(len(files), 1, figsize=(9, 1.25 * len(files)))
    for ax, f in zip(np.atleast_1d(axes), files):
        ax.imshow(mpimg.imread(os.path.join(run, f)), interpolation="nearest")
        ax.set_ylabel(f"step {int(f[8:14])}", rotation=0, ha="right", va="center", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def prompts(sdref, path):
    """prompts.png: the sdref command's pictures (its defaults, seed 1) for prompts of the test, held-out pairs marked."""
    import subprocess
    import tempfile
    asks = ["a large red circle on a green background", "a large blue square on a yellow background",
            "a large white triangle on a black background", "a large orange cross on a purple background",
            "a large black star on a white background", "a large red star on a blue background",
            "a large blue triangle on a white background", "a large green circle on a purple background",
            "a large yellow cross on a black background", "a large purple square on an orange background"]
    fig, axes = plt.subplots(1, len(asks), figsize=(1.6 * len(asks), 2.2))
    with tempfile.TemporaryDirectory() as tmp:
        for i, (ax, prompt) in enumerate(zip(axes, asks)):
            out = os.path.join(tmp, f"{i}.png")
            subprocess.run([sdref, "-p", prompt, "-s", "1", "-o", out], check=True, capture_output=True)
            ax.imshow(plt.imread(out))
            held = "\n(held out)" if i >= 5 else ""
            ax.set_title(prompt.replace("a large ", "").replace(" on a", "\non a").replace(" on an", "\non an") + held, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def losses(run, path):
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.4))
    panels = [("loss_vae.csv", "reconstruction", "VAE: foreground-weighted L1 + MSE"),
              ("loss_unet.csv", "loss", "U-Net + text encoder: noise MSE")]
    for ax, (file, column, title) in zip(axes, panels):
        x, y = read(os.path.join(run, file), column)
        ax.plot(x, y, color="#bbbbbb", linewidth=0.5)
        ys = smooth(y)
        ax.plot(x[len(x) - len(ys):], ys, color="#1f5fbf")
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    # the caption gap: the noise loss with each picture's own caption against shuffled captions
    ax = axes[2]
    with open(os.path.join(run, "caption_gap.csv")) as f:
        rows = list(csv.DictReader(f))
    for t, colour in (("300", "#1f5fbf"), ("500", "#2a9d4b"), ("700", "#d0641c")):
        r = [row for row in rows if row["t"] == t]
        steps = [int(row["step"]) for row in r]
        ax.plot(steps, [float(row["right_caption"]) for row in r], color=colour, label=f"t={t}, own caption")
        ax.plot(steps, [float(row["shuffled_caption"]) for row in r], color=colour, linestyle="--", label=f"t={t}, shuffled")
    ax.set_title("noise MSE: own vs shuffled captions", fontsize=10)
    ax.set_xlabel("step")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    # pictures judged by the analytic checker (checker.py): the VAE's reconstructions, the U-Net's test prompts
    ax = axes[3]
    for file, column, label, colour in (("judged_vae.csv", "shape_large", "VAE reconstructions (large shapes)", "#1f5fbf"),
                                        ("judged_unet.csv", "colours", "U-Net samples: colours", "#2a9d4b"),
                                        ("judged_unet.csv", "shape", "U-Net samples: shape", "#d0641c")):
        x, y = read(os.path.join(run, file), column)
        ax.plot(x, y, color=colour, marker="o", markersize=3, label=label)
    ax.set_title("judged right by the checker (share)", fontsize=10)
    ax.set_xlabel("step (of each phase)")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
