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
# object's patches) times W, as --attn-sup does in the decoder. --new-layers K trains K layers
# after the frozen three (the 4th and K - 1 appended ones, each starting as the identity; with
# --attn-sup, head 0 of each is supervised), and --coord-sup W makes a linear head regress,
# from the first new layer's output, each object patch's object centre (x, y, x^2 + y^2).
#
#   vit_nearest_layer.py train STATE STEPS LR OUT [--attn-sup W] [--new-layers K]
#                        [--coord-sup W] [--scene-start N]
#   vit_nearest_layer.py eval OUT [SCENES]
#   vit_nearest_layer.py state OUT STATE_OUT
#
# STATE: a state dict of tools/train_tiny_llava.py (--state-out) or an OUT of this script (it
# continues then: layers and heads as they are, no warm-up; layers beyond its own start as the
# identity). eval, on validation scenes with 3+ objects: the head's accuracy (all; scenes of 4+
# objects, with what naming a uniformly drawn other object would get), and the last layer's
# head 0's mass from an object's patches on the nearest object, on the object itself and on the
# others, and how often the nearest gets the most of the others. state: OUT's model as a plain
# state dict, which train_tiny_llava.py --resume builds to its depth, with vision_feature_layer
# -1 (the decoder reads the new layers).
# Measured 2026-11-30 (tools/train_tiny_llava.py's header, sessions 23 and 24).
"""Train and measure new tower layers on the nearest other object of each patch."""

import argparse
import copy
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


def add_layers(model, n_new: int) -> None:
    """Give the tower n_new layers after its first three (the 4th and n_new - 1 more)."""
    enc = model.vision_tower.vision_model.encoder
    while len(enc.layers) < 3 + n_new:
        enc.layers.append(copy.deepcopy(enc.layers[3]))
    model.config.vision_config.num_hidden_layers = len(enc.layers)


def load(path: str, n_new: int = 1):
    """(model, head, coordinate head, resumed) from a train_tiny_llava state dict or an OUT of
    this script; layers beyond those it has (up to n_new after the first three) start as the
    identity; a coordinate head it lacks starts at PyTorch's default init."""
    ck = torch.load(path)
    model = T.build_model(T.SEED)
    head = torch.nn.Linear(T.VISION["hidden_size"], T.N_COMBOS)
    resumed = "head" in ck
    n_have = ck.get("new_layers", 1) if resumed else 1
    add_layers(model, n_have)
    ck.pop(T.FEATURE_LAYER_KEY, None)
    model.load_state_dict(ck["model"] if resumed else ck)
    if resumed:
        head.load_state_dict(ck["head"])
    add_layers(model, n_new)
    fresh = model.vision_tower.vision_model.encoder.layers[3 + (n_have if resumed else 0):]
    with torch.no_grad():
        for layer in fresh:
            for m in (layer.self_attn.out_proj, layer.mlp.fc2):
                m.weight.zero_()
                m.bias.zero_()
    coord = torch.nn.Linear(T.VISION["hidden_size"], 3)  # --coord-sup's
    if resumed and "coord" in ck:
        coord.load_state_dict(ck["coord"])
    return model.eval(), head, coord, resumed


def third_output(tower, px: torch.Tensor) -> torch.Tensor:
    """A vision tower's third layer output (all tokens)."""
    vm = tower.vision_model
    h = vm.pre_layrnorm(vm.embeddings(px))
    for layer in vm.encoder.layers[:3]:
        h = layer(h, None, None)[0]
    return h


def run_tower(model, px: torch.Tensor, base_grad: bool = False):
    """The first three layers (frozen unless base_grad), then the new ones: (the last one's
    patch rows, each new layer's patch-to-patch attention, each new layer's patch rows, the
    third layer's output)."""
    with torch.set_grad_enabled(base_grad and torch.is_grad_enabled()):
        h = h3 = third_output(model.vision_tower, px)
    atts, outs = [], []
    for layer in model.vision_tower.vision_model.encoder.layers[3:]:
        h, att = layer(h, None, None, output_attentions=True)
        atts.append(att[:, :, 1:, 1:])
        outs.append(h[:, 1:])
    return h[:, 1:], atts, outs, h3


