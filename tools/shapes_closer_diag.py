#!/usr/bin/env python3
# The two-choice nearest question ("Which is closer to the red circle, the blue square or the
# green star?", synth_shapes "closer", training only) on validation scenes, from a state_dict
# written by tools/train_tiny_llava.py or a checkpoint directory (issue 8):
#
#   1. greedy accuracy on up to 3 closer questions per scene, how often the answer is one of the
#      two named candidates and how often it is the first named (with --yn, the yes/no form
#      "Is the A closer to the B than to the C?", synth_shapes "closer_yn": up to 4 questions per
#      scene, how often the answer is yes);
#   2. at the answer row (the prompt's last row), how linearly each decoder layer's input gives
#      u = B + C - 2A (x and y) and |B - A|^2 - |C - A|^2 (what the former --closer-sup built on:
#      |B - A|^2 - |C - A|^2 = u . (B - C));
#   3. the pick: layer 3 head 1's attention at the answer row on the two candidates' mention rows
#      (their mass together, the mass on the nearer one, and how often the nearer one gets more);
#   4. what those mention rows (the last token of "the blue square") can pass on: how often a
#      linear read-out of each decoder layer's input there names the object's colour and shape,
#      and how well one gives its offset from A (x, y) and its distance to A (correlation).
# Linear read-outs as in tools/shapes_place_diag.py (ridge, two folds of the scenes; for colour
# and shape one-vs-rest, the largest output).
#
#   LD_LIBRARY_PATH=<openblas dir> /usr/bin/python3 tools/shapes_closer_diag.py STATE [SCENES]
#       [--yn]
"""Diagnose the shapes model on the two-choice nearest question (or its yes/no form)."""

import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shapes_place_diag as D  # noqa: E402
import synth_shapes as S  # noqa: E402
import train_tiny_llava as T  # noqa: E402


class Recorder(D.Recorder):
    """shapes_place_diag's, plus layer 3's attention probabilities."""

    def __init__(self):
        super().__init__()
        self.p3 = None

    def attn_probs(self, layer, probs):
        if layer == 3:
            self.p3 = probs.detach()
        return super().attn_probs(layer, probs)


def classify(X: np.ndarray, y: np.ndarray, k: int, fold: np.ndarray) -> float:
    """One-vs-rest D.ridge_two_fold on the k classes: the share of rows whose largest output
    is their class."""
    return float(np.mean(D.ridge_two_fold(X, np.eye(k)[y], fold).argmax(1) == y))


def main():
    yn = "--yn" in sys.argv
    argv = [a for a in sys.argv if a != "--yn"]
    if len(argv) < 2:
        sys.exit(__doc__ + "\nusage: shapes_closer_diag.py STATE|CHECKPOINT_DIR [SCENES] [--yn]")
    torch.set_num_threads(2)
    model = D.load(argv[1])
    n_scenes = int(argv[2]) if len(argv) > 2 else 80
    tok = T.Tok(T.DEFAULT_TOKENIZER)
    n = ok = named = first = 0
    feats = {L: [] for L in range(4)}
    target, fold, pick = [], [], []
    m_feats = {L: [] for L in range(4)}
    m_label, m_fold = [], []
    with torch.no_grad():
        for i in range(n_scenes):
            sc = S.make_scene("val", i)
            qs = S.questions_of_type(sc, "closer_yn" if yn else "closer", None)
            per = 4 if yn else 3
            qs = qs[::max(1, len(qs) // per)][:per]
            if not qs:
                continue
            img = S.render(sc)
            texts = [f"{q}\n{S.SUFFIX}" for q, _ in qs]
            for (q, a), (out, _) in zip(qs, T.answer_questions(model, tok, img, texts)):
                got = S.normalize_answer(out)
                n += 1
                ok += got == S.normalize_answer(a)
                if yn:
                    first += got == "yes"
                    continue
                b, c = q.rstrip("?").split(", the ")[1].split(" or the ")
                named += got in (b, c)
                first += got == b
            rows = model.multi_modal_projector(T.vision_features(
                model, T.pixel_values(img)[None]))[0]
            for text, (q, a) in zip(texts, qs):
                objs = T.named_objects(sc, text, a)
                offs = T.mention_offsets(tok, text, a, "vicuna_v1")
                if len(objs) != 3 or len(offs) != 3:
                    continue
                rec, _, m = D.prompt_pass(model, tok, rows, text, Recorder())
                oa, ob, oc = (sc.objects[j] for j in objs)
                for L in range(4):
                    feats[L].append(rec.h[L][0, m - 1].numpy())
                db = math.hypot(ob.cx - oa.cx, ob.cy - oa.cy)
                dc = math.hypot(oc.cx - oa.cx, oc.cy - oa.cy)
                target.append([ob.cx + oc.cx - 2 * oa.cx, ob.cy + oc.cy - 2 * oa.cy,
                               db ** 2 - dc ** 2])
                fold.append(i % 2)
                p = rec.p3[0, 1, m - 1]
                pb, pc = float(p[m - 1 - offs[1]]), float(p[m - 1 - offs[2]])
                pick.append((pb + pc, pb if db < dc else pc, (pb > pc) == (db < dc)))
                for d, o in zip(offs[1:], (ob, oc)):
                    for L in range(4):
                        m_feats[L].append(rec.h[L][0, m - 1 - d].numpy())
                    m_label.append((S.COLORS.index(o.color), S.SHAPES.index(o.shape),
                                    o.cx - oa.cx, o.cy - oa.cy,
                                    math.hypot(o.cx - oa.cx, o.cy - oa.cy)))
                    m_fold.append(i % 2)
    print(f"{n_scenes} validation scenes")
    if yn:
        print(f"1. closer_yn: accuracy {ok / n:.3f} ({n}); answers yes {first / n:.2f}")
    else:
        print(f"1. closer: accuracy {ok / n:.3f} ({n}); answers one of the two candidates "
              f"{named / n:.2f}, the first named {first / n:.2f}")
    y, f = np.array(target), np.array(fold)
    print(f"2. answer row, corr of a linear read-out ({len(y)} questions): u_x / u_y / "
          f"|B-A|^2 - |C-A|^2")
    for L in range(4):
        X = np.stack(feats[L])
        print(f"   layer {L} input: " + " / ".join(
            f"{D.two_fold(X, y[:, c] - y[:, c].mean(), f)[0]:.2f}" for c in range(3)))
    pk = np.array(pick)
    print(f"3. layer 3 head 1 at the answer row: mass on the two mentions {pk[:, 0].mean():.2f}, "
          f"on the nearer {pk[:, 1].mean():.2f}; the nearer gets more {pk[:, 2].mean():.2f}")
    lab, mf = np.array(m_label), np.array(m_fold)
    print(f"4. the candidates' mention rows ({len(lab)}): colour / shape named by a linear "
          f"read-out (chance about {1 / len(S.COLORS):.2f} / {1 / len(S.SHAPES):.2f}); corr of "
          f"x - x_A / y - y_A / distance to A")
    for L in range(4):
        X = np.stack(m_feats[L])
        cls = (classify(X, lab[:, c].astype(int), k, mf)
               for c, k in ((0, len(S.COLORS)), (1, len(S.SHAPES))))
        reg = (D.two_fold(X, lab[:, c] - lab[:, c].mean(), mf)[0] for c in (2, 3, 4))
        print(f"   layer {L} input: " + " / ".join(f"{v:.2f}" for v in cls) + "; " +
              " / ".join(f"{v:.2f}" for v in reg))


if __name__ == "__main__":
    main()
