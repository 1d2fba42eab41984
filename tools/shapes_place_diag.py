#!/usr/bin/env python3
# Where the shapes model loses an object's place (issue 8: position and nearest questions), on
# validation scenes, from a state_dict written by tools/train_tiny_llava.py (--state-out or the
# /tmp/yopo_shapes_qa_latest.pt it saves every 25 steps) or a checkpoint directory:
#
#   1. greedy accuracy on place ("Which side of the image is the red circle on?"), position and
#      nearest questions (up to 4 of each per scene);
#   2. rows: how linearly the image rows of each object, averaged, give the object's centre x,
#      from the tower's features (L-1), the projector's output (L0) and each decoder layer's input;
#   3. lookup: at the row of each mention's last token ("... the red circle"), the attention mass
#      of decoder layer 1 head 0 on the named object, on the other objects (split into those of
#      its shape, those of its colour and a shape of their own, and the rest), on the background
#      patches and on text (what --attn-sup-at mention supervises); for colour and shape
#      questions too ("What shape is the red object?");
#   4. transport: how linearly the mention rows and the answer row (the prompt's last row) give
#      the named object's x (place questions) or x_A - x_B (position questions), per layer input,
#      and what heads 2 and 3 of layer 2 output at the answer row (what --gather-sup supervises).
# Linear read-outs are ridge regressions fitted on the even scenes and scored on the odd ones
# and the other way round (correlation with the truth, and how often the sign is right).
#
#   LD_LIBRARY_PATH=<openblas dir> /usr/bin/python3 tools/shapes_place_diag.py STATE [SCENES]
"""Diagnose where the shapes model loses an object's place."""

import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth_shapes as S  # noqa: E402
import train_tiny_llava as T  # noqa: E402


class Recorder(T.DecoderHooks):
    """Each decoder layer's residual input, layer 1's attention probabilities and layer 2's
    head outputs."""

    def __init__(self):
        self.h: Dict[int, torch.Tensor] = {}
        self.p1 = self.o2 = None

    def attn_out(self, layer, out):
        if layer == 2:
            self.o2 = out.detach()
        return out

    def resid(self, layer, h):
        self.h[layer] = h.detach()

    def attn_probs(self, layer, probs):
        if layer == 1:
            self.p1 = probs.detach()
        return probs


def prompt_pass(model, tok: T.Tok, rows: torch.Tensor, text: str,
                rec: Optional[Recorder] = None, answer: Sequence[int] = ()
                ) -> Tuple[Recorder, int, int]:
    """One dense decoder pass over the vicuna_v1 prompt of question `text` with the image rows
    `rows` in place of the image token, and then the token ids `answer` (teacher-forced): (its
    Recorder, `rec` or a new one; the first image row's index; the sequence length). The
    Recorder's h[number of layers] is the final norm's input."""
    ids = tok.prompt(text) + list(answer)
    k = ids.index(T.IMAGE_TOKEN_ID)
    e = model.get_input_embeddings()(torch.tensor(ids))
    seq = torch.cat([e[:k], rows, e[k + 1:]])[None]
    rec = rec or Recorder()
    n = seq.shape[1]
    T.decoder_hidden(model, seq, torch.arange(n), T.causal_bias(n), rec)
    return rec, k, n


def prefix_pass(model, tok: T.Tok, rows: torch.Tensor) -> Tuple[Recorder, int]:
    """One dense decoder pass over the vicuna_v1 prompt up to the image, with the image rows
    `rows` [576, d] (the image rows do not see the question): (its Recorder, the first image
    row's index)."""
    before, _ = tok.split_prompt("x")
    pre = torch.cat([model.get_input_embeddings()(torch.tensor(before))[None], rows[None]], 1)
    rec = Recorder()
    T.decoder_hidden(model, pre, torch.arange(pre.shape[1]), T.causal_bias(pre.shape[1]), rec)
    return rec, len(before)


def nearest_scenes(n_scenes: int):
    """The first n_scenes validation scenes that have nearest questions, each as (index,
    scene, [(question, answer)], image, label map)."""
    for i in range(n_scenes):
        sc = S.make_scene("val", i)
        qs = S.questions_of_type(sc, "nearest", None)  # (draws nothing)
        if qs:
            img, lab = S.render(sc, with_labels=True)
            yield i, sc, qs, img, lab


