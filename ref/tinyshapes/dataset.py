"""TinyShapes: procedural captioned pictures of coloured shapes, and the real CLIP tokenizer's ids for them.

Vocabulary (docs/train.md and models/tinyshapes.md list it too):
    colours      red green blue yellow white black orange purple        (foreground and background)
    shapes       circle square triangle star cross
    sizes        small large
    positions    at the top left / at the top right / at the bottom left / at the bottom right / in the center
    backgrounds  "on a <colour> background"
    pairs        "a <colour> <shape> and a <colour> <shape>": two small shapes, the first on the left

A caption names the shape and colour always; the size, the position and the background each only some of the
time (then they are drawn at random), so the model learns every part separately. The colour-shape pairs in
HELD_OUT never occur in training, as foreground of a single shape or in a pair: the test asks for them.
"""
import gzip
import html
import re

import numpy as np

SIZE = 64  # training (and default) image size in pixels

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 220, 40),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
    "orange": (245, 140, 20),
    "purple": (140, 50, 180),
}
SHAPES = ["circle", "square", "triangle", "star", "cross"]
SIZES = {"small": 0.13, "large": 0.26}  # radius (half the box side) as a fraction of the image side
POSITIONS = {
    "at the top left": (0.3, 0.3),
    "at the top right": (0.7, 0.3),
    "at the bottom left": (0.3, 0.7),
    "at the bottom right": (0.7, 0.7),
    "in the center": (0.5, 0.5),
}
LARGE_SHARE = 0.6  # of the single shapes: the large ones show their outline in more latent pixels
HELD_OUT = {("red", "star"), ("blue", "triangle"), ("green", "circle"), ("yellow", "cross"), ("purple", "square")}


def shape_mask(shape, cx, cy, r, n=SIZE, supersample=4):
    """Coverage in [0, 1] of a shape centred at (cx, cy) with half-side r (pixels), by supersampling the
    pixels of its bounding box."""
    s = supersample
    x0, x1 = max(0, int(cx - r) - 1), min(n, int(cx + r) + 2)
    y0, y1 = max(0, int(cy - r) - 1), min(n, int(cy + r) + 2)
    out = np.zeros((n, n), np.float32)
    x, y = np.meshgrid(x0 + (np.arange((x1 - x0) * s) + 0.5) / s, y0 + (np.arange((y1 - y0) * s) + 0.5) / s)
    u, v = (x - cx) / r, (y - cy) / r  # unit box [-1, 1]^2
    if shape == "circle":
        m = u * u + v * v <= 1
    elif shape == "square":
        m = (np.abs(u) <= 0.85) & (np.abs(v) <= 0.85)
    elif shape == "triangle":  # apex up, base at v = 0.8
        m = (v <= 0.8) & (v >= -1 + 2 * np.abs(u) * 0.9)
    elif shape == "cross":  # a plus sign, arms a third of the side wide
        m = ((np.abs(u) <= 0.33) & (np.abs(v) <= 1)) | ((np.abs(v) <= 0.33) & (np.abs(u) <= 1))
    elif shape == "star":  # five points, inner radius 0.45
        ang = np.arctan2(u, -v)  # 0 at the top
        rad = np.hypot(u, v)
        k = (ang % (2 * np.pi / 5)) / (2 * np.pi / 5)  # 0..1 within one point
        t = np.abs(k - 0.5) * 2  # 1 at a tip, 0 between tips
        # boundary: straight edges between tip (r=1) and valley (r=0.45), in polar form
        a_val = np.pi / 5
        phi = (1 - t) * a_val
        p1 = np.array([1.0, 0.0])
        p2 = np.array([0.45 * np.cos(a_val), 0.45 * np.sin(a_val)])
        # distance along direction phi to the line through p1, p2
        d = p2 - p1
        nrm = np.array([-d[1], d[0]])
        edge = (p1 @ nrm) / (np.cos(phi) * nrm[0] + np.sin(phi) * nrm[1])
        m = rad <= edge
    else:
        raise ValueError(shape)
    out[y0:y1, x0:x1] = m.reshape(y1 - y0, s, x1 - x0, s).mean(axis=(1, 3))
    return out


