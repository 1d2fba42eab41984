#!/usr/bin/env python3
# A short training probe for the shapes model (issue 8): how fast does the decoder learn to read
# the image for a chosen slice of the task? Starts from a state_dict written by
# tools/train_tiny_llava.py (e.g. /tmp/yopo_shapes_after_caption.pt: vision tower pre-trained,
# frozen here), trains projector + LLM for STEPS steps on scenes cut to N objects (0: as generated)
# with only the given question types, then reports greedy accuracy on 30 validation scenes next
# to the majority answer.
#
#   LD_LIBRARY_PATH=<openblas dir> /usr/bin/python3 tools/shapes_probe.py STATE N TYPES TURNS STEPS LR [SUP]
#   e.g. ... /tmp/yopo_shapes_after_caption.pt 1 color 2 61 1e-3
# SUP > 0 adds a training-only attention supervision for colour questions: -SUP * log of the
# attention mass that head 0 of decoder layer 1 puts, from the row that predicts the answer, on
# the patches of the object(s) the question names.
#
# Measured 2026-11-29 (2 threads, ~2 s/step): 1 object, colour only: loss 4.6 -> 0.27 in 60 steps
# (the image pathway learns fast); 2-6 objects, colour of a named shape: loss stays at ~0.82
# after 80 steps, validation 35% vs majority 27% (selecting the named object among 576 patches is
# what is slow to learn). 2-6 objects, "what shape is the <colour> object": 80 steps, validation
# 30% = majority. With SUP 1 (lr 1e-3) the attention mass on the named object rose from ~2% to
# ~18% in 80 steps but the answers stayed at the majority (27%); SUP 2 with lr 3e-3 did worse.
# From the text-pretrained model (stage text 1500 steps, caption 100, stage 2 ~500 steps), 1
# object, "what shape is the <colour> object", 60 steps: loss 0.71 -> ~0.65, validation 17% vs
# majority 37%: even with nothing to select, the decoder does not read the shape from the
# object's rows diluted among 576 (a linear probe of their mean names it 67% of the time).
"""Probe how fast the shapes model learns to read the image for one slice of the task."""

import collections
import dataclasses
import random
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth_shapes as S  # noqa: E402
import train_tiny_llava as T  # noqa: E402


class CaptureProbs(T.DecoderHooks):
    """Keeps the attention probabilities [B, H, T, K] of one decoder layer."""

    def __init__(self, layer: int):
        self.layer, self.p = layer, None

    def attn_probs(self, layer, probs):
        if layer == self.layer:
            self.p = probs
        return probs


def named_object_mask(sc, pl, question):
    """Patches of the objects a colour question names ("What color is the [size] <shape>?")."""
    mask = np.zeros(S.GRID * S.GRID, bool)
    for o in sc.objects:
        if question.startswith(f"What color is the {o.shape}?") or question.startswith(
                f"What color is the {o.size} {o.shape}?"):
            mask |= ((pl["color"] == S.COLORS.index(o.color) + 1) &
                     (pl["shape"] == S.SHAPES.index(o.shape) + 1))
    return mask


def supervision_loss(p, scenes, turn_lists, convs):
    s0 = len(convs[0][0])
    off, terms = s0 + S.GRID * S.GRID, []
    for b, (sc, tl, (_, _, labels, _)) in enumerate(zip(scenes, turn_lists, convs)):
        img, lab = S.render(sc, with_labels=True)
        pl = S.patch_labels(sc, lab)
        starts = [j for j in range(len(labels))
                  if labels[j] != T.IGNORE and (j == 0 or labels[j - 1] == T.IGNORE)]
        for (q, _), j in zip(tl, starts):
            mask = named_object_mask(sc, pl, q)
            if mask.any():
                mass = p[b, 0, off + j - 1, s0:off][torch.from_numpy(mask)].sum()
                terms.append(-torch.log(mass + 1e-6))
    return torch.stack(terms).mean() if terms else None


def main():
    state, nobj, types = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
    turns, steps, lr = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    sup = float(sys.argv[7]) if len(sys.argv) > 7 else 0.0
    torch.set_num_threads(2)
    torch.manual_seed(0)
    tok = T.Tok(T.DEFAULT_TOKENIZER)
    m = T.load_state(state, seed=0)
    m.train()
    opt = torch.optim.AdamW(T.set_trainable(m, ["multi_modal_projector.", "language_model."]),
                            lr=lr)
    weights = {t: (1.0 if t in types else 0.0) for t in T.QTYPE_WEIGHTS}
    rng, idx = random.Random(0), 10**6

    def cut(sc):
        return dataclasses.replace(sc, objects=sc.objects[:nobj]) if nobj else sc

    for step in range(steps):
        scenes = [cut(S.make_scene("train", idx + b)) for b in range(8)]
        idx += 8
        turn_lists = [T.sample_turns(sc, rng, turns, weights) for sc in scenes]
        scenes = [sc for sc, t in zip(scenes, turn_lists) if t]
        turn_lists = [t for t in turn_lists if t]
        convs = [T.conversation(tok, t) for t in turn_lists]
        hooks = CaptureProbs(1) if sup > 0 else T.DENSE
        loss, _ = T.lm_loss(m, tok, scenes, convs, hooks)
        lm = float(loss)
        if sup > 0:
            extra = supervision_loss(hooks.p, scenes, turn_lists, convs)
            if extra is not None:
                loss = loss + sup * extra
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0:
            print(step, "answer loss", round(lm, 3), "total", round(float(loss), 3), flush=True)
    m.eval()
    res = collections.defaultdict(list)
    with torch.no_grad():
        for i in range(30):
            sc = cut(S.make_scene("val", i))
            qs = S.all_questions(sc, np.random.default_rng(i))
            items = [(t, q, a) for t in types for q, a in qs.get(t, [])[:2]]
            if not items:
                continue
            outs = T.answer_questions(m, tok, S.render(sc), [f"{q}\n{S.SUFFIX}" for _, q, _ in items])
            for (t, _, a), (o, _) in zip(items, outs):
                res[t].append((S.normalize_answer(o) == S.normalize_answer(a), a))
    for t, v in res.items():
        top = collections.Counter(x[1] for x in v).most_common(1)[0][1]
        print(f"{t}: validation accuracy {np.mean([x[0] for x in v]):.2f} over {len(v)}, "
              f"majority answer {top / len(v):.2f}")


if __name__ == "__main__":
    main()