def forced_predictions(model, rec: Recorder, first: int, n: int) -> List[int]:
    """After a teacher-forced prompt_pass of length n whose row `first` predicts the first
    answer token: the greedy prediction of every answer row (first .. n - 2)."""
    lm = model.language_model
    final = rec.h[len(lm.model.layers)][0, first:n - 1]
    return lm.lm_head(lm.model.norm(final)).argmax(-1).tolist()


def nearest_passes(model, tok: T.Tok, scene: S.Scene, rows: torch.Tensor):
    """The nearest questions of `scene` whose named object and answer each fit one object and
    whose mention ends on a token boundary, each with prompt_pass over the image rows `rows`:
    (question, answer, [named object, answer's object], [mention offset], Recorder, first image
    row, sequence length)."""
    for q, a in S.questions_of_type(scene, "nearest", None):
        text = f"{q}\n{S.SUFFIX}"
        named = T.named_objects(scene, text, a)
        off = T.mention_offsets(tok, text, a, "vicuna_v1")
        if len(named) != 2 or len(off) != 1:
            continue
        rec, k, n = prompt_pass(model, tok, rows, text)
        yield q, a, named, off, rec, k, n


def ridge_two_fold(X: np.ndarray, y: np.ndarray, fold: np.ndarray, lam: float = 3.0
                   ) -> np.ndarray:
    """Ridge regression (rows RMS-normalized, plus a bias) of y (a vector, or one column per
    output) fitted on one fold (fold 0 or 1), predicting the other: the predictions."""
    X = np.hstack([X / np.sqrt((X ** 2).mean(1, keepdims=True)), np.ones((len(X), 1))])
    pred = np.zeros(y.shape)
    for f in (0, 1):
        tr, te = fold != f, fold == f
        w = np.linalg.solve(X[tr].T @ X[tr] + lam * np.eye(X.shape[1]), X[tr].T @ y[tr])
        pred[te] = X[te] @ w
    return pred


def two_fold(X: np.ndarray, y: np.ndarray, fold: np.ndarray, lam: float = 3.0) -> Tuple[float, float]:
    """ridge_two_fold's predictions scored: (correlation, share of right signs)."""
    pred = ridge_two_fold(X, y, fold, lam)
    return float(np.corrcoef(pred, y)[0, 1]), float(np.mean((pred > 0) == (y > 0)))


