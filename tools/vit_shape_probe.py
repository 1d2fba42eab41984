#!/usr/bin/env python3
# A short probe of how fast the shapes model's vision tower learns SHAPE from scratch (issue 8):
# the ViT of tools/train_tiny_llava.py plus two linear heads (colour on every patch, shape on
# object patches) trained for STEPS steps; every 20 steps it prints the shape accuracy of the
# last 20 training batches (before each step's update, so on unseen scenes) on three kinds of
# object patch: patches of small shapes, edge patches of large shapes, interior patches of large
# shapes (>= 95% covered: locally a flat colour, only context tells the shape).
#
#   LD_LIBRARY_PATH=<openblas dir> /usr/bin/python3 tools/vit_shape_probe.py \
#       STEPS LR BATCH SCENES [CROP]
#   SCENES: train (the question scenes, 2-6 shapes) or vision (stage-0 scenes, 7-11, mostly small)
#   CROP > 0: train on random CROP x CROP windows of the 24x24 patch grid (each with its own
#   position embeddings, as if the rest of the image were absent): per image the linear layers
#   cost (24/CROP)^2 less and the attention scores (24/CROP)^4 less. At the end the tower is
#   scored on 32 whole unseen images either way (no update).
#
# Measured 2026-11-29 (2 threads, ~1.9 s/step at BATCH 16), accuracies after ~150 steps, where
# always answering the most frequent shape gives ~0.35:
#   train scenes, lr 1e-3: 0.36 / 0.40 / 0.52 (small / large edge / large interior): no shape
#     learned; the same with plain backgrounds, with object centres snapped to the patch grid, and
#     with a locality-biased attention initialization (ConViT-like). The tower can memorize a
#     fixed batch (0.95 small after 60 steps), so it is sample efficiency, not a bug.
#   scenes like the vision ones (7-11 shapes, mostly small; centres snapped to the patch grid in
#     that run), lr 2e-3: 0.55 / 0.31 / 0.41: small shapes start to be learned. In the full
#     stage 0 on vision scenes (600 steps, all heads) shape on object patches reached ~0.48.
#   vision scenes, CROP 12, BATCH 32, lr 2e-3, 300 steps (1.3 s/step, half of it rendering):
#     0.34 / 0.33 / 0.47 on the crops, 0.28 / 0.20 / 0.31 on whole images: crops are cheaper per
#     image but did not make shape come sooner.
"""Probe how fast the shapes model's vision tower learns shape."""

import math
import random
import sys
import time
from pathlib import Path
from typing import List

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth_shapes as S  # noqa: E402
import train_tiny_llava as T  # noqa: E402


def patch_kinds(sc, label, pl):
    """Per patch: 0 background, 1 small shape, 2 large-shape edge, 3 large-shape interior."""
    fracs = S.object_patch_fraction(label, len(sc.objects)).reshape(S.GRID * S.GRID, -1)
    kind = np.zeros(S.GRID * S.GRID, np.int64)
    for i, o in enumerate(sc.objects):
        frac = fracs[:, i]
        own = ((pl["color"] == S.COLORS.index(o.color) + 1) &
               (pl["shape"] == S.SHAPES.index(o.shape) + 1) & (frac >= 0.25))
        if o.size == "small":
            kind[own] = 1
        else:
            kind[own & (frac < 0.95)] = 2
            kind[own & (frac >= 0.95)] = 3
    return kind


def crop_features(model, pixels: torch.Tensor, r0: List[int], c0: List[int], n: int):
    """The tower (up to the feature layer) on an n x n window of patches of each image, the
    window of image b starting at patch (r0[b], c0[b]); class token dropped: [B, n*n, d]."""
    vm = model.vision_tower.vision_model
    emb = vm.embeddings
    P = S.PATCH
    crops = torch.stack([pixels[b, :, r * P:(r + n) * P, c * P:(c + n) * P]
                         for b, (r, c) in enumerate(zip(r0, c0))])
    x = emb.patch_embedding(crops).flatten(2).transpose(1, 2)  # [B, n*n, d]
    grid = torch.arange(n)
    ids = [torch.cat([torch.zeros(1, dtype=torch.long),
                      1 + ((r + grid)[:, None] * S.GRID + (c + grid)[None, :]).reshape(-1)])
           for r, c in zip(r0, c0)]
    h = torch.cat([emb.class_embedding.expand(len(r0), 1, -1), x], 1)
    return T.vision_layers(vm, h + emb.position_embedding(torch.stack(ids)))