def batch(scenes):
    """Pixels, per-patch labels (-100: none), scene object counts per patch, the attention
    target (patch x patch: 1 on the labelled patch's nearest object), and each object patch's
    object centre as (x, y, x^2 + y^2), x and y in image widths (zero elsewhere)."""
    imgs, ys, ns, tg, xy = [], [], [], [], []
    n_p = S.GRID * S.GRID
    for sc in scenes:
        img, lab = S.render(sc, with_labels=True)
        imgs.append(T.pixel_values(img))
        fr = S.object_patch_fraction(lab, len(sc.objects)).reshape(n_p, -1)
        idx, has = fr.argmax(-1), fr.max(-1) >= 0.25
        y = np.full(n_p, -100, np.int64)
        t = np.zeros((n_p, n_p), np.float32)
        c = np.zeros((n_p, 3), np.float32)
        for i, o in enumerate(sc.objects):
            u, v = o.cx / S.SIZE, o.cy / S.SIZE
            c[has & (idx == i)] = (u, v, u * u + v * v)
        for i in range(len(sc.objects)):
            jn = S.clear_nearest(sc.objects, i)
            if jn is None:
                continue
            o = sc.objects[jn]
            y[has & (idx == i)] = S.COMBOS.index((o.color, o.shape))
            t[np.ix_(has & (idx == i), T.object_patches(fr[:, jn]))] = 1.0
        ys.append(torch.from_numpy(y))
        ns.append(torch.full((n_p,), len(sc.objects)))
        tg.append(torch.from_numpy(t))
        xy.append(torch.from_numpy(c))
    return (torch.stack(imgs), torch.stack(ys), torch.stack(ns), torch.stack(tg),
            torch.stack(xy))


