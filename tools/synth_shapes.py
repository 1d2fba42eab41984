#!/usr/bin/env python3
# The "shapes" data set that yopo's own small LLaVA model (models/yopo-shapes-dense) is trained
# and evaluated on: 336x336 RGB images of 2-6 coloured shapes (circle, square, triangle, star;
# small or large) on textured backgrounds (noise, stripes, gradients), with captions and
# questions whose answers need the image (POPE-style existence, colour, shape, count, relative
# position, nearest object, size).
#
# Everything is a pure function of (split, index): scenes are drawn with numpy's PCG64 seeded by
# SeedSequence([SEED, split id, index]) and rasterized by our own numpy code (no Pillow drawing),
# so a rerun with the pinned numpy (tools/requirements.txt) reproduces every pixel. The test
# split's pixel hashes are written to test/images.sha256 so a regeneration can be checked.
#
# Usage (one-liner that regenerates the committed test split and its images bit-exactly):
#   /usr/bin/python3 tools/synth_shapes.py                      # -> data/synth/{val,test}
#   /usr/bin/python3 tools/synth_shapes.py --out DIR --splits train,val,test --n-train 200
#   /usr/bin/python3 tools/synth_shapes.py --check              # verify images vs images.sha256
# The training script (tools/train_tiny_llava.py) imports this module and renders training
# scenes on the fly, so the training set never needs to be written to disk.
"""Generate the synthetic shapes data set (images, captions, questions, eval files)."""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "data" / "synth"

SEED = 20241006
SPLITS = {"train": 0, "val": 1, "test": 2, "vision": 3}
DEFAULT_COUNTS = {"train": 0, "val": 100, "test": 200}

SIZE = 336
PATCH = 14
GRID = SIZE // PATCH  # 24

SHAPES = ("circle", "square", "triangle", "star")
PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles", "star": "stars"}
# Non-uniform frequencies, so that "popular" POPE negatives (frequent combinations) mean something.
SHAPE_P = (0.34, 0.28, 0.22, 0.16)
COLORS = ("red", "green", "blue", "yellow", "purple", "orange")
COLOR_P = (0.24, 0.16, 0.22, 0.14, 0.12, 0.12)
COLOR_RGB = {
    "red": (215, 35, 35),
    "green": (35, 165, 55),
    "blue": (40, 75, 215),
    "yellow": (235, 210, 35),
    "purple": (135, 50, 185),
    "orange": (245, 135, 25),
}
SIZES = ("small", "large")
RADIUS = {"small": (15, 23), "large": (42, 56)}  # "radius" r of a shape, pixels
BACKGROUNDS = ("noise", "stripes", "gradient")
BG_WORD = {"noise": "noisy", "stripes": "striped", "gradient": "gradient"}

SUFFIX = "Answer the question using a single word or phrase."
CAPTION_PROMPTS = ("Describe the image briefly.", "What is in the image?",
                   "List the shapes in the image.")

QUESTION_TYPES = ("exist", "color", "shape", "count", "position", "nearest", "size")
GQA_TYPES = ("color", "shape", "count", "position", "nearest", "size")
POPE_CATEGORIES = ("random", "popular", "adversarial")
# Asked in training only (never in val/test): questions that name one attribute, so that the
# decoder first learns to find the image rows of one colour (or shape) before it must find those
# of a colour AND a shape (every test type names objects that way).
TRAINING_ONLY_TYPES = ("exist_color", "exist_shape", "count_color", "size_by_color")
# Training only too, but asked only when weighted by name (not part of --stepping-stones' share):
# where one named object is in the image ("Which side of the image is the red circle on?"), the
# one-object step towards the relative position questions. Generated without drawing from the
# question rng, so adding it changed no other question stream. "closer" ("Which is closer to
# the red circle, the blue square or the green star?"), the two-choice form of the nearest
# question, is not in the test split yet (no shipped checkpoint answers it, see
# tools/train_tiny_llava.py's header); it does not draw from the rng either. "closer_yn" ("Is
# the red circle closer to the blue square than to the green star?"), its yes/no form: both
# orders of every clear pair, so yes and no are equally many within each scene (no rng either).
PLACE_TYPES = ("place", "closer", "closer_yn")
# "closer": the nearer of the two named objects is at most this share of the other's distance
CLOSER_RATIO = 0.6
# "nearest": the nearest other object is at most this share of the second nearest's distance
NEAREST_RATIO = 0.75
# How the nearest and the closer questions begin; tools/train_tiny_llava.py tells them by these
NEAREST_PREFIX = "Which object is closest to the "
CLOSER_PREFIX = "Which is closer to the "
CLOSER_YN_WORDS = (" closer to the ", " than to the ")  # both in every closer_yn question


