#!/usr/bin/env python3
# Where a shapes model loses what an object is (issue 8: colour, shape and nearest questions),
# on validation scenes, from a state dict written by tools/train_tiny_llava.py or a checkpoint
# directory:
#
#   1. identity: for the colour, shape and nearest questions whose named object fits one
#      object, how linearly the named object's colour (on the colour questions, whose text names
#      only its shape) and shape (on the shape questions, whose text names only its colour) can
#      be read from: the mean of its image rows at each decoder layer's input (0: the
#      projector's output); what layer 1's head 0 outputs at the mention's row (the fetch that
#      --attn-sup-at mention trains) and the mix of layer 1's rows its attention takes; the
#      mention's row and the answer row (the prompt's last row) at layers 2 and 3's inputs.
#      Also that head's attention mass on the named object, per question type.
#   2. lookup: at the answer row of the nearest questions of 3+ object scenes, each head of
#      layer 3 (head 1 is what --near-sup trains): the mean attention mass on the answer's
#      object, on the named object, on the other objects, on the background and on text, and
#      how often the answer's object gets more mass than each other object.
#   3. patches: how linearly each object patch (covered at least a quarter) gives its object's
#      colour and shape, from the tower's output (the projector's input), the projector's
#      output and decoder layers 1 and 2's inputs (one row each, not an object's mean).
#   4. with --fetch-probe: can one attention head pick the named object out of layer 1's input
#      rows at all? A head (query and key maps to 32 dims, RoPE as the model's at the true
#      positions) is fitted offline with the named object's colour and shape given as one-hot
#      (a perfect query) to put its mass on that object's patches (-log mass, Adam, 300 steps
#      of 32 mentions, on the even scenes' mentions of position, colour and shape questions,
#      scored on the odd ones' and the other way round): its mass on the object and on other
#      objects of the same shape, and on the object in the half it was fitted on.
#      --probe-theta sets the probe's RoPE base (0: no RoPE; by default the model's),
#      --probe-dim its width (default the model's head size, 32), --probe-steps its steps.
#      With RoPE the probe overfits its ~320 fitting mentions (measured on P4 of session 27,
#      60 scenes: fitted half 0.96-0.97, held-out half 0.70; without RoPE 0.92-0.94 and
#      0.80-0.87; a base of 1e12, where 4 of the 16 frequency pairs still turn fast, 0.94-0.96
#      and 0.71-0.81; width 128 gives 0.67 / 0.77, 1200 steps 0.71 / 0.71). That suggests the
#      fast pairs let it fit where the fitting scenes' objects lie, so its held-out figure
#      with RoPE bounds the probe, not a head trained on many scenes.
# Read-outs are one-vs-rest ridge regressions fitted on the even scenes and scored on the odd
# ones and the other way round (the share of rows whose largest output is their class).
#
#   LD_LIBRARY_PATH=<openblas dir> /usr/bin/python3 tools/shapes_identity_diag.py STATE [SCENES]
#       [--lookup-scenes N] [--patch-scenes N]
#       [--fetch-probe N [--probe-theta T] [--probe-dim D] [--probe-steps K]]
"""Diagnose where a shapes model loses an object's colour and shape."""

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shapes_closer_diag as C  # noqa: E402
import shapes_place_diag as D  # noqa: E402
import synth_shapes as S  # noqa: E402
import train_tiny_llava as T  # noqa: E402

N_ROWS = S.GRID * S.GRID
TYPES = ("color", "shape", "nearest")


class Recorder(D.Recorder):
    """D.Recorder, and layer 1's head outputs and layer 3's attention probabilities."""

    def __init__(self):
        super().__init__()
        self.o1 = self.p3 = None

    def attn_out(self, layer, out):
        if layer == 1:
            self.o1 = out.detach()
        return super().attn_out(layer, out)

    def attn_probs(self, layer, probs):
        if layer == 3:
            self.p3 = probs.detach()
        return super().attn_probs(layer, probs)


def object_rows(scene: S.Scene, label: np.ndarray) -> np.ndarray:
    """[576, n_obj] bool: each object's patches, as --attn-sup counts them
    (T.object_patches)."""
    cov = S.object_patch_fraction(label, len(scene.objects)).reshape(N_ROWS, -1)
    return np.stack([T.object_patches(cov[:, j]) for j in range(len(scene.objects))], 1)


