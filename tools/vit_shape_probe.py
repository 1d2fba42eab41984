#!/usr/bin/env python3
# A short probe of how fast the shapes model's vision tower learns SHAPE from scratch (issue 8):
# the ViT of tools/train_tiny_llava.py plus two linear heads (colour on every patch, shape on
# object patches) trained for STEPS steps; every 20 steps it prints the shape accuracy of the
# last 20 training batches (before each step's update, so on unseen scenes) on three kinds of
# object patch: patches of small shapes, edge patches of large shapes, interior patches of large
# shapes (>= 95% covered: locally a flat colour, only context tells the shape).
#
#   LD_LIBRARY_PATH=<openblas dir> /usr/bin/python3 tools/vit_shape_probe.py STEPS LR BATCH SCENES
#   SCENES: train (the question scenes, 2-6 shapes) or vision (stage-0 scenes, 7-11, mostly small)
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
"""Probe how fast the shapes model's vision tower learns shape."""

import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth_shapes as S  # noqa: E402
import train_tiny_llava as T  # noqa: E402


def patch_kinds(sc, label, pl):
    """Per patch: 0 background, 1 small shape, 2 large-shape edge, 3 large-shape interior."""
    per_patch = label.reshape(S.GRID, S.PATCH, S.GRID, S.PATCH)
    kind = np.zeros(S.GRID * S.GRID, np.int64)
    for i, o in enumerate(sc.objects):
        frac = (per_patch == i).mean(axis=(1, 3)).reshape(-1)
        own = ((pl["color"] == S.COLORS.index(o.color) + 1) &
               (pl["shape"] == S.SHAPES.index(o.shape) + 1) & (frac >= 0.25))
        if o.size == "small":
            kind[own] = 1
        else:
            kind[own & (frac < 0.95)] = 2
            kind[own & (frac >= 0.95)] = 3
    return kind


def main():
    steps, lr, batch, scenes = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    make = {"train": lambda i: S.make_scene("train", i), "vision": S.make_vision_scene}[scenes]
    torch.set_num_threads(2)
    torch.manual_seed(0)
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
        imgs, color, shape, kind = [], [], [], []
        for _ in range(batch):
            sc = make(index)
            index += 1
            img, label = S.render(sc, with_labels=True)
            pl = S.patch_labels(sc, label)
            imgs.append(T.pixel_values(img))
            color.append(torch.from_numpy(pl["color"]))
            shape.append(torch.from_numpy(pl["shape"]))
            kind.append(torch.from_numpy(patch_kinds(sc, label, pl)))
        feats = T.vision_features(model, torch.stack(imgs)).reshape(-1, d)
        color, shape, kind = (torch.stack(x).reshape(-1) for x in (color, shape, kind))
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


if __name__ == "__main__":
    main()
