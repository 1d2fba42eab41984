#!/usr/bin/env python3
# How well could one attention head of the shapes model find the object nearest to a named one
# (issue 8: "Which object is closest to the red circle?"), given the features a state has? On
# validation scenes (from 2000 on, which tools/shapes_place_diag.py and the evaluation do not
# use), for each nearest question this records, at the input of decoder layer LAYER (RMS-normed,
# as the layer reads it), the answer row (the prompt's last row), the row of the mention's last
# token and the image rows; then fits a bilinear score (q W_q) . (k W_k) of rank RANK offline,
# trained so that its softmax over the 576 image rows puts its mass on the answer's patches (those
# it covers at least a quarter of), on three quarters of the scenes, and scores the rest:
#
#   - the mass on the answer's object (and on the named object itself), and how often it is > 0.5;
#   - for reference, the mass a head would give the answer when it spreads evenly over the
#     patches of every object but the named one (it knows which object not to pick, not where);
#   - the same fit with the named object's true centre added to the query and the patches' true
#     x, y and x^2 + y^2 added to the keys: what a better-placed query and keys would allow;
#     and the fits with the named object's patches masked out (the exclusion given);
#   - the fit whose query is the named object's mean image row (what a perfect fetch of the
#     named object would bring to the answer row), which has to learn the exclusion itself;
#   - the fits with the named object's colour x shape (one-hot, 24) added to the query and each
#     patch's object's colour x shape (one-hot, none for the background) added to the keys:
#     whether an identity that a bilinear score can compare is what the exclusion needs.
#
#   LD_LIBRARY_PATH=<openblas dir> /usr/bin/python3 tools/shapes_nearest_probe.py STATE \
#       [SCENES [LAYER [RANK]]]
"""Fit one attention head offline to find the nearest object; report what it reaches."""

import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shapes_place_diag as D  # noqa: E402
import synth_shapes as S  # noqa: E402
import train_tiny_llava as T  # noqa: E402

FIRST_SCENE = 2000


def collect(model, tok: T.Tok, n_scenes: int, layer: int) -> Dict[str, torch.Tensor]:
    """Per nearest question: answer-row and mention-row features, its scene's index into the
    image-row features, the answer's and the named object's patch masks, the named object's
    centre (x, y in [-1, 1]), its colour x shape (identity) and the even spread's mass on the
    answer; per scene, the image rows and each patch's object's colour x shape ("ids")."""
    out: Dict[str, List] = {k: [] for k in ("q", "m", "scene", "ans", "named", "centre", "even",
                                            "named_id")}
    ids_of: List[torch.Tensor] = []
    rows_of: List[torch.Tensor] = []
    with torch.no_grad():
        for i in range(FIRST_SCENE, FIRST_SCENE + n_scenes):
            sc = S.make_scene("val", i)
            img, lab = S.render(sc, with_labels=True)
            # the patches each object covers at least a quarter of
            obj = S.object_patch_fraction(lab, len(sc.objects)).reshape(S.GRID * S.GRID,
                                                                        -1) >= 0.25
            img_rows = model.multi_modal_projector(
                T.vision_features(model, T.pixel_values(img)[None]))[0]
            kept = False
            for _, _, named, off, rec, k, n in D.nearest_passes(model, tok, sc, img_rows):
                h = T.rms_normed(rec.h[layer][0])
                if not kept:
                    rows_of.append(h[k:k + S.GRID * S.GRID])
                    ids_of.append(torch.from_numpy(obj.astype(np.float32)) @ torch.stack(
                        [identity(o) for o in sc.objects]))
                    kept = True
                out["q"].append(h[n - 1])
                out["m"].append(h[n - 1 - off[0]])
                out["scene"].append(len(rows_of) - 1)
                out["ans"].append(torch.from_numpy(obj[:, named[1]].astype(np.float32)))
                out["named"].append(torch.from_numpy(obj[:, named[0]].astype(np.float32)))
                # an even spread over the patches of every object but the named one
                others = np.delete(obj, named[0], axis=1).any(1)
                out["even"].append(float(obj[:, named[1]].sum()) / max(1, others.sum()))
                o = sc.objects[named[0]]
                out["centre"].append(T.image_coord([o.cx, o.cy]))
                out["named_id"].append(identity(o))
    res = {k: torch.tensor(v) if k in ("scene", "even") else torch.stack(v)
           for k, v in out.items()}
    res["rows"] = torch.stack(rows_of)
    res["ids"] = torch.stack(ids_of)
    return res


