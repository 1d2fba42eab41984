#!/usr/bin/env python3
# How hard is "Which object is closest to the A?" for a small LLaMA by itself, with no image
# tower and no tokenizer in the way (issue 8's nearest questions; tools/train_tiny_llava.py's
# header, sessions 24 and 25)? Each sample is one train-split scene of tools/synth_shapes.py,
# then a query token and the named object's colour and shape; the target is the nearest other
# object's colour and shape (objects whose nearest is clear, as the generator asks:
# synth_shapes.clear_nearest; one per scene). How the scene is written (--coords):
#   tokens    per object its colour, shape, patch column and patch row, a token each (the cells
#             determine the answer exactly);
#   features  per object its colour and shape tokens and one place row, whose embedding adds a
#             learned linear map of its cell centre's features (x, y, x^2 + y^2, sines and
#             cosines of x and y): the geometry given, as the image rows' place is linear in
#             the tower's output, where the tokens' has to be learned;
#   joint     one row per object: its colour's, its shape's and its place's embeddings added,
#             as an image row carries all three;
#   image     one row per cell of a --grid x --grid raster (row-major, as the decoder reads the
#             576 image rows): the covering object's colour and shape (a background token
#             where none) plus the cell's place; an object covers the cells whose centre lies
#             in 0.8 of its radius, and at least its centre's;
#   cells     as image without the background's rows (the objects' cells, in raster order).
# A LlamaForCausalLM of the shapes decoder's geometry (hidden 128, FFN 3x hidden) learns from
# fresh scenes, batch 64, AdamW at a constant LR after 100 warm-up steps. Every EVERY steps it
# answers one question of each of the first 600 val scenes that has one, greedily (the second
# token after its own first): "val" is the share right; on scenes of 3+ objects (the test split
# asks nearest only there; "chance3" is naming a uniformly drawn other object there) also the
# share that names the named object, another object, or no object of the scene.
# --attn-sup W supervises the circuit the shapes model's --attn-sup / --near-sup aim at: at the
# two rows that predict the answer, head 0 of the first of --sup-layers puts its mass on the
# named object's rows (the fetch of its place) and head 0 of the second on the nearest's (the
# lookup), -log(mass) at weight W.
#
#   LD_LIBRARY_PATH=<openblas dir> /usr/bin/python3 tools/nearest_toy.py HIDDEN LAYERS STEPS \
#       [--lr 1e-3] [--every 250] [--heads 4] [--coords tokens|features|joint|image|cells] \
#       [--grid 16] [--attn-sup W --sup-layers 1,2] [--batch 64] [--threads 2]
"""The nearest-object task for small LLaMA decoders, the scene as tokens or as rows."""

import argparse
import math
import random
import sys
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth_shapes as S  # noqa: E402

BOS, QUERY = 0, 1
COLOR0 = 2
SHAPE0 = COLOR0 + len(S.COLORS)
X0 = SHAPE0 + len(S.SHAPES)
Y0 = X0 + S.GRID
VOCAB = Y0 + S.GRID
PLACE = VOCAB  # --coords features' place rows (the vocabulary one longer there)
BATCH = 64
N_FEATURES = 3 + 4 * 4


def place_features(col: int, row: int, grid: int = S.GRID) -> List[float]:
    """The place features of a cell centre (x, y in [0, 1]), for every --coords but tokens."""
    x, y = (col + 0.5) / grid, (row + 0.5) / grid
    out = [x, y, x * x + y * y]
    for k in range(1, 5):
        out += [math.sin(k * math.pi * x), math.cos(k * math.pi * x),
                math.sin(k * math.pi * y), math.cos(k * math.pi * y)]
    return out


class Sample(NamedTuple):
    tokens: List[int]  # with the answer
    start: int  # where the answer starts
    count: int  # objects in the scene
    feats: Dict[int, Tuple[int, List[float]]]  # row: (extra token id or -1, place features)
    names: List[Tuple[int, int]]  # each object's colour and shape tokens
    named: List[int]  # the named object's rows
    nearest: List[int]  # the answer's rows


IMAGE_GRID = 16  # --grid's default: cells a side (21 px)
BACKGROUND = BOS  # --coords image: the colour and shape of cells no object covers