def identity(model, tok: T.Tok, n_scenes: int) -> None:
    """Part 1 (see the header), printed."""
    feats: Dict[str, List[np.ndarray]] = {}
    colour, shape, qtype, fold, mass = [], [], [], [], []
    for i in range(n_scenes):
        sc = S.make_scene("val", i)
        img, label = S.render(sc, with_labels=True)
        sel = torch.from_numpy(object_rows(sc, label))
        rows = T.encode_images(model, T.pixel_values(img)[None])[0]
        for qt in TYPES:
            for q, a in S.questions_of_type(sc, qt, None):
                text = f"{q}\n{S.SUFFIX}"
                named = T.named_objects(sc, text, a)
                off = T.mention_offsets(tok, text, a, "vicuna_v1")
                if len(off) != 1 or not named:
                    continue
                j = named[0]
                rec, k, n = D.prompt_pass(model, tok, rows, text, Recorder())
                m = n - 1 - off[0]  # the mention's last token
                img_rows = {L: (rows if L == 0 else rec.h[L][0, k:k + N_ROWS]) for L in range(4)}
                w = rec.p1[0, 0, m, k:k + N_ROWS]
                got = {f"image rows, layer {L} input": img_rows[L][sel[:, j]].mean(0)
                       for L in range(4)}
                got["layer 1 head 0 output, mention"] = rec.o1[0, 0, m]
                got["layer 1 head 0's mix of rows"] = (
                    w[:, None] * T.rms_normed(img_rows[1])).sum(0)
                for L in (2, 3):
                    got[f"mention row, layer {L} input"] = rec.h[L][0, m]
                    got[f"answer row, layer {L} input"] = rec.h[L][0, n - 1]
                for key, v in got.items():
                    feats.setdefault(key, []).append(v.numpy().astype(np.float64))
                mass.append(float(w[sel[:, j]].sum()))
                o = sc.objects[j]
                colour.append(S.COLORS.index(o.color))
                shape.append(S.SHAPES.index(o.shape))
                qtype.append(qt)
                fold.append(i % 2)
    colour, shape, qtype, fold, mass = map(np.array, (colour, shape, qtype, fold, mass))
    c, s = qtype == "color", qtype == "shape"
    print(f"identity ({n_scenes} val scenes; questions: " +
          ", ".join(f"{t} {int((qtype == t).sum())}" for t in TYPES) + ")")
    print("  layer 1 head 0's mass on the named object at the mention row: " +
          ", ".join(f"{t} {mass[qtype == t].mean():.3f}" for t in TYPES))
    print(f"  {'read from':34s} colour (colour qs)  shape (shape qs)")
    for key, X in feats.items():
        X = np.stack(X)
        print(f"  {key:34s} {C.classify(X[c], colour[c], len(S.COLORS), fold[c]):18.3f}  "
              f"{C.classify(X[s], shape[s], len(S.SHAPES), fold[s]):16.3f}")


def lookup(model, tok: T.Tok, n_scenes: int) -> None:
    """Part 2 (see the header), printed."""
    per_head: Dict[int, List] = {}
    for i in range(n_scenes):
        sc = S.make_scene("val", i)
        if len(sc.objects) < 3:
            continue
        img, label = S.render(sc, with_labels=True)
        sel = object_rows(sc, label)
        rows = T.encode_images(model, T.pixel_values(img)[None])[0]
        for q, _, named, _, _, _, _ in D.nearest_passes(model, tok, sc, rows):
            rec, k, n = D.prompt_pass(model, tok, rows, f"{q}\n{S.SUFFIX}", Recorder())
            probs = rec.p3[0, :, n - 1].numpy()
            for h, p in enumerate(probs):
                on_img = p[k:k + N_ROWS]
                per = on_img @ sel
                others = [per[j] for j in range(len(sc.objects)) if j not in named]
                per_head.setdefault(h, []).append(
                    (per[named[1]], per[named[0]], sum(others), on_img[~sel.any(1)].sum(),
                     1 - on_img.sum(), float(per[named[1]] > max(others))))
    n_q = len(per_head.get(0, []))
    print(f"lookup (layer 3 at the answer row; {n_q} nearest questions of 3+ object scenes "
          f"among {n_scenes} val scenes)")
    print("  head  answer  named  others  background  text  answer-top")
    for h, v in sorted(per_head.items()):
        a = np.mean(v, 0)
        print(f"  {h:4d}  {a[0]:6.3f}  {a[1]:5.3f}  {a[2]:6.3f}  {a[3]:10.3f}  {a[4]:4.3f}  "
              f"{a[5]:10.3f}")


