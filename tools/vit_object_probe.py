#!/usr/bin/env python3
# Does the shapes model's image side know each object's shape, colour, size and place? (issue 8)
# An object-level linear probe: the mean of the vision_feature_layer features (or, with --rows,
# of the projector's output rows, what the decoder reads) over each object's patches (those it
# covers by at least 25%, the true mask), then logistic regression on the objects of N train
# scenes, scored on the objects of the 100 validation scenes. No weights of the model change.
#
#   LD_LIBRARY_PATH=<openblas dir> /usr/bin/python3 tools/vit_object_probe.py STATE.pt [--rows] [--train N]
#   STATE.pt: a state_dict written by tools/train_tiny_llava.py (/tmp/yopo_shapes_after_*.pt)
#
# Measured 2026-11-29 (300 train scenes, 402 validation objects; priors: shape 0.31, colour 0.25,
# size 0.62):
#   tower after the 600-step stage 0: shape 0.83 (small 0.80, large 0.88), colour 1.00, size 0.92.
#     Per patch the same tower names the shape of only ~48% of object patches, but pooled over
#     the object the shape is there, linearly.
#   --rows, after stage 1 and ~500 stage-2 steps (text-pretrained decoder): shape 0.67, colour
#     1.00, size 0.94. The rows the decoder reads still hold the shape; that model answered
#     shape questions at the prior (0.32-0.37), so reading them, not the tower, is what fails.
#   The checkpoint of tools/train_shapes_recipe.sh (tower after 600 + 700 stage-0 steps; test
#   POPE 73.8%, position 43.5%): tower shape 0.98, colour 1.00, size 0.98, and which half of the
#   image the object is in 0.88 (left/right; prior 0.53) and 0.89 (top/bottom; 0.52); --rows
#   keep shape, colour and size (0.95 / 1.00 / 0.97) but only 0.67 / 0.67 of the halves. The
#   projector passes on what the decoder was trained to ask about, and little of where objects
#   are: the position questions have little to read.
"""Object-level linear probe of the shapes model's vision tower or projector rows."""

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth_shapes as S  # noqa: E402
import train_tiny_llava as T  # noqa: E402

PROBE_SCENES = 5_000_000  # train-split indices no training stage reaches


def object_features(model, split: str, indices, rows: bool):
    """Per object: the mean feature over its patches, and (shape, colour, size, size word, right
    half, bottom half)."""
    X, Y = [], []
    for i0 in range(0, len(indices), 16):
        scenes = [S.make_scene(split, i) for i in indices[i0:i0 + 16]]
        images, labels = zip(*[S.render(sc, with_labels=True) for sc in scenes])
        px = torch.stack([T.pixel_values(x) for x in images])
        with torch.no_grad():
            f = T.encode_images(model, px) if rows else T.vision_features(model, px)
        for b, (sc, lab) in enumerate(zip(scenes, labels)):
            frac = S.object_patch_fraction(lab, len(sc.objects)).reshape(S.GRID * S.GRID, -1)
            for i, o in enumerate(sc.objects):
                mask = torch.from_numpy(frac[:, i] >= 0.25)
                if bool(mask.any()):
                    X.append(f[b][mask].mean(0))
                    Y.append((S.SHAPES.index(o.shape), S.COLORS.index(o.color),
                              S.SIZES.index(o.size), o.size, int(o.cx >= S.SIZE / 2),
                              int(o.cy >= S.SIZE / 2)))
    return torch.stack(X), Y


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("state", type=Path)
    ap.add_argument("--rows", action="store_true", help="pool the projector's output rows")
    ap.add_argument("--train", type=int, default=300, help="train scenes for the probe")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = T.load_state(args.state, seed=0)
    model.eval()
    Xtr, Ytr = object_features(model, "train", range(PROBE_SCENES, PROBE_SCENES + args.train),
                               args.rows)
    Xte, Yte = object_features(model, "val", range(S.DEFAULT_COUNTS["val"]), args.rows)
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
    small = torch.tensor([y[3] == "small" for y in Yte])
    for k, name, n_cls in ((0, "shape", len(S.SHAPES)), (1, "colour", len(S.COLORS)),
                           (2, "size", len(S.SIZES)), (4, "side (left/right half)", 2),
                           (5, "half (top/bottom)", 2)):
        ytr = torch.tensor([y[k] for y in Ytr])
        yte = torch.tensor([y[k] for y in Yte])
        W = torch.zeros(Xtr.shape[1], n_cls, requires_grad=True)
        b = torch.zeros(n_cls, requires_grad=True)
        opt = torch.optim.Adam([W, b], lr=0.05)
        for _ in range(300):
            loss = F.cross_entropy(Xtr @ W + b, ytr) + 1e-3 * (W ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        ok = (Xte @ W + b).argmax(-1) == yte
        prior = max(float((yte == c).float().mean()) for c in range(n_cls))
        print(f"{name}: accuracy {float(ok.float().mean()):.3f} (small {float(ok[small].float().mean()):.3f}, "
              f"large {float(ok[~small].float().mean()):.3f}; prior {prior:.3f}, {len(yte)} objects)",
              flush=True)


if __name__ == "__main__":
    main()