def identity(o: S.Obj) -> torch.Tensor:
    """An object's colour x shape (T.combo_index) as a one-hot vector."""
    return torch.nn.functional.one_hot(torch.tensor(T.combo_index(o)), T.N_COMBOS).float()


def fit(q: torch.Tensor, keys: torch.Tensor, d: Dict[str, torch.Tensor], train: torch.Tensor,
        rank: int, exclude: bool = False, steps: int = 400) -> Dict[str, float]:
    """The bilinear head fitted on `train`, scored on the rest; `exclude`: the named object's
    patches masked out of the softmax (the exclusion given, not learned)."""
    torch.manual_seed(0)
    wq, wk = torch.nn.Linear(q.shape[1], rank), torch.nn.Linear(keys.shape[-1], rank)
    opt = torch.optim.AdamW(list(wq.parameters()) + list(wk.parameters()), lr=1e-2,
                            weight_decay=1e-3)

    def probs(sel: torch.Tensor) -> torch.Tensor:
        s = (wq(q[sel])[:, None, :] * wk(keys[d["scene"][sel]])).sum(-1)
        return (s - 1e4 * d["named"][sel] if exclude else s).softmax(-1)

    idx = train.nonzero()[:, 0]
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        sel = idx[torch.randint(len(idx), (128,), generator=gen)]
        loss = -torch.log((probs(sel) * d["ans"][sel]).sum(-1) + 1e-6).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        test = ~train
        p = probs(test)
        mass = (p * d["ans"][test]).sum(-1)
        return {"mass": float(mass.mean()), "over_half": float((mass > 0.5).float().mean()),
                "named": float((p * d["named"][test]).sum(-1).mean()),
                "train_mass": float((probs(train) * d["ans"][train]).sum(-1).mean())}


def main():
    state = sys.argv[1]
    n_scenes = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    layer = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    rank = int(sys.argv[4]) if len(sys.argv) > 4 else 8
    torch.set_num_threads(2)
    model = D.load(state)
    d = collect(model, T.Tok(T.DEFAULT_TOKENIZER), n_scenes, layer)
    train = d["scene"] % 4 != 0
    print(f"{len(d['q'])} nearest questions on {len(d['rows'])} scenes; fitted on "
          f"{int(train.sum())}, scored on {int((~train).sum())}; layer {layer} input, rank {rank}")
    print(f"even spread over the other objects' patches: mass on the answer "
          f"{float(d['even'][~train].mean()):.3f}")
    cell_r, cell_c = T.patch_cells()
    x = T.image_coord((cell_c.float() + 0.5) * S.PATCH)
    y = T.image_coord((cell_r.float() + 0.5) * S.PATCH)
    true_k = torch.stack([x, y, x * x + y * y], -1)[None].expand(len(d["rows"]), -1, -1)
    q_true, k_true = torch.cat([d["q"], d["centre"]], -1), torch.cat([d["rows"], true_k], -1)
    named_w = d["named"] / d["named"].sum(-1, keepdim=True).clamp(min=1)
    q_fetch = torch.einsum("qp,qpd->qd", named_w, d["rows"][d["scene"]])
    for name, q, keys, excl in (
            ("answer row / image rows", d["q"], d["rows"], False),
            ("mention row / image rows", d["m"], d["rows"], False),
            ("answer row / image rows, the named object masked out", d["q"], d["rows"], True),
            ("answer row + true centre / image rows + true x, y, x^2+y^2", q_true, k_true, False),
            ("the same, the named object masked out", q_true, k_true, True),
            ("the named object's mean row / image rows", q_fetch, d["rows"], False),
            ("answer row + the named object's colour x shape / image rows + theirs",
             torch.cat([d["q"], d["named_id"]], -1), torch.cat([d["rows"], d["ids"]], -1),
             False),
            ("the same + true centre / + true x, y, x^2+y^2",
             torch.cat([q_true, d["named_id"]], -1), torch.cat([k_true, d["ids"]], -1),
             False)):
        r = fit(q, keys, d, train, rank, excl)
        print(f"{name}: mass on the answer {r['mass']:.3f} (fitted {r['train_mass']:.3f}), "
              f"> 0.5 in {r['over_half']:.3f}, on the named object {r['named']:.3f}", flush=True)


if __name__ == "__main__":
    main()
