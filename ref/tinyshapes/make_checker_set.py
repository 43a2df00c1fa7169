"""Pictures of the TinyShapes dataset with their true labels, for testing the C++ picture checker
(tests/test_tinyshapes.cpp) on data whose answer is known before it judges generated pictures.

    python3 ref/tinyshapes/make_checker_set.py tests/data/tinyshapes

Writes dataset.png (a grid of 20 x 10 pictures of 64x64, row by row) and dataset.json (each picture's caption and
labels). Single shapes only, held-out colour-shape pairs included; seeded, so the files are reproducible.
Also writes prompts.json: the prompts the generation test gives the demo model (every large colour-shape pair,
the held-out pairs marked, each on a background of another colour) and the seeds it uses.
"""
import json
import os
import sys

import numpy as np

import dataset
from pngio import write_png


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(2026)
    cols, rows, pics, labels = 20, 10, [], []
    while len(pics) < cols * rows:
        caption, img, lab = dataset.sample(rng, held_out_ok=True)
        if lab is None:
            continue
        pics.append(img)
        labels.append(dict(lab, caption=caption))
    grid = np.concatenate([np.concatenate(pics[r * cols : (r + 1) * cols], axis=1) for r in range(rows)], axis=0)
    write_png(os.path.join(out, "dataset.png"), grid)
    with open(os.path.join(out, "dataset.json"), "w") as f:
        json.dump({"about": "TinyShapes dataset pictures (ref/tinyshapes/make_checker_set.py): a grid of "
                            f"{cols} x {rows} pictures of {dataset.SIZE}x{dataset.SIZE}, row by row, with their labels",
                   "size": dataset.SIZE, "columns": cols, "rows": rows,
                   "colours": dataset.COLOURS, "shapes": dataset.SHAPES, "positions": dataset.POSITIONS,
                   "sizes": dataset.SIZES, "held_out": sorted(list(p) for p in dataset.HELD_OUT),
                   "pictures": labels}, f, indent=1)

    names = list(dataset.COLOURS)
    prompts = []
    for ci, colour in enumerate(names):
        for si, shape in enumerate(dataset.SHAPES):
            bg = names[(ci + 1 + si) % len(names)]  # never the foreground colour: 1 + si < 8
            prompts.append({"prompt": f"a large {colour} {shape} on {dataset.article(bg)} {bg} background",
                            "colour": colour, "shape": shape, "background": bg, "held_out": (colour, shape) in dataset.HELD_OUT,
                            "seeds": [1, 2, 3] if (colour, shape) in dataset.HELD_OUT else [1]})
    with open(os.path.join(out, "prompts.json"), "w") as f:
        json.dump({"about": "prompts for the demo model's generation test (tests/test_tinyshapes.cpp), written by "
                            "ref/tinyshapes/make_checker_set.py; held_out: a colour-shape pair never shown in training "
                            "(three seeds each, the others one); sdref_flags: added to every sdref command",
                   "sdref_flags": "", "prompts": prompts}, f, indent=1)


if __name__ == "__main__":
    main()