# ----------------------------------------------------------------------------------------------
# Scenes


@dataclass
class Obj:
    color: str
    shape: str
    size: str
    r: float  # size parameter in pixels
    cx: float
    cy: float

    @property
    def name(self) -> str:
        return f"{self.color} {self.shape}"


@dataclass
class Scene:
    split: str
    index: int
    objects: List[Obj]
    background: str
    bg_params: Dict
    render_seed: int
    extra: Dict = field(default_factory=dict)

    @property
    def image_name(self) -> str:
        return f"{self.split}_{self.index:06d}.png"


def scene_rng(split: str, index: int, stream: int = 0) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(
        [SEED, SPLITS[split], index, stream])))


def _bound(o_shape: str, r: float) -> float:
    """Radius of a circle that contains the shape."""
    return {"circle": 1.0, "square": 0.85 * math.sqrt(2.0), "triangle": 1.1, "star": 1.15}[
        o_shape] * r


def _muted(rng: np.random.Generator, lo: int, hi: int) -> List[int]:
    g = int(rng.integers(lo, hi + 1))
    return [int(np.clip(g + rng.integers(-22, 23), 0, 255)) for _ in range(3)]


def _place(rng: np.random.Generator, combos: List[Tuple[str, str]], picks, size_of,
           attempts: int) -> List[Obj]:
    """Objects for the picked colour+shape combinations, each at a random free spot (never
    overlapping, 10 px apart); size_of(attempt) draws the size class. A combination that finds no
    spot in `attempts` tries is left out."""
    objects: List[Obj] = []
    for k in picks:
        color, shape = combos[int(k)]
        for attempt in range(attempts):
            size = size_of(attempt)
            lo, hi = RADIUS[size]
            r = float(rng.uniform(lo, hi))
            b = _bound(shape, r)
            cx = float(rng.uniform(b + 4, SIZE - b - 4))
            cy = float(rng.uniform(b + 4, SIZE - b - 4))
            if all(math.hypot(cx - o.cx, cy - o.cy) > b + _bound(o.shape, o.r) + 10
                   for o in objects):
                objects.append(Obj(color, shape, size, r, cx, cy))
                break
    return objects


def _background_params(rng: np.random.Generator) -> Tuple[str, Dict]:
    bg = BACKGROUNDS[int(rng.integers(0, 3))]
    if bg == "noise":
        params = {"base": _muted(rng, 70, 185), "cell": int(rng.integers(12, 29)),
                  "blob_std": float(rng.uniform(6, 16)), "fine_std": float(rng.uniform(6, 14))}
    elif bg == "stripes":
        a = _muted(rng, 60, 200)
        b2 = _muted(rng, 60, 200)
        params = {"a": a, "b": b2, "width": int(rng.integers(6, 25)),
                  "orient": ["h", "v", "d1", "d2"][int(rng.integers(0, 4))]}
    else:
        params = {"a": _muted(rng, 50, 210), "b": _muted(rng, 50, 210),
                  "dir": [float(x) for x in rng.uniform(-1, 1, size=2)]}
    return bg, params


COMBOS = [(c, s) for s in SHAPES for c in COLORS]


def make_scene(split: str, index: int) -> Scene:
    rng = scene_rng(split, index)
    n = int(rng.integers(2, 7))
    w = np.array([SHAPE_P[SHAPES.index(s)] * COLOR_P[COLORS.index(c)] for c, s in COMBOS])
    picks = rng.choice(len(COMBOS), size=n, replace=False, p=w / w.sum())
    objects = _place(rng, COMBOS, picks,
                     lambda attempt: SIZES[int(rng.integers(0, 2))] if attempt < 30 else "small",
                     60)
    if len(objects) < 2:  # practically never: the first two always fit; keep the invariant
        raise RuntimeError(f"scene {split}/{index}: could not place two shapes")
    bg, params = _background_params(rng)
    return Scene(split, index, objects, bg, params, int(rng.integers(0, 2**31 - 1)))