def train(args):
    model, head, coord, resumed = load(args.state, args.new_layers)
    new = model.vision_tower.vision_model.encoder.layers[3:]
    for p in model.parameters():
        p.requires_grad = False
    for p in new.parameters():
        p.requires_grad = True
    vm = model.vision_tower.vision_model
    base = [vm.embeddings, vm.pre_layrnorm] + list(vm.encoder.layers[:3])
    frozen = copy.deepcopy(model.vision_tower) if args.anchor else None
    base_params = [p for m in base for p in m.parameters()] if args.anchor else []
    for p in base_params:
        p.requires_grad = True
    opt = torch.optim.AdamW([{"params": list(new.parameters())},
                             {"params": list(head.parameters()) + list(coord.parameters())},
                             {"params": base_params}],
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
        opt.param_groups[2]["lr"] = opt.param_groups[0]["lr"] * args.base_lr_scale
        x, y, n_obj, tgt, xy = batch([S.make_scene("train", start + step * BATCH + k)
                                      for k in range(BATCH)])
        h, atts, outs, h3 = run_tower(model, x, base_grad=bool(args.anchor))
        loss_b = torch.zeros(())
        if args.anchor:  # the first three layers' output as it was, relative squared error
            with torch.no_grad():
                was = third_output(frozen, x)
            loss_b = (h3 - was).pow(2).mean() / was.pow(2).mean()
        on = xy[..., 2] > 0
        loss_c = F.mse_loss(coord(outs[0][on]), xy[on]) if on.any() else torch.zeros(())
        lab = y >= 0
        loss_a = torch.zeros(())
        if lab.any():  # head 0 of each new layer
            for att in atts:
                loss_a = loss_a - torch.log((att[:, 0] * tgt).sum(-1)[lab] + 1e-6).mean()
            loss_a = loss_a / len(atts)
        logits = head(h).reshape(-1, T.N_COMBOS)
        yy = y.reshape(-1)
        loss_n = F.cross_entropy(logits, yy, ignore_index=-100)
        keep = yy >= 0
        hit = (logits.argmax(-1) == yy).float()
        k4 = keep & (n_obj.reshape(-1) >= 4)
        hist.append((float(loss_n), float(hit[keep].mean()),
                     float(hit[k4].mean()) if k4.any() else float("nan"), float(loss_a),
                     float(loss_c), float(loss_b)))
        loss = (loss_n + args.attn_sup * loss_a + args.coord_sup * loss_c +
                args.anchor * loss_b)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 9:
            a = np.array(hist[-10:])
            print(f"{step + 1} t={time.time() - t0:.0f} ce={a[:, 0].mean():.3f} "
                  f"acc={a[:, 1].mean():.3f} acc4+={np.nanmean(a[:, 2]):.3f} "
                  f"attn={a[:, 3].mean():.3f} coord={a[:, 4].mean():.4f} "
                  f"anchor={a[:, 5].mean():.4f}", flush=True)
    torch.save({"model": model.state_dict(), "head": head.state_dict(),
                "coord": coord.state_dict(), "new_layers": len(new)}, args.out)


def evaluate(args):
    model, head, _, resumed = load(args.out)
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
            h, atts, _, _ = run_tower(model, T.pixel_values(img)[None])
            pred, a0 = head(h[0]).argmax(-1).numpy(), atts[-1][0, 0].numpy()
            sel = [T.object_patches(fr[:, j]) for j in range(n)]
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


def write_state(args):
    """OUT's model as a state dict for train_tiny_llava.py --resume (which builds the tower as
    deep as the state), with vision_feature_layer -1: the decoder reads the new layers."""
    ck = torch.load(args.out)
    if "head" not in ck:
        sys.exit("state: give an OUT of `train`")
    torch.save({**ck["model"], T.FEATURE_LAYER_KEY: torch.tensor(-1)}, args.state_out)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train")
    tr.add_argument("state")
    tr.add_argument("steps", type=int)
    tr.add_argument("lr", type=float)
    tr.add_argument("out")
    tr.add_argument("--attn-sup", type=float, default=0.0)
    tr.add_argument("--coord-sup", type=float, default=0.0,
                    help="weight of a regression, by a linear head on the first new layer's "
                         "output, of each object patch's object centre (x, y, x^2 + y^2)")
    tr.add_argument("--anchor", type=float, default=0.0,
                    help="train the first three layers (and the embeddings) too, at "
                         "--base-lr-scale times the lr, with this weight on the relative squared "
                         "change of their output (what the decoder reads at feature layer -2)")
    tr.add_argument("--base-lr-scale", type=float, default=None,
                    help="with --anchor only (default 0.3)")
    tr.add_argument("--new-layers", type=int, default=1,
                    help="layers trained after the frozen three, each starting as the identity "
                         "(with --attn-sup, head 0 of each is supervised; continuing an OUT, the "
                         "ones beyond its own)")
    tr.add_argument("--scene-start", type=int, default=None,
                    help="the first train scene (default 700000, continuing 750000)")
    ev = sub.add_parser("eval")
    ev.add_argument("out")
    ev.add_argument("scenes", type=int, nargs="?", default=80)
    st = sub.add_parser("state")
    st.add_argument("out")
    st.add_argument("state_out")
    args = ap.parse_args()
    if args.cmd == "train":
        if args.base_lr_scale is not None and not args.anchor:
            ap.error("--base-lr-scale needs --anchor (the first three layers train only then)")
        if args.base_lr_scale is None:
            args.base_lr_scale = 0.3
    torch.manual_seed(0)
    torch.set_num_threads(2)
    {"train": train, "eval": evaluate, "state": write_state}[args.cmd](args)


if __name__ == "__main__":
    main()