def batch_of(make, first: int, batch: int):
    imgs, color, shape, kind = [], [], [], []
    for i in range(first, first + batch):
        sc = make(i)
        img, label = S.render(sc, with_labels=True)
        pl = S.patch_labels(sc, label)
        imgs.append(T.pixel_values(img))
        color.append(torch.from_numpy(pl["color"]))
        shape.append(torch.from_numpy(pl["shape"]))
        kind.append(torch.from_numpy(patch_kinds(sc, label, pl)))
    return torch.stack(imgs), torch.stack(color), torch.stack(shape), torch.stack(kind)


def window(x: torch.Tensor, r0: List[int], c0: List[int], n: int) -> torch.Tensor:
    """[B, 576] per-patch values -> [B, n*n] of each image's window."""
    g = x.reshape(-1, S.GRID, S.GRID)
    return torch.stack([g[b, r:r + n, c:c + n].reshape(-1) for b, (r, c) in enumerate(zip(r0, c0))])


def main():
    steps, lr, batch, scenes = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    crop = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    make = {"train": lambda i: S.make_scene("train", i), "vision": S.make_vision_scene}[scenes]
    torch.set_num_threads(2)
    torch.manual_seed(0)
    random.seed(0)
    model = T.build_model(T.SEED)
    d = T.VISION["hidden_size"]
    heads = torch.nn.ModuleDict({"color": torch.nn.Linear(d, len(S.COLORS) + 1),
                                 "shape": torch.nn.Linear(d, len(S.SHAPES) + 1)})
    params = T.set_trainable(model, ["vision_tower."]) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    index, t0, hist = 0, time.time(), []
    for step in range(steps):
        cur = lr * min(1.0, (step + 1) / 30) * (0.1 + 0.45 * (1 + math.cos(math.pi * step / steps)))
        for g in opt.param_groups:
            g["lr"] = cur
        pixels, color, shape, kind = batch_of(make, index, batch)
        index += batch
        if crop:
            r0 = [random.randrange(S.GRID - crop + 1) for _ in range(batch)]
            c0 = [random.randrange(S.GRID - crop + 1) for _ in range(batch)]
            feats = crop_features(model, pixels, r0, c0, crop).reshape(-1, d)
            color, shape, kind = (window(x, r0, c0, crop).reshape(-1)
                                  for x in (color, shape, kind))
        else:
            feats = T.vision_features(model, pixels).reshape(-1, d)
            color, shape, kind = (x.reshape(-1) for x in (color, shape, kind))
        obj = color > 0
        logits = heads["shape"](feats[obj])
        loss = (F.cross_entropy(heads["color"](feats), color) +
                2 * F.cross_entropy(logits, shape[obj]))
        ok, k = (logits.argmax(-1) == shape[obj]).float(), kind[obj]
        hist.append([float(ok[k == j].mean()) if (k == j).any() else float("nan")
                     for j in (1, 2, 3)])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        if step % 20 == 19 or step == steps - 1:
            acc = np.nanmean(np.array(hist[-20:]), axis=0)
            print(f"step {step + 1}: loss {float(loss):.3f}, shape accuracy small {acc[0]:.3f}, "
                  f"large edge {acc[1]:.3f}, large interior {acc[2]:.3f} "
                  f"({time.time() - t0:.0f} s)", flush=True)
    with torch.no_grad():  # whole unseen images
        pixels, color, shape, kind = batch_of(make, 10**6, 32)
        feats = T.vision_features(model, pixels).reshape(-1, d)
        color, shape, kind = (x.reshape(-1) for x in (color, shape, kind))
        obj = color > 0
        ok, k = (heads["shape"](feats[obj]).argmax(-1) == shape[obj]).float(), kind[obj]
        acc = [float(ok[k == j].mean()) for j in (1, 2, 3)]
        col = float((heads["color"](feats).argmax(-1) == color).float().mean())
        print(f"whole images: colour {col:.3f}, shape small {acc[0]:.3f}, large edge {acc[1]:.3f}, large interior {acc[2]:.3f}")


if __name__ == "__main__":
    main()