def patches(model, tok: T.Tok, n_scenes: int) -> None:
    """Part 3 (see the header), printed."""
    feats: Dict[str, List[np.ndarray]] = {}
    colour, shape, fold = [], [], []
    for i in range(n_scenes):
        sc = S.make_scene("val", i)
        img, label = S.render(sc, with_labels=True)
        cov = S.object_patch_fraction(label, len(sc.objects)).reshape(N_ROWS, -1)
        tower = T.vision_features(model, T.pixel_values(img)[None])
        rows = model.multi_modal_projector(tower)
        rec, s0 = D.prefix_pass(model, tok, rows[0])
        at = {"tower output": tower[0], "projector output": rows[0]}
        at.update({f"layer {L} input": rec.h[L][0, s0:] for L in (1, 2)})
        for p in np.nonzero(cov.max(1) >= 0.25)[0]:
            o = sc.objects[int(cov[p].argmax())]
            for key, v in at.items():
                feats.setdefault(key, []).append(v[p].numpy().astype(np.float64))
            colour.append(S.COLORS.index(o.color))
            shape.append(S.SHAPES.index(o.shape))
            fold.append(i % 2)
    colour, shape, fold = map(np.array, (colour, shape, fold))
    print(f"patches ({len(colour)} object patches of {n_scenes} val scenes)")
    print(f"  {'read from':18s} colour  shape")
    for key, X in feats.items():
        X = np.stack(X)
        print(f"  {key:18s} {C.classify(X, colour, len(S.COLORS), fold):6.3f}  "
              f"{C.classify(X, shape, len(S.SHAPES), fold):5.3f}")


def rope(x: torch.Tensor, pos: torch.Tensor, theta: Optional[float]) -> torch.Tensor:
    """The training code's RoPE (T.rope) of the rows of x [T, head dim] at positions pos [T],
    or x as it is for theta None."""
    if theta is None:
        return x
    cos, sin = T.rope_tables(pos.reshape(-1), x.shape[-1], theta)
    return T.rope(x.reshape(1, 1, -1, x.shape[-1]), cos, sin).reshape(x.shape)


def fetch_probe_data(model, tok: T.Tok, n_scenes: int) -> list:
    """The mentions part 4 fits its head on: (layer 1's normed image rows, their positions, the
    perfect query, its position, the object's rows, its shape's other objects' rows, fold)."""
    norm = model.language_model.model.layers[1].input_layernorm
    data = []
    for i in range(n_scenes):
        sc = S.make_scene("val", i)
        img, label = S.render(sc, with_labels=True)
        sel = object_rows(sc, label)
        rows = T.encode_images(model, T.pixel_values(img)[None])[0]
        rng = np.random.default_rng(i)
        for qt in ("position", "color", "shape"):
            for q, a in S.questions_of_type(sc, qt, rng)[:3]:
                text = f"{q}\n{S.SUFFIX}"
                named = T.named_objects(sc, text, a)
                offs = T.mention_offsets(tok, text, a, "vicuna_v1")
                if not named or len(offs) != len(named):
                    continue
                rec, k, n = D.prompt_pass(model, tok, rows, text)
                h = norm(rec.h[1][0, k:k + N_ROWS])
                for d, j in zip(offs, named):
                    o = sc.objects[j]
                    oh = torch.zeros(len(S.COLORS) + len(S.SHAPES))
                    oh[S.COLORS.index(o.color)] = oh[len(S.COLORS) + S.SHAPES.index(o.shape)] = 1
                    same = [jj for jj, oo in enumerate(sc.objects)
                            if jj != j and oo.shape == o.shape]
                    data.append((h, torch.arange(k, k + N_ROWS), oh, n - 1 - d,
                                 torch.from_numpy(sel[:, j]),
                                 torch.from_numpy(sel[:, same].any(1)), i % 2))
    return data


