#!/usr/bin/env python3
# Does a perfect lookup reach the answer? (issue 8, nearest). Teacher-forced on the nearest
# questions of validation scenes (the question, then the true answer's tokens), the colour
# token (the first answer token) and the shape token (the last, with the true colour given) are
# scored as the model is, and with one intervention at the answer rows at a time: a layer's
# head(s) given the perfect lookup (its attention probabilities replaced by an even spread over
# the answer's object's patches, "oracle"), and/or its output scaled ("xK"). If the oracle at
# layer 3's head 1 (the --near-sup lookup) does not change the colour said, what that head
# fetches does not reach the output, however well it picks.
#
#   LD_LIBRARY_PATH=<openblas dir> /usr/bin/python3 tools/shapes_nearest_oracle.py STATE [SCENES]
"""Teacher-forced nearest answers with a perfect lookup forced into chosen heads."""

import collections
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shapes_identity_diag as I  # noqa: E402
import shapes_place_diag as D  # noqa: E402
import synth_shapes as S  # noqa: E402
import train_tiny_llava as T  # noqa: E402

N_ROWS = S.GRID * S.GRID
# (name, layer, heads, oracle, output scale)
CONFIGS = [("as trained", None, [], False, 1), ("L3 h1 x2", 3, [1], False, 2),
           ("L3 h1 x4", 3, [1], False, 4), ("L3 h1 oracle", 3, [1], True, 1),
           ("L3 h1 oracle x2", 3, [1], True, 2), ("L3 h1 oracle x4", 3, [1], True, 4),
           ("L3 all heads oracle", 3, [0, 1, 2, 3], True, 1), ("L2 h1 oracle", 2, [1], True, 1),
           ("L2 all heads oracle", 2, [0, 1, 2, 3], True, 1)]


class Intervene(D.Recorder):
    """D.Recorder (residuals kept), and at rows [lo, hi) of `layer`: `heads`' probabilities over
    the image rows (from key k) replaced by `target` (if given), their outputs times `scale`."""

    def __init__(self, layer, heads, target, lo, hi, scale, k):
        super().__init__()
        self.layer, self.heads, self.target = layer, heads, target
        self.lo, self.hi, self.scale, self.k = lo, hi, scale, k

    def attn_probs(self, layer, probs):
        if layer == self.layer and self.target is not None:
            probs = probs.clone()
            for h in self.heads:
                probs[0, h, self.lo:self.hi] = 0
                probs[0, h, self.lo:self.hi, self.k:self.k + N_ROWS] = self.target
        return probs

    def attn_out(self, layer, out):
        if layer == self.layer and self.scale != 1:
            out = out.clone()
            for h in self.heads:
                out[0, h, self.lo:self.hi] *= self.scale
        return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__ + "\nusage: shapes_nearest_oracle.py STATE|CHECKPOINT_DIR [SCENES]")
    torch.set_num_threads(2)
    model = D.load(sys.argv[1])
    n_scenes = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    tok = T.Tok(T.DEFAULT_TOKENIZER)
    res: collections.Counter = collections.Counter()
    n = 0
    with torch.no_grad():
        for _, sc, qs, img, lab in D.nearest_scenes(n_scenes):
            sel = torch.from_numpy(I.object_rows(sc, lab)).float()
            rows = model.multi_modal_projector(T.vision_features(
                model, T.pixel_values(img)[None]))[0]
            for q, a in qs:
                text = f"{q}\n{S.SUFFIX}"
                named = T.named_objects(sc, text, a)
                if len(named) != 2:
                    continue
                target = sel[:, named[1]] / sel[:, named[1]].sum()
                ans = tok.enc(a)
                ids = tok.prompt(text) + ans
                k = ids.index(T.IMAGE_TOKEN_ID)
                length = len(ids) - 1 + N_ROWS
                first = length - len(ans) - 1  # the row that predicts the first answer token
                n += 1
                for name, layer, heads, oracle, scale in CONFIGS:
                    hooks = Intervene(layer, heads, target if oracle else None, first, length,
                                      scale, k)
                    rec, _, _ = D.prompt_pass(model, tok, rows, text, hooks, ans)
                    pred = D.forced_predictions(model, rec, first, length)
                    res[name, "colour"] += pred[:-1] == ans[:-1]
                    res[name, "shape"] += pred[-1] == ans[-1]
    print(f"{n} nearest questions of {n_scenes} validation scenes, teacher-forced")
    for name, *_ in CONFIGS:
        print(f"  {name:20s} colour right {res[name, 'colour'] / n:.3f}, with the true colour "
              f"the shape right {res[name, 'shape'] / n:.3f}")


if __name__ == "__main__":
    main()
