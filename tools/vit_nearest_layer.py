#!/usr/bin/env python3
# Can the vision tower name, on every patch of an object, the nearest other object (issue 8's
# nearest questions)? If it could, "Which object is closest to the red circle?" would become a
# lookup of the red circle's patches, as the colour questions are. The shipped tower runs 3 of
# its 4 layers (vision_feature_layer -2), so the 4th is free: this switches it on, starting as
# the identity (out_proj and fc2 zero), and trains it alone, the first three frozen, on train
# scenes (from --scene-start, 16 a step) to give, through a throw-away linear head, each object
# patch's nearest other object (colour x shape, 24 classes; objects whose nearest is clear, as
# synth_shapes' nearest questions: synth_shapes.clear_nearest). With
# --attn-sup W, also -log(the mass of the layer's head 0, at those patches, on the nearest
# object's patches) times W, as --attn-sup does in the decoder.
#
#   vit_nearest_layer.py train STATE STEPS LR OUT [--attn-sup W] [--scene-start N]
#   vit_nearest_layer.py eval OUT [SCENES]
#
# STATE: a state dict of tools/train_tiny_llava.py (--state-out) or an OUT of this script (it
# continues then: layer and head as they are, no warm-up). eval, on validation scenes with 3+
# objects: the head's accuracy (all; scenes of 4+ objects, with what naming a uniformly drawn
# other object would get), and head 0's mass from an object's patches on the nearest object,
# on the object itself and on the others, and how often the nearest gets the most of the others.
# Measured 2026-11-30 (tools/train_tiny_llava.py's header, session 23).
"""Train and measure the tower's 4th layer on the nearest other object of each patch."""

import argparse
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

BATCH = 16


def object_patches(fr: np.ndarray, j: int) -> np.ndarray:
    """The patches object j covers at least a quarter of (any it touches if none)."""
    cov = fr[:, j]
    return cov >= 0.25 if (cov >= 0.25).any() else cov > 0


def load(path: str):
    """(model, head, resumed) from a train_tiny_llava state dict or an OUT of this script."""
    ck = torch.load(path)
    model = T.build_model(T.SEED)
    head = torch.nn.Linear(T.VISION["hidden_size"], T.N_COMBOS)
    layer = model.vision_tower.vision_model.encoder.layers[3]
    if "head" in ck:
        model.load_state_dict(ck["model"])
        head.load_state_dict(ck["head"])
    else:
        model.load_state_dict(ck)
        with torch.no_grad():  # the unused layer starts as the identity
            for m in (layer.self_attn.out_proj, layer.mlp.fc2):
                m.weight.zero_()
                m.bias.zero_()
    return model.eval(), head, "head" in ck


def run_tower(model, px: torch.Tensor):
    """The frozen first three layers, then the 4th: (its patch rows, its attention)."""
    vm = model.vision_tower.vision_model
    with torch.no_grad():
        h = vm.pre_layrnorm(vm.embeddings(px))
        for layer in vm.encoder.layers[:3]:
            h = layer(h, None, None)[0]
    h, att = vm.encoder.layers[3](h, None, None, output_attentions=True)
    return h[:, 1:], att[:, :, 1:, 1:]


def batch(scenes):
    """Pixels, per-patch labels (-100: none), scene object counts per patch, and the attention
    target (patch x patch: 1 on the labelled patch's nearest object)."""
    imgs, ys, ns, tg = [], [], [], []
    n_p = S.GRID * S.GRID
    for sc in scenes:
        img, lab = S.render(sc, with_labels=True)
        imgs.append(T.pixel_values(img))
        fr = S.object_patch_fraction(lab, len(sc.objects)).reshape(n_p, -1)
        idx, has = fr.argmax(-1), fr.max(-1) >= 0.25
        y = np.full(n_p, -100, np.int64)
        t = np.zeros((n_p, n_p), np.float32)
        for i in range(len(sc.objects)):
            jn = S.clear_nearest(sc.objects, i)
            if jn is None:
                continue
            o = sc.objects[jn]
            y[has & (idx == i)] = S.COMBOS.index((o.color, o.shape))
            t[np.ix_(has & (idx == i), object_patches(fr, jn))] = 1.0
        ys.append(torch.from_numpy(y))
        ns.append(torch.full((n_p,), len(sc.objects)))
        tg.append(torch.from_numpy(t))
    return torch.stack(imgs), torch.stack(ys), torch.stack(ns), torch.stack(tg)