def make_vision_scene(index: int) -> Scene:
    """A scene for the vision tower's pre-training (stage 0 of tools/train_tiny_llava.py, split
    "vision", never asked about): 7-11 objects, about three in four small, combinations drawn
    uniformly. Small shapes are where the outline, not the colour, says which shape it is, and
    many of them per image give the tower many shape labels per forward pass."""
    rng = scene_rng("vision", index)
    n = int(rng.integers(7, 12))
    picks = rng.choice(len(COMBOS), size=n, replace=False)
    objects = _place(rng, COMBOS, picks,
                     lambda attempt: "large" if attempt < 20 and rng.random() < 0.25 else "small",
                     40)
    bg, params = _background_params(rng)
    return Scene("vision", index, objects, bg, params, int(rng.integers(0, 2**31 - 1)))


# ----------------------------------------------------------------------------------------------
# Rendering (own rasterizer: coverage by 4x4 supersampling inside each shape's bounding box)


def _star_vertices(cx, cy, r):
    outer, inner = 1.15 * r, 0.45 * 1.15 * r
    pts = []
    for i in range(10):
        ang = -math.pi / 2 + i * math.pi / 5
        rad = outer if i % 2 == 0 else inner
        pts.append((cx + rad * math.cos(ang), cy + rad * math.sin(ang)))
    return pts


def _triangle_vertices(cx, cy, r):
    R = 1.1 * r
    cy2 = cy + 0.15 * R  # centre the triangle's bounding box vertically
    return [(cx + R * math.cos(a), cy2 + R * math.sin(a))
            for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]


def _inside_polygon(px: np.ndarray, py: np.ndarray, verts) -> np.ndarray:
    """Even-odd crossing test, vectorized over sample points."""
    inside = np.zeros(px.shape, dtype=bool)
    n = len(verts)
    for i in range(n):
        x1, y1 = verts[i]
        x2, y2 = verts[(i + 1) % n]
        if y1 == y2:
            continue
        cond = (py >= min(y1, y2)) & (py < max(y1, y2))
        xint = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
        inside ^= cond & (px < xint)
    return inside