def fit_fetch_probe(data: list, hidden: int, theta: Optional[float], dh: int,
                    steps: int = 300) -> list:
    """Fits part 4's head on each fold's other half and scores it on the fold: [(mass on the
    object, mass on other objects of its shape, mass on the object in the half it was fitted on)]
    for the even and the odd scenes. theta None: no RoPE."""
    scores = []
    for fold in (0, 1):
        torch.manual_seed(0)
        wq = torch.nn.Linear(len(S.COLORS) + len(S.SHAPES), dh, bias=False)
        wk = torch.nn.Linear(hidden, dh, bias=False)
        opt = torch.optim.Adam(list(wq.parameters()) + list(wk.parameters()), lr=3e-3)
        train = [x for x in data if x[6] != fold]

        def mass(batch):
            out = []
            for h, pos, oh, qpos, tgt, same, _ in batch:
                q = rope(wq(oh), torch.tensor(qpos), theta)
                p = torch.softmax(rope(wk(h), pos, theta) @ q / dh ** 0.5, 0)
                out.append(torch.stack([p[tgt].sum(), p[same].sum()]))
            return torch.stack(out)

        with torch.enable_grad():
            for step in range(steps):
                pick = np.random.default_rng(step).choice(len(train), 32)
                loss = -torch.log(mass([train[j] for j in pick])[:, 0] + 1e-6).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        m = mass([x for x in data if x[6] == fold]).mean(0)
        scores.append((float(m[0]), float(m[1]), float(mass(train)[:, 0].mean())))
    return scores


def fetch_probe(model, tok: T.Tok, n_scenes: int, theta: Optional[float] = None,
                dim: int = 0, steps: int = 300) -> None:
    """Part 4 (see the header), printed. theta: the probe's RoPE base (None: the model's, 0:
    none); dim: its head width (0: the model's)."""
    cfg = model.language_model.config
    dh = dim or cfg.hidden_size // cfg.num_attention_heads
    data = fetch_probe_data(model, tok, n_scenes)
    print(f"fetch probe ({len(data)} mentions of {n_scenes} val scenes; a head fitted with a "
          f"perfect query, RoPE base {theta if theta is not None else cfg.rope_theta:g} (0: "
          f"none), head width {dh}, {steps} steps)")
    theta = cfg.rope_theta if theta is None else (theta or None)
    for fold, (obj, same, fit) in enumerate(fit_fetch_probe(data, cfg.hidden_size, theta, dh,
                                                            steps)):
        print(f"  scored on the {('even', 'odd')[fold]} scenes: mass on the object "
              f"{obj:.3f}, on other objects of its shape {same:.3f} (on the object in the "
              f"half it was fitted on: {fit:.3f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("state", help="a state dict or a checkpoint directory")
    ap.add_argument("scenes", type=int, nargs="?", default=200,
                    help="val scenes for the identity read-outs")
    ap.add_argument("--lookup-scenes", type=int, default=80,
                    help="val scenes for the lookup (0: skip it)")
    ap.add_argument("--patch-scenes", type=int, default=40,
                    help="val scenes for the per-patch read-outs (0: skip them)")
    ap.add_argument("--fetch-probe", type=int, default=0, metavar="SCENES",
                    help="val scenes for the offline fetch probe (0: skip it)")
    ap.add_argument("--probe-theta", type=float, default=None,
                    help="the fetch probe's RoPE base (0: no RoPE; default: the model's)")
    ap.add_argument("--probe-dim", type=int, default=0,
                    help="the fetch probe's head width (0: the model's)")
    ap.add_argument("--probe-steps", type=int, default=300, help="the fetch probe's fitting steps")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = D.load(args.state)
    tok = T.Tok(T.DEFAULT_TOKENIZER)
    with torch.no_grad():
        identity(model, tok, args.scenes)
        if args.lookup_scenes > 0:
            lookup(model, tok, args.lookup_scenes)
        if args.patch_scenes > 0:
            patches(model, tok, args.patch_scenes)
        if args.fetch_probe > 0:
            fetch_probe(model, tok, args.fetch_probe, args.probe_theta, args.probe_dim,
                        args.probe_steps)


if __name__ == "__main__":
    main()