def train(args):
    model, head, resumed = load(args.state)
    layer = model.vision_tower.vision_model.encoder.layers[3]
    for p in model.parameters():
        p.requires_grad = False
    for p in layer.parameters():
        p.requires_grad = True
    opt = torch.optim.AdamW([{"params": list(layer.parameters())},
                             {"params": list(head.parameters())}],
                            lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
    warm = 1 if resumed else 20
    start = args.scene_start if args.scene_start is not None else (
        750000 if resumed else 700000)
    t0, hist = time.time(), []
    for step in range(args.steps):
        f = step / max(1, args.steps)
        opt.param_groups[0]["lr"] = (args.lr * 0.5 * (1 + math.cos(math.pi * f)) *
                                     min(1, (step + 1) / warm))
        opt.param_groups[1]["lr"] = 2e-3
        x, y, n_obj, tgt = batch([S.make_scene("train", start + step * BATCH + k)
                                  for k in range(BATCH)])
        h, att = run_tower(model, x)
        lab = y >= 0
        mass = (att[:, 0] * tgt).sum(-1)
        loss_a = -torch.log(mass[lab] + 1e-6).mean() if lab.any() else torch.zeros(())
        logits = head(h).reshape(-1, T.N_COMBOS)
        yy = y.reshape(-1)
        loss_n = F.cross_entropy(logits, yy, ignore_index=-100)
        keep = yy >= 0
        hit = (logits.argmax(-1) == yy).float()
        k4 = keep & (n_obj.reshape(-1) >= 4)
        hist.append((float(loss_n), float(hit[keep].mean()),
                     float(hit[k4].mean()) if k4.any() else float("nan"), float(loss_a)))
        loss = loss_n + args.attn_sup * loss_a
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 9:
            a = np.array(hist[-10:])
            print(f"{step + 1} t={time.time() - t0:.0f} ce={a[:, 0].mean():.3f} "
                  f"acc={a[:, 1].mean():.3f} acc4+={np.nanmean(a[:, 2]):.3f} "
                  f"attn={a[:, 3].mean():.3f}", flush=True)
    torch.save({"model": model.state_dict(), "head": head.state_dict()}, args.out)


def evaluate(args):
    model, head, resumed = load(args.out)
    if not resumed:
        sys.exit("eval: give an OUT of `train`")
    res = {k: [] for k in ("acc", "acc4", "uniform4", "m_nearest", "m_self", "m_others",
                           "top", "top_uniform")}
    with torch.no_grad():
        for i in range(args.scenes):
            sc = S.make_scene("val", i)
            n = len(sc.objects)
            if n < 3:
                continue
            img, lab = S.render(sc, with_labels=True)
            fr = S.object_patch_fraction(lab, n).reshape(S.GRID * S.GRID, -1)
            idx, has = fr.argmax(-1), fr.max(-1) >= 0.25
            h, att = run_tower(model, T.pixel_values(img)[None])
            pred, a0 = head(h[0]).argmax(-1).numpy(), att[0, 0].numpy()
            sel = [object_patches(fr, j) for j in range(n)]
            for i_o in range(n):
                jn = S.clear_nearest(sc.objects, i_o)
                rows = np.where(has & (idx == i_o))[0]
                if jn is None or len(rows) == 0:
                    continue
                o = sc.objects[jn]
                ok = float((pred[rows] == S.COMBOS.index((o.color, o.shape))).mean())
                res["acc"].append(ok)
                if n >= 4:
                    res["acc4"].append(ok)
                    res["uniform4"].append(1 / (n - 1))
                mo = np.stack([a0[rows][:, s].sum(-1) for s in sel], -1).mean(0)
                others = [j for j in range(n) if j != i_o]
                res["m_nearest"].append(mo[jn])
                res["m_self"].append(mo[i_o])
                res["m_others"].append(sum(mo[j] for j in others if j != jn))
                res["top"].append(float(max(others, key=lambda j: mo[j]) == jn))
                res["top_uniform"].append(1 / len(others))
    print(f"{args.out}: {len(res['acc'])} objects of {args.scenes} val scenes; " +
          " ".join(f"{k}={np.mean(v):.3f}" for k, v in res.items()))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train")
    tr.add_argument("state")
    tr.add_argument("steps", type=int)
    tr.add_argument("lr", type=float)
    tr.add_argument("out")
    tr.add_argument("--attn-sup", type=float, default=0.0)
    tr.add_argument("--scene-start", type=int, default=None,
                    help="the first train scene (default 700000, continuing 750000)")
    ev = sub.add_parser("eval")
    ev.add_argument("out")
    ev.add_argument("scenes", type=int, nargs="?", default=80)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    train(args) if args.cmd == "train" else evaluate(args)


if __name__ == "__main__":
    main()
