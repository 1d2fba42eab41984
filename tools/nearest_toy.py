#!/usr/bin/env python3
# How hard is "Which object is closest to the A?" for a small LLaMA by itself, with no image and
# no tokenizer in the way (issue 8's nearest questions; tools/train_tiny_llava.py's header,
# session 24)? Each sample is one train-split scene of tools/synth_shapes.py written as tokens:
# per object its colour, shape, patch column and patch row (one token each: the cells
# determine the answer exactly), then a query token and the named object's colour and shape; the
# target is the nearest other object's colour and shape (objects whose nearest is clear, as the
# generator asks: synth_shapes.clear_nearest; one per scene). A LlamaForCausalLM of the shapes
# decoder's geometry (4 heads, FFN 3x hidden) learns from fresh scenes, batch 64, AdamW at a
# constant LR after 100 warm-up steps; every EVERY steps both answer tokens must be right on one
# question of each of the first 600 val scenes that has one ("chance": naming a uniformly drawn
# other object).
#
#   LD_LIBRARY_PATH=<openblas dir> /usr/bin/python3 tools/nearest_toy.py HIDDEN LAYERS STEPS \
#       [LR (1e-3)] [EVERY (250)]
"""A token-level nearest-object task for small LLaMA decoders."""

import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth_shapes as S  # noqa: E402

BOS, QUERY = 0, 1
COLOR0 = 2
SHAPE0 = COLOR0 + len(S.COLORS)
X0 = SHAPE0 + len(S.SHAPES)
Y0 = X0 + S.GRID
VOCAB = Y0 + S.GRID
BATCH = 64


def sample(split: str, index: int):
    """(tokens with the answer, where the answer starts, object count) or None (no question)."""
    objs = S.make_scene(split, index).objects
    items = [(j, S.clear_nearest(objs, j)) for j in range(len(objs))]
    items = [(j, k) for j, k in items if k is not None]
    if not items:
        return None
    j, k = random.Random(index).choice(items)
    toks = [BOS]
    for o in objs:
        toks += [COLOR0 + S.COLORS.index(o.color), SHAPE0 + S.SHAPES.index(o.shape),
                 X0 + int(o.cx // S.PATCH), Y0 + int(o.cy // S.PATCH)]
    a, b = objs[j], objs[k]
    toks += [QUERY, COLOR0 + S.COLORS.index(a.color), SHAPE0 + S.SHAPES.index(a.shape)]
    answer = [COLOR0 + S.COLORS.index(b.color), SHAPE0 + S.SHAPES.index(b.shape)]
    return toks + answer, len(toks), len(objs)


def batch(samples):
    """Token ids (right-padded) and labels (-100 but on the answers)."""
    n = max(len(s[0]) for s in samples)
    ids = torch.zeros(len(samples), n, dtype=torch.long)
    lab = torch.full((len(samples), n), -100)
    for b, (t, q, _) in enumerate(samples):
        ids[b, :len(t)] = torch.tensor(t)
        lab[b, q:len(t)] = torch.tensor(t[q:])
    return ids, lab


def accuracy(model, val) -> float:
    """Share of questions whose two answer tokens are both the argmax."""
    model.eval()
    with torch.no_grad():
        ids, lab = batch(val)
        pred, tgt = model(ids).logits[:, :-1].argmax(-1), lab[:, 1:]
    model.train()
    return float(np.mean([bool((pred[b][tgt[b] != -100] == tgt[b][tgt[b] != -100]).all())
                          for b in range(len(val))]))


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__ + "\nusage: nearest_toy.py HIDDEN LAYERS STEPS [LR] [EVERY]")
    hidden, layers, steps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    lr = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-3
    every = int(sys.argv[5]) if len(sys.argv) > 5 else 250
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=VOCAB, hidden_size=hidden, intermediate_size=3 * hidden,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
        max_position_embeddings=64))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    val = [x for x in (sample("val", i) for i in range(600)) if x]
    chance = np.mean([1 / (n - 1) for _, _, n in val])
    print(f"hidden {hidden} layers {layers} val {len(val)} chance {chance:.3f}", flush=True)
    index, t0 = 5_000_000, time.time()
    for step in range(steps):
        samples = []
        while len(samples) < BATCH:
            x = sample("train", index)
            index += 1
            if x:
                samples.append(x)
        ids, lab = batch(samples)
        for g in opt.param_groups:
            g["lr"] = lr * min(1, (step + 1) / 100)
        loss = model(ids, labels=lab).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % every == every - 1:
            print(f"{step + 1} t={time.time() - t0:.0f} loss={loss.item():.3f} "
                  f"val={accuracy(model, val):.3f}", flush=True)


if __name__ == "__main__":
    main()