def render(objects, background, n=SIZE):
    """objects: [(colour, shape, cx, cy, r)] in pixels; returns uint8 HxWx3."""
    img = np.empty((n, n, 3), np.float32)
    img[:] = COLOURS[background]
    for colour, shape, cx, cy, r in objects:
        a = shape_mask(shape, cx, cy, r, n)[..., None]
        img = img * (1 - a) + np.array(COLOURS[colour], np.float32) * a
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def article(word):
    return "an" if word[0] in "aeiou" else "a"


def allowed(colour, shape):
    return (colour, shape) not in HELD_OUT


def sample(rng, n=SIZE, held_out_ok=False):
    """One random (caption, image, labels) triple. labels: the single object's ground truth (None for pairs)."""
    names = list(COLOURS)
    bg = names[rng.integers(len(names))]
    fg_choices = [c for c in names if c != bg]

    def pick():
        while True:
            c, s = fg_choices[rng.integers(len(fg_choices))], SHAPES[rng.integers(len(SHAPES))]
            if held_out_ok or allowed(c, s):
                return c, s

    if rng.random() < 0.1:  # a pair of small shapes, left and right
        (c1, s1), (c2, s2) = pick(), pick()
        r = SIZES["small"] * n * rng.uniform(0.9, 1.1)
        y = n * rng.uniform(0.4, 0.6)
        objs = [(c1, s1, n * 0.28, y, r), (c2, s2, n * 0.72, y, r)]
        caption = f"{article(c1)} {c1} {s1} and {article(c2)} {c2} {s2}"
        if rng.random() < 0.7:
            caption += f" on {article(bg)} {bg} background"
        return caption, render(objs, bg, n), None
    colour, shape = pick()
    size = "large" if rng.random() < LARGE_SHARE else "small"
    pos = list(POSITIONS)[rng.integers(len(POSITIONS))]
    r = SIZES[size] * n * rng.uniform(0.9, 1.1)
    px, py = POSITIONS[pos]
    cx, cy = n * (px + rng.uniform(-0.03, 0.03)), n * (py + rng.uniform(-0.03, 0.03))
    words = ([size] if rng.random() < 0.5 else []) + [colour, shape]
    words = [article(words[0])] + words
    if rng.random() < 0.5:
        words.append(pos)
    if rng.random() < 0.7:
        words += ["on", article(bg), bg, "background"]
    labels = {"colour": colour, "shape": shape, "size": size, "position": pos, "background": bg}
    return " ".join(words), render([(colour, shape, cx, cy, r)], bg, n), labels


# ----------------------------------------------------------------------------------------------- tokenizer
class ClipTokenizer:
    """OpenAI CLIP's byte-level BPE (the vocabulary SD 1.x uses), enough for plain-English captions."""

    BOS, EOS = 49406, 49407

    def __init__(self, vocab_gz):
        merges = gzip.open(vocab_gz).read().decode("utf-8").split("\n")[1 : 49152 - 256 - 2 + 1]
        merges = [tuple(m.split()) for m in merges]
        bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
        cs = bs[:]
        extra = 0
        for b in range(256):
            if b not in bs:
                bs.append(b)
                cs.append(256 + extra)
                extra += 1
        self.byte_encoder = dict(zip(bs, map(chr, cs)))
        vocab = [chr(c) for c in cs]
        vocab += [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in merges]
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        self.encoder = {v: i for i, v in enumerate(vocab)}
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.pat = re.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\sa-z0-9]+")

    def bpe(self, token):
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = [(self.ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(word, word[1:]))]
            rank, _ = min(pairs)
            if rank == 1 << 30:
                break
            a, b = min(pairs)[1], None
            first, second = word[a], word[a + 1]
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    out.append(first + second)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = out
            del b
        return word

    def encode(self, text):
        text = re.sub(r"\s+", " ", html.unescape(text)).strip().lower()
        ids = []
        for tok in self.pat.findall(text):
            tok = "".join(self.byte_encoder[b] for b in tok.encode("utf-8"))
            ids += [self.encoder[t] for t in self.bpe(tok)]
        return ids

    def __call__(self, text, ctx=77):
        """SD 1.x's padding: [BOS] + ids + [EOS], cut to ctx keeping EOS last, padded with EOS."""
        ids = [self.BOS] + self.encode(text)[: ctx - 2] + [self.EOS]
        return ids + [self.EOS] * (ctx - len(ids))
