"""The analytic picture checker of tests/tinyshapes_checker.cpp in numpy, for watching a training run: which colour
and which shape a picture shows. The C++ checker is the one the tests use; this copy only measures progress
(train.py logs the VAE's reconstructions and the U-Net's samples judged by it).

    colour      every pixel takes the nearest palette colour; the background is the commonest on the border, the
                foreground the commonest of the rest
    shape       the largest 4-connected component of the foreground; each outline of dataset.py fitted to its
                bounding box and rasterised (2 x 2 samples a pixel); the outline of the highest IoU wins
"""
import math

import numpy as np
import dataset


def _extent(shape):
    if shape == "square":
        return -0.85, 0.85, -0.85, 0.85
    if shape == "triangle":
        return -1, 1, -1, 0.8
    if shape == "star":
        return -math.sin(2 * math.pi / 5), math.sin(2 * math.pi / 5), -1, math.cos(math.pi / 5)
    return -1, 1, -1, 1


def largest_component(mask):
    """The largest 4-connected component of a boolean mask."""
    h, w = mask.shape
    comp = np.full((h, w), -1)
    best, best_size, n = -1, 0, 0
    for y0, x0 in zip(*np.nonzero(mask)):
        if comp[y0, x0] >= 0:
            continue
        stack, size = [(y0, x0)], 0
        comp[y0, x0] = n
        while stack:
            y, x = stack.pop()
            size += 1
            for q, p in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= q < h and 0 <= p < w and mask[q, p] and comp[q, p] < 0:
                    comp[q, p] = n
                    stack.append((q, p))
        if size > best_size:
            best, best_size = n, size
        n += 1
    return comp == best


def judge(img):
    """img: HxWx3 uint8 -> dict(colour, shape, background)."""
    h, w, _ = img.shape
    names = list(dataset.COLOURS)
    pal = np.array([dataset.COLOURS[n] for n in names], np.float64)
    d = ((img.astype(np.float64)[:, :, None, :] - pal[None, None]) ** 2).sum(-1)
    label = d.argmin(-1)
    border = np.concatenate([label[0], label[-1], label[:, 0], label[:, -1]])
    bg = np.bincount(border, minlength=len(names)).argmax()
    rest = np.bincount(label[label != bg], minlength=len(names))
    out = {"background": names[bg], "colour": None, "shape": None}
    if rest.sum() == 0:
        return out
    fg = rest.argmax()
    out["colour"] = names[fg]
    mask = largest_component(label == fg)
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    best = -1
    for shape in dataset.SHAPES:
        u0, u1, v0, v1 = _extent(shape)
        r = ((x1 - x0) / (u1 - u0) + (y1 - y0) / (v1 - v0)) / 2
        cx, cy = (x0 + x1) / 2 - r * (u0 + u1) / 2, (y0 + y1) / 2 - r * (v0 + v1) / 2
        inside = dataset.shape_mask(shape, cx, cy, r, n=max(h, w), supersample=2)[:h, :w] >= 0.5
        inter, union = (inside & mask).sum(), (inside | mask).sum()
        iou = inter / union if union else 0
        if iou > best:
            best, out["shape"] = iou, shape
    return out