def image_rows(objs, grid: int) -> List[int]:
    """--coords image / cells: per cell (row-major), the index of the object whose disc of 0.8 its
    radius holds the cell's centre (each object has at least the cell of its centre), or -1."""
    cell = S.SIZE / grid
    c = (np.arange(grid) + 0.5) * cell
    owner = np.full((grid, grid), -1)
    for i, o in enumerate(objs):
        owner[(c[:, None] - o.cy) ** 2 + (c[None, :] - o.cx) ** 2 <= (0.8 * o.r) ** 2] = i
    for i, o in enumerate(objs):
        owner[min(grid - 1, int(o.cy // cell)), min(grid - 1, int(o.cx // cell))] = i
    return owner.reshape(-1).tolist()


def ids_of(o) -> Tuple[int, int]:
    """An object's colour and shape tokens."""
    return COLOR0 + S.COLORS.index(o.color), SHAPE0 + S.SHAPES.index(o.shape)


def raster_rows(objs, coords: str, grid: int):
    """--coords image / cells: (tokens, features, each object's rows), a row per cell (row-major,
    --coords cells skips the background's): its object's colour token, with its shape token
    and the cell's place in the features."""
    toks, feats, rows = [BOS], {}, [[] for _ in objs]
    for c, w in enumerate(image_rows(objs, grid)):
        if w < 0 and coords == "cells":
            continue
        if w >= 0:
            rows[w].append(len(toks))
        color, shape = ids_of(objs[w]) if w >= 0 else (BACKGROUND, BACKGROUND)
        feats[len(toks)] = (shape, place_features(c % grid, c // grid, grid))
        toks.append(color)
    return toks, feats, rows


def object_rows(objs, coords: str):
    """--coords tokens / features / joint: (tokens, features, each object's rows)."""
    toks, feats, rows = [BOS], {}, []
    for o in objs:
        col, row = int(o.cx // S.PATCH), int(o.cy // S.PATCH)
        color, shape = ids_of(o)
        if coords == "joint":  # one row: the colour's embedding + the shape's + the place's
            rows.append([len(toks)])
            feats[len(toks)] = (shape, place_features(col, row))
            toks.append(color)
        elif coords == "tokens":
            rows.append(list(range(len(toks), len(toks) + 4)))
            toks += [color, shape, X0 + col, Y0 + row]
        else:
            rows.append(list(range(len(toks), len(toks) + 3)))
            feats[len(toks) + 2] = (-1, place_features(col, row))
            toks += [color, shape, PLACE]
    return toks, feats, rows


def sample(split: str, index: int, coords: str, grid: int = IMAGE_GRID) -> Optional[Sample]:
    """One question of a scene, or None (none has a clear nearest)."""
    objs = S.make_scene(split, index).objects
    items = [(j, S.clear_nearest(objs, j)) for j in range(len(objs))]
    items = [(j, k) for j, k in items if k is not None]
    if not items:
        return None
    j, k = random.Random(index).choice(items)
    toks, feats, rows = (raster_rows(objs, coords, grid) if coords in ("image", "cells") else
                         object_rows(objs, coords))
    toks += [QUERY, *ids_of(objs[j])]
    return Sample(toks + list(ids_of(objs[k])), len(toks), len(objs), feats,
                  [ids_of(o) for o in objs], rows[j], rows[k])


class Toy(torch.nn.Module):
    """A LlamaForCausalLM whose place rows add a linear map of their features (and, with
    --coords joint, image or cells, their shape's embedding)."""

    def __init__(self, cfg: LlamaConfig, places: bool):
        super().__init__()
        self.lm = LlamaForCausalLM(cfg)
        self.place = torch.nn.Linear(N_FEATURES, cfg.hidden_size) if places else None

    def forward(self, ids, extra, feats, labels=None, attentions=False):
        table = self.lm.get_input_embeddings()
        emb = table(ids)
        if self.place is not None:
            emb = (emb + table(extra.clamp(min=0)) * (extra >= 0)[..., None]
                   + self.place(feats) * (feats != 0).any(-1, keepdim=True))
        return self.lm(inputs_embeds=emb, labels=labels, output_attentions=attentions)


def attn_sup_loss(attentions, samples: List[Sample], fetch: int, lookup: int) -> torch.Tensor:
    """-log of head 0's mass, at the two rows that predict the answer, on the named object's
    rows (at layer `fetch`) and on the nearest's (at layer `lookup`)."""
    terms = []
    for b, s in enumerate(samples):
        for layer, target in ((fetch, s.named), (lookup, s.nearest)):
            mass = attentions[layer][b, 0, s.start - 1:s.start + 1][:, target].sum(-1)
            terms.append(-torch.log(mass + 1e-6))
    return torch.cat(terms).mean()


def batch(samples):
    """Token ids (right-padded), an extra token id whose embedding is added (the shapes of
    --coords joint, image and cells; else -1), place features (zero but on place rows) and
    labels (-100 but on the answers)."""
    n = max(len(s.tokens) for s in samples)
    ids = torch.zeros(len(samples), n, dtype=torch.long)
    extra = torch.full((len(samples), n), -1)
    feats = torch.zeros(len(samples), n, N_FEATURES)
    lab = torch.full((len(samples), n), -100)
    for b, s in enumerate(samples):
        t, q = s.tokens, s.start
        ids[b, :len(t)] = torch.tensor(t)
        lab[b, q:len(t)] = torch.tensor(t[q:])
        for i, (e, v) in s.feats.items():
            extra[b, i], feats[b, i] = e, torch.tensor(v)
    return ids, extra, feats, lab


def answers(model, val) -> Dict[str, float]:
    """What the greedy answers (two tokens, the second after the first one predicted) name, on
    scenes of 3+ objects: the nearest ("right"), the named object, another object of the scene,
    or a colour and shape that no object has ("none"); and "all", right over all questions."""
    model.eval()
    with torch.no_grad():
        ids, extra, feats, _ = batch(val)
        at = torch.tensor([s.start for s in val])
        rows = torch.arange(len(val))
        first = model(ids, extra, feats).logits[rows, at - 1].argmax(-1)
        ids[rows, at] = first
        second = model(ids, extra, feats).logits[rows, at].argmax(-1)
    model.train()
    kinds = []
    for b, s in enumerate(val):
        said = (int(first[b]), int(second[b]))
        tokens, q = s.tokens, s.start
        kinds.append("right" if said == tuple(tokens[q:q + 2]) else
                     "named" if said == tuple(tokens[q - 2:q]) else
                     "other" if said in s.names else "none")
    three = [k for k, s in zip(kinds, val) if s.count >= 3]
    out = {k: three.count(k) / len(three) for k in ("right", "named", "other", "none")}
    out["all"] = kinds.count("right") / len(kinds)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("hidden", type=int)
    ap.add_argument("layers", type=int)
    ap.add_argument("steps", type=int)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--every", type=int, default=250)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--coords", choices=("tokens", "features", "joint", "image", "cells"),
                    default="tokens")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--attn-sup", type=float, default=0.0,
                    help="weight of attn_sup_loss (head 0 of --sup-layers' two layers)")
    ap.add_argument("--sup-layers", default="1,2", help="the fetch's and the lookup's layers")
    ap.add_argument("--batch", type=int, default=BATCH)
    ap.add_argument("--grid", type=int, default=IMAGE_GRID,
                    help="--coords image / cells: cells a side")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    raster = args.coords in ("image", "cells")
    model = Toy(LlamaConfig(
        vocab_size=VOCAB + (args.coords == "features"), hidden_size=args.hidden,
        intermediate_size=3 * args.hidden, num_hidden_layers=args.layers,
        num_attention_heads=args.heads, num_key_value_heads=args.heads,
        max_position_embeddings=64 + args.grid ** 2 * raster), places=args.coords != "tokens")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    val = [x for x in (sample("val", i, args.coords, args.grid) for i in range(600)) if x]
    chance = np.mean([1 / (s.count - 1) for s in val])
    chance3 = np.mean([1 / (s.count - 1) for s in val if s.count >= 3])
    print(f"hidden {args.hidden} layers {args.layers} heads {args.heads} coords {args.coords} "
          f"val {len(val)} chance {chance:.3f} ({sum(s.count >= 3 for s in val)} of 3+ objects: "
          f"chance3 {chance3:.3f})", flush=True)
    index, t0 = 5_000_000, time.time()
    for step in range(args.steps):
        samples = []
        while len(samples) < args.batch:
            x = sample("train", index, args.coords, args.grid)
            index += 1
            if x:
                samples.append(x)
        ids, extra, feats, lab = batch(samples)
        for g in opt.param_groups:
            g["lr"] = args.lr * min(1, (step + 1) / 100)
        out = model(ids, extra, feats, labels=lab, attentions=bool(args.attn_sup))
        loss = out.loss
        if args.attn_sup:
            sup = attn_sup_loss(out.attentions, samples, *map(int, args.sup_layers.split(",")))
            loss = loss + args.attn_sup * sup
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % args.every == args.every - 1:
            a = answers(model, val)
            print(f"{step + 1} t={time.time() - t0:.0f} loss={out.loss.item():.3f} "
                  + (f"sup={sup.item():.3f} " if args.attn_sup else "") + f"val={a['all']:.3f}"
                  f" 3+: " + " ".join(f"{k} {a[k]:.3f}" for k in ("right", "named", "other",
                                                                   "none")), flush=True)


if __name__ == "__main__":
    main()
