#!/usr/bin/env python3
# A short training probe for the shapes model (issue 8): how fast does the decoder learn to read
# the image for a chosen slice of the task? Starts from a state_dict written by
# tools/train_tiny_llava.py (e.g. /tmp/yopo_shapes_after_caption.pt: vision tower pre-trained,
# frozen here), trains projector + LLM for STEPS steps on scenes cut to N objects (0: as generated)
# with only the given question types, then reports greedy accuracy on 30 validation scenes next
# to the majority answer.
#
#   LD_LIBRARY_PATH=<openblas dir> /usr/bin/python3 tools/shapes_probe.py STATE N TYPES TURNS STEPS LR
#   e.g. ... /tmp/yopo_shapes_after_caption.pt 1 color 2 61 1e-3
#
# Measured 2026-11-29 (2 threads, ~2 s/step): 1 object, colour only: loss 4.6 -> 0.27 in 60 steps
# (the image pathway learns fast); 2-6 objects, colour of a named shape: loss stays at ~0.82
# after 80 steps, validation 35% vs majority 27% (selecting the named object among 576 patches is
# what is slow to learn).
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


def main():
    state, nobj, types = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
    turns, steps, lr = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    torch.set_num_threads(2)
    torch.manual_seed(0)
    tok = T.Tok(T.DEFAULT_TOKENIZER)
    m = T.build_model(0)
    m.load_state_dict(torch.load(state))
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
        convs = [T.conversation(tok, t) for t in turn_lists if t]
        loss, _ = T.lm_loss(m, tok, scenes, convs, T.DENSE)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0:
            print(step, round(float(loss), 3), flush=True)
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