def _coverage(o: Obj, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    ss = 4
    offs = (np.arange(ss, dtype=np.float64) + 0.5) / ss
    xs = (np.arange(x0, x1, dtype=np.float64)[:, None] + offs[None, :]).reshape(-1)
    ys = (np.arange(y0, y1, dtype=np.float64)[:, None] + offs[None, :]).reshape(-1)
    px, py = np.meshgrid(xs, ys)
    if o.shape == "circle":
        m = (px - o.cx) ** 2 + (py - o.cy) ** 2 <= o.r ** 2
    elif o.shape == "square":
        h = 0.85 * o.r
        m = (np.abs(px - o.cx) <= h) & (np.abs(py - o.cy) <= h)
    elif o.shape == "triangle":
        m = _inside_polygon(px, py, _triangle_vertices(o.cx, o.cy, o.r))
    else:
        m = _inside_polygon(px, py, _star_vertices(o.cx, o.cy, o.r))
    h, w = y1 - y0, x1 - x0
    return m.reshape(h, ss, w, ss).mean(axis=(1, 3))


def _background(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    p = scene.bg_params
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    if scene.background == "noise":
        cell = p["cell"]
        n = SIZE // cell + 2
        blobs = rng.normal(0.0, p["blob_std"], size=(n, n, 3))
        blobs = np.repeat(np.repeat(blobs, cell, axis=0), cell, axis=1)[:SIZE, :SIZE]
        img = np.array(p["base"], np.float64)[None, None, :] + blobs
        img = img + rng.normal(0.0, p["fine_std"], size=(SIZE, SIZE, 1))
    elif scene.background == "stripes":
        w = p["width"]
        t = {"h": yy, "v": xx, "d1": xx + yy, "d2": xx - yy + SIZE}[p["orient"]]
        band = (np.floor(t / w).astype(np.int64) % 2 == 0)[..., None]
        img = np.where(band, np.array(p["a"], np.float64), np.array(p["b"], np.float64))
    else:
        dx, dy = p["dir"]
        t = (xx - SIZE / 2) * dx + (yy - SIZE / 2) * dy
        span = (abs(dx) + abs(dy)) * SIZE / 2 + 1e-9
        t = ((t / span) + 1) / 2
        img = (np.array(p["a"], np.float64)[None, None, :] * (1 - t[..., None]) +
               np.array(p["b"], np.float64)[None, None, :] * t[..., None])
    return img


def render(scene: Scene, with_labels: bool = False):
    """uint8 [336, 336, 3]; with_labels: also the object index per pixel (-1: background)."""
    rng = np.random.Generator(np.random.PCG64(scene.render_seed))
    img = _background(scene, rng)
    label = np.full((SIZE, SIZE), -1, np.int64)
    best = np.zeros((SIZE, SIZE), np.float64)
    for i, o in enumerate(scene.objects):
        b = _bound(o.shape, o.r) + 2
        x0, x1 = max(0, int(o.cx - b)), min(SIZE, int(o.cx + b) + 2)
        y0, y1 = max(0, int(o.cy - b)), min(SIZE, int(o.cy + b) + 2)
        cov = _coverage(o, x0, y0, x1, y1)
        jitter = rng.integers(-14, 15, size=3)
        col = np.clip(np.array(COLOR_RGB[o.color]) + jitter, 0, 255).astype(np.float64)
        sub = img[y0:y1, x0:x1]
        img[y0:y1, x0:x1] = sub * (1 - cov[..., None]) + col[None, None, :] * cov[..., None]
        upd = cov > np.maximum(best[y0:y1, x0:x1], 0.5)
        label[y0:y1, x0:x1][upd] = i
        best[y0:y1, x0:x1] = np.maximum(best[y0:y1, x0:x1], cov)
    img = img + rng.normal(0.0, 5.0, size=img.shape)
    out = np.clip(np.floor(img + 0.5), 0, 255).astype(np.uint8)
    return (out, label) if with_labels else out


def object_patch_fraction(label: np.ndarray, n_obj: int) -> np.ndarray:
    """[GRID, GRID, n_obj]: the share of each 14x14 patch that each object covers (`label`: the
    per-pixel object index of render(with_labels=True), -1 = background)."""
    onehot = np.zeros((SIZE, SIZE, n_obj + 1), np.float32)
    onehot[np.arange(SIZE)[:, None], np.arange(SIZE)[None, :], label + 1] = 1
    return onehot.reshape(GRID, PATCH, GRID, PATCH, n_obj + 1).mean(axis=(1, 3))[..., 1:]


def patch_labels(scene: Scene, label: np.ndarray) -> Dict[str, np.ndarray]:
    """Per 14x14 patch (24x24 grid, row-major): colour (0 = background, 1..6), shape (0, 1..4),
    size (0, 1 small, 2 large) of the object covering most of the patch (at least 25% of it),
    and whether the patch holds an object's centre. Used to pre-train the vision tower."""
    obj_frac = object_patch_fraction(label, len(scene.objects))
    idx = obj_frac.argmax(-1)
    has = obj_frac.max(-1) >= 0.25
    color = np.zeros((GRID, GRID), np.int64)
    shape = np.zeros((GRID, GRID), np.int64)
    size = np.zeros((GRID, GRID), np.int64)
    for i, o in enumerate(scene.objects):
        m = has & (idx == i)
        color[m] = COLORS.index(o.color) + 1
        shape[m] = SHAPES.index(o.shape) + 1
        size[m] = SIZES.index(o.size) + 1
    center = np.zeros((GRID, GRID), np.int64)
    for o in scene.objects:
        center[min(GRID - 1, int(o.cy // PATCH)), min(GRID - 1, int(o.cx // PATCH))] = 1
    return {"color": color.reshape(-1), "shape": shape.reshape(-1), "size": size.reshape(-1),
            "center": center.reshape(-1)}


# ----------------------------------------------------------------------------------------------
# Language


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _join(items: List[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def caption(scene: Scene) -> str:
    objs = sorted(scene.objects, key=lambda o: o.cx)
    parts = [f"{article(o.size)} {o.size} {o.color} {o.shape}" for o in objs]
    text = _join(parts) + f" on a {BG_WORD[scene.background]} background."
    return text[0].upper() + text[1:]


def scene_text(scene: Scene) -> str:
    """The scene as text, what the decoder's text pre-training (train_tiny_llava.py, stage
    "text") reads in place of the image: the objects from left to right with size, colour,
    shape and the grid cell (patch column x, patch row y) of their centre."""
    objs = sorted(scene.objects, key=lambda o: o.cx)
    return "Objects: " + "; ".join(f"{o.size} {o.color} {o.shape} at x {int(o.cx // PATCH)} "
                                   f"y {int(o.cy // PATCH)}" for o in objs) + "."


def _combo_frequency() -> List[Tuple[str, str]]:
    """Combinations ordered from most to least frequent under the generator's distribution."""
    combos = [(c, s) for s in SHAPES for c in COLORS]
    return sorted(combos, key=lambda cs: -SHAPE_P[SHAPES.index(cs[1])] *
                  COLOR_P[COLORS.index(cs[0])])


POPULAR = _combo_frequency()


def pope_pairs(scene: Scene, rng: np.random.Generator, category: str, n_pairs: int = 1):
    """n_pairs (yes, no) existence questions of one POPE category: yes = a present colour+shape,
    no = an absent one chosen at random (random), among the most frequent combinations (popular),
    or sharing colour and/or shape with present objects (adversarial)."""
    present = {(o.color, o.shape) for o in scene.objects}
    absent = [cs for cs in POPULAR if cs not in present]
    colors = {o.color for o in scene.objects}
    shapes = {o.shape for o in scene.objects}
    if category == "random":
        pool = [absent[i] for i in rng.permutation(len(absent))]
    elif category == "popular":
        pool = absent[:8]
        pool = [pool[i] for i in rng.permutation(len(pool))]
    else:
        both = [cs for cs in absent if cs[0] in colors and cs[1] in shapes]
        one = [cs for cs in absent if (cs[0] in colors) != (cs[1] in shapes)]
        pool = ([both[i] for i in rng.permutation(len(both))] +
                [one[i] for i in rng.permutation(len(one))])
    yes = [sorted(present)[i] for i in rng.permutation(len(present))]
    out = []
    for k in range(min(n_pairs, len(yes), len(pool))):
        out.append((yes[k], "yes"))
        out.append((pool[k], "no"))
    return [(f"Is there {article(c)} {c} {s} in the image?", a) for (c, s), a in out]


def _unique(objs: List[Obj], key) -> Dict:
    counts: Dict = {}
    for o in objs:
        counts[key(o)] = counts.get(key(o), 0) + 1
    return {k for k, v in counts.items() if v == 1}


def questions_of_type(scene: Scene, qtype: str, rng: np.random.Generator) -> List[Tuple[str, str]]:
    """All questions of one type this scene supports (question, answer), yes/no balanced where
    the type is yes/no. May be empty."""
    objs = scene.objects
    out: List[Tuple[str, str]] = []
    if qtype == "exist":
        for cat in POPE_CATEGORIES:
            out += pope_pairs(scene, rng, cat, 1)
    elif qtype == "color":
        u_shape = _unique(objs, lambda o: o.shape)
        u_size_shape = _unique(objs, lambda o: (o.size, o.shape))
        for o in objs:
            if o.shape in u_shape:
                out.append((f"What color is the {o.shape}?", o.color))
            elif (o.size, o.shape) in u_size_shape:
                out.append((f"What color is the {o.size} {o.shape}?", o.color))
    elif qtype == "shape":
        u_color = _unique(objs, lambda o: o.color)
        for o in objs:
            if o.color in u_color:
                out.append((f"What shape is the {o.color} object?", o.shape))
    elif qtype == "count":
        for s in SHAPES:
            n = sum(o.shape == s for o in objs)
            if n > 0 or rng.random() < 0.35:
                out.append((f"How many {PLURAL[s]} are there?", str(n)))
        out.append(("How many shapes are there?", str(len(objs))))
        size = SIZES[int(rng.integers(0, 2))]
        out.append((f"How many {size} shapes are there?", str(sum(o.size == size for o in objs))))
    elif qtype == "position":
        yes_no: Dict[str, List[Tuple[str, str]]] = {"yes": [], "no": []}
        for a in objs:
            for b in objs:
                if a is b:
                    continue
                dx, dy = a.cx - b.cx, a.cy - b.cy
                if abs(dx) >= 24:
                    left = dx < 0
                    yes_no["yes" if left else "no"].append(
                        (f"Is the {a.name} to the left of the {b.name}?", "yes" if left else "no"))
                    yes_no["no" if left else "yes"].append(
                        (f"Is the {a.name} to the right of the {b.name}?",
                         "no" if left else "yes"))
                    out.append((f"Which side of the {b.name} is the {a.name} on?",
                                "left" if left else "right"))
                if abs(dy) >= 24:
                    above = dy < 0
                    yes_no["yes" if above else "no"].append(
                        (f"Is the {a.name} above the {b.name}?", "yes" if above else "no"))
                    yes_no["no" if above else "yes"].append(
                        (f"Is the {a.name} below the {b.name}?", "no" if above else "yes"))
        k = min(len(yes_no["yes"]), len(yes_no["no"]))
        for ans in ("yes", "no"):
            lst = yes_no[ans]
            out += [lst[i] for i in rng.permutation(len(lst))[:k]]
    elif qtype == "nearest":
        if len(objs) >= 3:
            for i, a in enumerate(objs):
                j = clear_nearest(objs, i)
                if j is not None:
                    out.append((f"{NEAREST_PREFIX}{a.name}?", objs[j].name))
    elif qtype == "size":
        for a in objs:
            out.append((f"Is the {a.name} small or large?", a.size))
            for b in objs:
                if a.size == "large" and b.size == "small":
                    if rng.random() < 0.5:
                        out.append((f"Which is larger, the {a.name} or the {b.name}?", a.name))
                    else:
                        out.append((f"Which is larger, the {b.name} or the {a.name}?", a.name))
                    out.append((f"Which is smaller, the {a.name} or the {b.name}?", b.name))
    elif qtype == "closer":
        # "Which is closer to the A, the B or the C?" for every A and pair B, C of the other
        # objects where one is clearly nearer; which of B, C is named first alternates with the
        # indices (no draw from rng: the other types' questions stay as they were)
        for ia, ib, ic, b_nearer in clear_pairs(objs, itertools.combinations):
            a, b, c = objs[ia], objs[ib], objs[ic]
            first, second = (b, c) if (ia + ib + ic) % 2 == 0 else (c, b)
            out.append((f"{CLOSER_PREFIX}{a.name}, the {first.name} or the {second.name}?",
                        (b if b_nearer else c).name))
    elif qtype == "closer_yn":
        # "Is the A closer to the B than to the C?" for every A and ordered pair B, C of the
        # other objects where one is clearly nearer: yes iff B is
        for ia, ib, ic, b_nearer in clear_pairs(objs, itertools.permutations):
            out.append((f"Is the {objs[ia].name}{CLOSER_YN_WORDS[0]}{objs[ib].name}"
                        f"{CLOSER_YN_WORDS[1]}{objs[ic].name}?", "yes" if b_nearer else "no"))
    elif qtype == "place":
        for o in objs:
            if abs(o.cx - SIZE / 2) >= 40:
                out.append((f"Which side of the image is the {o.name} on?",
                            "left" if o.cx < SIZE / 2 else "right"))
            if abs(o.cy - SIZE / 2) >= 40:
                out.append((f"Is the {o.name} in the top or bottom half of the image?",
                            "top" if o.cy < SIZE / 2 else "bottom"))
    elif qtype in TRAINING_ONLY_TYPES:
        out = _training_only(objs, qtype, rng)
    else:
        raise ValueError(f"unknown question type {qtype}")
    return out


def clear_pairs(objs: List[Obj], pairs) -> List[Tuple[int, int, int, bool]]:
    """(a, b, c, whether b is the nearer) for every object a and pair b, c of the others (as
    `pairs`, itertools.combinations or permutations, gives them) where one of b, c is clearly
    nearer to a (at most CLOSER_RATIO of the other's distance): the closer questions."""
    out = []
    for ia, a in enumerate(objs):
        for ib, ic in pairs([j for j in range(len(objs)) if j != ia], 2):
            db = math.hypot(a.cx - objs[ib].cx, a.cy - objs[ib].cy)
            dc = math.hypot(a.cx - objs[ic].cx, a.cy - objs[ic].cy)
            if min(db, dc) <= CLOSER_RATIO * max(db, dc):
                out.append((ia, ib, ic, db < dc))
    return out


def clear_nearest(objs: List[Obj], i: int) -> Optional[int]:
    """The index of the object nearest to objs[i] (centre to centre) where it is clearly the
    nearest (within NEAREST_RATIO of the second nearest's distance, or the only other), else
    None: the answer of a nearest question."""
    a = objs[i]
    d = sorted((math.hypot(a.cx - b.cx, a.cy - b.cy), j) for j, b in enumerate(objs) if j != i)
    return d[0][1] if len(d) < 2 or d[0][0] < NEAREST_RATIO * d[1][0] else None


def _training_only(objs: List[Obj], qtype: str, rng: np.random.Generator
                   ) -> List[Tuple[str, str]]:
    colors = {o.color for o in objs}
    shapes = {o.shape for o in objs}
    out: List[Tuple[str, str]] = []
    if qtype in ("exist_color", "exist_shape"):
        words, present = (COLORS, colors) if qtype == "exist_color" else (SHAPES, shapes)
        yes = [w for w in words if w in present]
        no = [w for w in words if w not in present]
        yes = [yes[i] for i in rng.permutation(len(yes))]
        no = [no[i] for i in rng.permutation(len(no))]
        for k in range(min(len(yes), len(no))):
            for w, a in ((yes[k], "yes"), (no[k], "no")):
                q = (f"Is there {article(w)} {w} shape in the image?" if qtype == "exist_color"
                     else f"Is there {article(w)} {w} in the image?")
                out.append((q, a))
    elif qtype == "count_color":
        for c in COLORS:
            n = sum(o.color == c for o in objs)
            if n > 0 or rng.random() < 0.35:
                out.append((f"How many {c} shapes are there?", str(n)))
    else:  # size_by_color
        u_color = _unique(objs, lambda o: o.color)
        out = [(f"Is the {o.color} object small or large?", o.size) for o in objs
               if o.color in u_color]
    return out


def all_questions(scene: Scene, rng: np.random.Generator, training_only: bool = False
                  ) -> Dict[str, List[Tuple[str, str]]]:
    types = QUESTION_TYPES + (TRAINING_ONLY_TYPES + PLACE_TYPES if training_only else ())
    return {t: questions_of_type(scene, t, rng) for t in types}


def normalize_answer(text: str) -> str:
    """GQA-style normalization used by our PyTorch evaluation: lower case, punctuation and the
    articles a/an/the removed, number words to digits."""
    words = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
             "six": "6", "seven": "7", "eight": "8", "nine": "9"}
    t = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in text.lower())
    toks = [words.get(w, w) for w in t.split() if w not in ("a", "an", "the")]
    return " ".join(toks)


# ----------------------------------------------------------------------------------------------
# Writers


def pixels_sha256(img: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest()


def save_png(img: np.ndarray, path: Path) -> None:
    from PIL import Image
    Image.fromarray(img, "RGB").save(path, optimize=False, compress_level=6)


def scene_record(scene: Scene) -> Dict:
    return {"image": scene.image_name, "background": scene.background,
            "objects": [{"color": o.color, "shape": o.shape, "size": o.size,
                         "cx": round(o.cx, 2), "cy": round(o.cy, 2), "r": round(o.r, 2)}
                        for o in scene.objects],
            "caption": caption(scene)}


def eval_questions(scene: Scene, per_type: int = 1):
    """The fixed evaluation questions of a val/test scene: POPE (one yes and one no question per
    category) and one question of each GQA-like type the scene supports (yes/no types
    alternate which answer they take, so they stay balanced)."""
    rng = scene_rng(scene.split, scene.index, stream=1)
    pope = []
    for cat in POPE_CATEGORIES:
        pope += [(q, a, cat) for q, a in pope_pairs(scene, rng, cat, 1)]
    gqa = []
    for t in GQA_TYPES:
        qs = questions_of_type(scene, t, rng)
        if not qs:
            continue
        if t == "position":  # balanced yes/no + left/right across the split
            want = ("yes", "no", "left", "right")[scene.index % 4]
            pref = [qa for qa in qs if qa[1] == want] or qs
            qs = pref
        if t == "size":
            kind = "Which" if scene.index % 2 == 0 else "Is the"
            qs = [qa for qa in qs if qa[0].startswith(kind)] or qs
        for i in rng.permutation(len(qs))[:per_type]:
            gqa.append((qs[int(i)][0], qs[int(i)][1], t))
    return pope, gqa


def write_split(out: Path, split: str, n: int, write_images: bool = True) -> None:
    d = out / split
    (d / "images").mkdir(parents=True, exist_ok=True)
    scenes, hashes = [], []
    pope_q, pope_a, gqa_q, gqa_a = [], [], [], {}
    for i in range(n):
        sc = make_scene(split, i)
        img = render(sc)
        if write_images:
            save_png(img, d / "images" / sc.image_name)
        hashes.append(f"{pixels_sha256(img)}  {sc.image_name}")
        scenes.append(scene_record(sc))
        pope, gqa = eval_questions(sc)
        for q, a, cat in pope:
            qid = len(pope_q)
            pope_q.append({"question_id": qid, "image": sc.image_name,
                           "text": f"{q}\n{SUFFIX}", "category": cat})
            pope_a.append({"question_id": qid, "label": a, "category": cat})
        for q, a, t in gqa:
            qid = f"{split}{len(gqa_q):05d}"
            gqa_q.append({"question_id": qid, "image": sc.image_name,
                          "text": f"{q}\n{SUFFIX}", "category": t})
            gqa_a[qid] = {"answer": a, "type": t, "image": sc.image_name}

    def jsonl(path, rows):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    jsonl(d / "scenes.jsonl", scenes)
    jsonl(d / "pope_questions.jsonl", pope_q)
    jsonl(d / "pope_annotations.jsonl", pope_a)
    jsonl(d / "gqa_questions.jsonl", gqa_q)
    (d / "gqa_annotations.json").write_text(
        "{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in gqa_a.items()) +
        "\n}\n")
    (d / "images.sha256").write_text("\n".join(hashes) + "\n")
    print(f"{split}: {n} images, {len(pope_q)} POPE and {len(gqa_q)} short-answer questions "
          f"-> {d}")


def check_split(out: Path, split: str) -> bool:
    d = out / split
    lines = (d / "images.sha256").read_text().split("\n")
    ok = True
    for line in filter(None, lines):
        want, name = line.split("  ")
        index = int(name.split("_")[1].split(".")[0])
        got = pixels_sha256(render(make_scene(split, index)))
        if got != want:
            print(f"MISMATCH {name}")
            ok = False
        png = d / "images" / name
        if png.exists():
            from PIL import Image
            if pixels_sha256(np.asarray(Image.open(png).convert("RGB"))) != want:
                print(f"PNG differs from the hash: {png}")
                ok = False
    print(f"{split}: {'all images reproduce' if ok else 'MISMATCHES'} ({len(lines) - 1} checked)")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--splits", default="val,test")
    ap.add_argument("--n-train", type=int, default=DEFAULT_COUNTS["train"])
    ap.add_argument("--n-val", type=int, default=DEFAULT_COUNTS["val"])
    ap.add_argument("--n-test", type=int, default=DEFAULT_COUNTS["test"])
    ap.add_argument("--check", action="store_true",
                    help="re-render the test split and compare with test/images.sha256")
    args = ap.parse_args()
    if args.check:
        raise SystemExit(0 if check_split(args.out, "test") else 1)
    counts = {"train": args.n_train, "val": args.n_val, "test": args.n_test}
    for split in args.splits.split(","):
        write_split(args.out, split, counts[split])


if __name__ == "__main__":
    main()
