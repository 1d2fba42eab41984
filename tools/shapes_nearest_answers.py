#!/usr/bin/env python3
# What a shapes model answers to "Which object is closest to the red circle?" (issue 8), on
# validation scenes, against the generator's ground truth: how often the greedy answer is the
# nearest object, another object of the scene, the named object itself, or a colour and shape
# that no one object of the scene has; how often its colour is the nearest's, next to how often
# a uniformly drawn other object's colour would be; and how often its shape is right when its
# colour is. Then where the nearest object's colour can be read linearly (one-vs-rest ridge
# fitted on the even scenes, scored on the odd ones and the other way round): from the mean of
# the named object's image rows (the projector's output) and from the named object's mention
# row and the answer row at each decoder layer's input.
# Then, teacher-forced (the question, then the true answer's tokens): how often the first answer
# token (the colour) is right; how often, with the true colour given, the shape token is right,
# and how often it is the shape of some object of that colour other than the named one (bound);
# and at the first answer row, the object (other than the named one) on which layer 3's head 1
# (the --near-sup lookup) puts the most mass: how often it is the answer, and how often the
# colour the model says is that object's (does the lookup's pick reach the output?).
#
#   LD_LIBRARY_PATH=<openblas dir> /usr/bin/python3 tools/shapes_nearest_answers.py STATE [SCENES]
#       [--vision-feature-layer -1]    (overrides the state's; states written before
#                                       2026-11-30's session 24 do not store it)
"""Break down a shapes model's answers to the nearest-object questions."""

import argparse
import collections
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shapes_closer_diag as C  # noqa: E402
import shapes_identity_diag as I  # noqa: E402
import shapes_place_diag as D  # noqa: E402
import synth_shapes as S  # noqa: E402
import train_tiny_llava as T  # noqa: E402


class Layer3Probs(D.Recorder):
    """D.Recorder, and layer 3's attention probabilities."""

    def attn_probs(self, layer, probs):
        if layer == 3:
            self.p3 = probs.detach()
        return super().attn_probs(layer, probs)


def teacher_forced(model, tok: T.Tok, sc: S.Scene, rows: torch.Tensor, q: str, a: str,
                   sel: torch.Tensor) -> dict:
    """One nearest question teacher-forced (see the header): colour, shape, bound, top (head
    1's pick is the answer), follows (the said colour is the pick's). rows [576, d]; sel
    [576, n_obj] the objects' patches (I.object_rows)."""
    text = f"{q}\n{S.SUFFIX}"
    named = T.named_objects(sc, text, a)
    ans = tok.enc(a)
    rec, k, n = D.prompt_pass(model, tok, rows, text, Layer3Probs(), ans)
    first = n - len(ans) - 1  # the row that predicts the answer's first token
    pred = D.forced_predictions(model, rec, first, n)
    colour = a.split()[0]
    shapes = {tok.enc(f"x {o.shape}")[-1] for o in sc.objects
              if o.color == colour and o.name != q[len(S.NEAREST_PREFIX):-1]}
    out = {"colour": pred[:-1] == ans[:-1], "shape": pred[-1] == ans[-1],
           "bound": pred[-1] in shapes}
    if len(named) == 2:
        mass = (rec.p3[0, 1, first, k:k + S.GRID * S.GRID, None] * sel).sum(0)
        mass[named[0]] = -1
        top = int(mass.argmax())
        out["top"] = top == named[1]
        out["follows"] = pred[0] == tok.enc(sc.objects[top].color)[0]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("state", help="a state dict or a checkpoint directory")
    ap.add_argument("scenes", type=int, nargs="?", default=100)
    ap.add_argument("--vision-feature-layer", type=int, default=None, choices=(-2, -1))
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = D.load(args.state, args.vision_feature_layer)
    n_scenes = args.scenes
    tok = T.Tok(T.DEFAULT_TOKENIZER)
    kinds: collections.Counter = collections.Counter()
    n = col_ok = shape_ok = 0
    col_uniform = 0.0
    feats = {k: [] for k in ["rows"] + [f"{w} {L}" for w in ("mention", "answer")
                                        for L in range(4)]}
    label, fold = [], []
    forced: collections.defaultdict = collections.defaultdict(list)
    with torch.no_grad():
        for i, sc, qs, img, lab in D.nearest_scenes(n_scenes):
            answers = T.answer_questions(model, tok, img, [f"{q}\n{S.SUFFIX}" for q, _ in qs])
            cov = S.object_patch_fraction(lab, len(sc.objects)).reshape(S.GRID * S.GRID, -1)
            rows = model.multi_modal_projector(T.vision_features(
                model, T.pixel_values(img)[None]))[0]
            for _, _, objs, offs, rec, _, m in D.nearest_passes(model, tok, sc, rows):
                feats["rows"].append(rows[cov[:, objs[0]] >= 0.25].mean(0).numpy())
                for L in range(4):
                    feats[f"mention {L}"].append(rec.h[L][0, m - 1 - offs[0]].numpy())
                    feats[f"answer {L}"].append(rec.h[L][0, m - 1].numpy())
                label.append(S.COLORS.index(sc.objects[objs[1]].color))
                fold.append(i % 2)
            sel = torch.from_numpy(I.object_rows(sc, lab)).float()
            for q, a in qs:
                for key, v in teacher_forced(model, tok, sc, rows, q, a, sel).items():
                    forced[key].append(v)
            names = {o.name for o in sc.objects}
            for (q, a), (out, _) in zip(qs, answers):
                got, want = S.normalize_answer(out), S.normalize_answer(a)
                named = q[len(S.NEAREST_PREFIX):-1]
                n += 1
                if got == want:
                    kinds["the nearest object (right)"] += 1
                elif got == named:
                    kinds["the named object"] += 1
                elif got in names:
                    kinds["another object of the scene"] += 1
                else:
                    kinds["no object of the scene"] += 1
                w, aw = got.split(), want.split()
                others = [o for o in sc.objects if o.name != named]
                col_uniform += sum(o.color == aw[0] for o in others) / len(others)
                if w and w[0] == aw[0]:
                    col_ok += 1
                    shape_ok += w[-1] == aw[-1]
    print(f"{n} nearest questions of {n_scenes} validation scenes; the answer is")
    for k, v in kinds.most_common():
        print(f"  {k}: {v / n:.3f}")
    print(f"colour right {col_ok / n:.3f} (a uniformly drawn other object's: "
          f"{col_uniform / n:.3f}); shape right where the colour is {shape_ok / max(1, col_ok):.3f}")
    print(f"teacher-forced ({len(forced['colour'])} questions): the colour token right "
          f"{np.mean(forced['colour']):.3f}; with the true colour given, the shape token right "
          f"{np.mean(forced['shape']):.3f}, bound {np.mean(forced['bound']):.3f}")
    print(f"layer 3's head 1 at the first answer row ({len(forced['top'])} questions): its pick "
          f"(the most mass, the named object left out) is the answer {np.mean(forced['top']):.3f}; "
          f"the colour said is the pick's {np.mean(forced['follows']):.3f}")
    y, f = np.array(label), np.array(fold)
    print(f"the nearest object's colour read linearly ({len(y)} questions; the most frequent "
          f"{np.bincount(y).max() / len(y):.2f}): " + ", ".join(
              f"{k} {C.classify(np.stack(v), y, len(S.COLORS), f):.2f}" for k, v in feats.items()))


if __name__ == "__main__":
    main()
