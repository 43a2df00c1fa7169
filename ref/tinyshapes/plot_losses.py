"""Loss curves of a training run as one PNG (for docs/train.md).

    python3 ref/tinyshapes/plot_losses.py ref/tinyshapes/run docs/img/tinyshapes_loss.png
"""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def read(path, column):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return np.array([int(r["step"]) for r in rows]), np.array([float(r[column]) for r in rows])


def smooth(y, n=25):
    return np.convolve(y, np.ones(n) / n, mode="valid") if len(y) > n else y


def main():
    run, out = sys.argv[1], sys.argv[2]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    panels = [("loss_vae_base.csv", "reconstruction", "VAE, phase 1: L1 + MSE"),
              ("loss_vae.csv", "reconstruction", "VAE, phase 2: foreground-weighted"),
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
    fig.tight_layout()
    fig.savefig(out, dpi=100)


if __name__ == "__main__":
    main()