def load(src: str, feature_layer: Optional[int] = None):
    """A checkpoint directory, or a state dict (feature_layer, if given, overrides the
    vision_feature_layer it stores; train_tiny_llava.load_state)."""
    if Path(src).is_dir():
        return T.load_shipped(Path(src))
    return T.load_state(src, feature_layer=feature_layer).eval()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__ + "\nusage: shapes_place_diag.py STATE|CHECKPOINT_DIR [SCENES]")
    torch.set_num_threads(2)
    model = load(sys.argv[1])
    n_scenes = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    tok = T.Tok(T.DEFAULT_TOKENIZER)
    acc: Dict[str, List[int]] = {}
    rows_x: Dict[int, List[np.ndarray]] = {k: [] for k in range(-1, 4)}
    obj_x, obj_fold = [], []
    lookup: Dict[str, List[np.ndarray]] = {}
    carry: Dict[Tuple[str, int, str], Tuple[List, List, List]] = {}
    with torch.no_grad():
        for i in range(n_scenes):
            sc = S.make_scene("val", i)
            img, lab = S.render(sc, with_labels=True)
            cov = S.object_patch_fraction(lab, len(sc.objects)).reshape(S.GRID * S.GRID, -1)
            feats = T.vision_features(model, T.pixel_values(img)[None])
            rows = model.multi_modal_projector(feats)[0]
            rng = np.random.default_rng(i)
            qs = []
            for t in ("place", "position", "nearest", "color", "shape"):
                lst = S.questions_of_type(sc, t, rng)
                qs += [(t,) + lst[int(k)] for k in rng.permutation(len(lst))[:4]]
            answers = T.answer_questions(model, tok, img, [f"{q}\n{S.SUFFIX}" for _, q, _ in qs])
            for (t, q, a), (text, _) in zip(qs, answers):
                ok = S.normalize_answer(text) == S.normalize_answer(a)
                for key in {t, T.subtype(q, t)}:
                    acc.setdefault(key, [0, 0])
                    acc[key][0] += ok
                    acc[key][1] += 1
            for t, q, a in qs:
                q2 = f"{q}\n{S.SUFFIX}"
                named = T.named_objects(sc, q2, a)
                offs = T.mention_offsets(tok, q2, a, "vicuna_v1")
                if not named or not offs:
                    continue
                rec, k, n = prompt_pass(model, tok, rows, q2)
                for d, j in zip(offs, named):
                    p = rec.p1[0, 0, n - 1 - d].numpy()
                    img_p = p[k:k + S.GRID * S.GRID]
                    tgt = cov[:, j] >= 0.25
                    other = np.delete(cov, j, axis=1).max(1, initial=0.0) >= 0.25
                    kin = [[jj for jj, oo in enumerate(sc.objects) if jj != j and test(oo)]
                           for test in (lambda oo: oo.shape == sc.objects[j].shape,
                                        lambda oo: oo.shape != sc.objects[j].shape and
                                        oo.color == sc.objects[j].color)]
                    split = [img_p[cov[:, js].max(1, initial=0.0) >= 0.25].sum() for js in kin]
                    lookup.setdefault(t, []).append(np.array(
                        [img_p[tgt].sum(), img_p[other].sum()] + split +
                        [img_p[other].sum() - sum(split), img_p[~tgt & ~other].sum(),
                         p[:k].sum() + p[k + S.GRID * S.GRID:].sum()]))
                if t in ("nearest", "color", "shape") or (
                        t == "place" and not q.startswith("Which side")):
                    continue
                o = [sc.objects[j] for j in named]
                y = o[0].cx / (S.SIZE / 2) - 1 if t == "place" else (o[0].cx - o[1].cx) / (
                    S.SIZE / 2)
                X, Y, F = carry.setdefault((t, 2, "answer, heads 2-3 output"), ([], [], []))
                X.append(rec.o2[0, 2:4, n - 1].reshape(-1).numpy())
                Y.append(y)
                F.append(i % 2)
                for layer in range(4):
                    for where, r in (("first mention", n - 1 - offs[0]),
                                     ("last mention", n - 1 - offs[-1]), ("answer", n - 1)):
                        X, Y, F = carry.setdefault((t, layer, where), ([], [], []))
                        X.append(rec.h[layer][0, r].numpy())
                        Y.append(y)
                        F.append(i % 2)
            # the object rows, averaged (prefix only: image rows do not see the question)
            rec, s0 = prefix_pass(model, tok, rows)
            for j, o in enumerate(sc.objects):
                m = torch.from_numpy(cov[:, j] >= 0.25)
                if not m.any():
                    continue
                rows_x[-1].append(feats[0][m].mean(0).numpy())
                for layer in range(4):
                    rows_x[layer].append(rec.h[layer][0, s0:][m].mean(0).numpy())
                obj_x.append(o.cx / (S.SIZE / 2) - 1)
                obj_fold.append(i % 2)
    print(f"{n_scenes} validation scenes")
    print("1. accuracy: " + " ".join(f"{k}={v[0] / v[1]:.2f} ({v[1]})"
                                     for k, v in sorted(acc.items())))
    y, f = np.array(obj_x), np.array(obj_fold)
    print("2. object rows' x (corr, sign): " + " | ".join(
        f"L{k} {two_fold(np.stack(v), y, f)[0]:.2f} {two_fold(np.stack(v), y, f)[1]:.2f}"
        for k, v in rows_x.items()) + f" ({len(y)} objects)")
    print("3. layer 1 head 0 at mention rows, mean mass on target / other objects (of its shape"
          " / of its colour / the rest) / background / text:")
    for t, v in sorted(lookup.items()):
        x = np.stack(v).mean(0)
        print(f"   {t}: {x[0]:.2f} / {x[1]:.2f} ({x[2]:.2f} / {x[3]:.2f} / {x[4]:.2f}) / "
              f"{x[5]:.2f} / {x[6]:.2f} ({len(v)})")
    print("4. x (place) or x_A - x_B (position) from the rows at each layer input (corr, sign):")
    for (t, layer, where), (X, Y, F) in sorted(carry.items()):
        c, s = two_fold(np.stack(X), np.array(Y), np.array(F))
        print(f"   {t} L{layer} {where}: {c:.2f} {s:.2f} ({len(Y)})")


if __name__ == "__main__":
    main()
