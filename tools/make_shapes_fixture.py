#!/usr/bin/env python3
# Writes tests/fixtures/yopo_shapes/: reference logits of the SHIPPED shapes models (bf16 weights
# upcast to f32 in PyTorch) for tests/golden/yopo_shapes_test.cpp, in three cases:
#
#   dense        models/yopo-shapes-dense, no pruning: Hugging Face transformers 4.36.2's own
#                LlavaForConditionalGeneration forward (the training code's forward is checked
#                against it too);
#   yopo_mixed   models/yopo-shapes-dense under a hand-written plan (plan_mixed.json) that uses
#                every YOPO technique in YOPO's exact semantics: window, head mask, FFN cut, layer
#                cut; computed by the training code's YopoHooks (tools/train_tiny_llava.py), a
#                PyTorch implementation of ../shared/docs/yopo-method.md independent of yopo's;
#   yopo12       models/yopo-shapes-yopo12 (prune-aware fine-tuned) under its own plan.json,
#                same way (only when that checkpoint exists).
#
# Per case and sample: the logits of the last prompt row and of the next N_STEPS greedy steps
# (full recomputation of the whole sequence every step, no cache), the greedy ids and answer.
# Per sample: the image as uint8 RGB (the test normalizes it with CLIP's mean/std, as the
# training code does) and the vicuna_v1 prompt ids. Per model: the safetensors file size and the
# f32 sums of three tensors, so a stale fixture is reported as such.
#
# Usage: /usr/bin/python3 tools/make_shapes_fixture.py [--out tests/fixtures/yopo_shapes]
# Rerun it whenever a shipped checkpoint changes. Deterministic (one torch thread).
"""Reference logits of the shipped shapes models for yopo's golden test."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors.torch import load_file
from transformers import LlavaForConditionalGeneration

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth_shapes as S  # noqa: E402
import train_tiny_llava as T  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
N_STEPS = 3  # greedy steps after the last prompt row
# top-1 minus top-2 logit at every compared step up to </s>: a near tie would make the greedy
# comparison depend on rounding.
MIN_MARGIN = float(os.environ.get("YOPO_FIXTURE_MIN_MARGIN", "0.05"))
CHECKSUM_TENSORS = ("language_model.lm_head.weight",
                    "language_model.model.layers.3.mlp.down_proj.weight",
                    "vision_tower.vision_model.embeddings.patch_embedding.weight")
N_HEADS, N_LAYERS, FFN = (T.TEXT["num_attention_heads"], T.TEXT["num_hidden_layers"],
                          T.TEXT["intermediate_size"])

# Every technique, in YOPO's exact semantics: layer 0 keeps all heads (window + FFN cut), layers
# 1-2 prune some heads, with two window radii and two FFN widths; layer 3 does no visual work.
MIXED_PLAN = {
    "name": "shapes-mixed", "semantics": "exact",
    "layers": [
        {"visual": True, "heads": "all", "ffn_width": 192, "window_radius": 2},
        {"visual": True, "heads": [0, 2], "ffn_width": 192, "window_radius": 2},
        {"visual": True, "heads": [3], "ffn_width": 96, "window_radius": 1},
        {"visual": False, "ffn_width": 192, "window_radius": 2},
    ]}


def candidate_questions(index: int):
    """Questions about test image `index`, in a fixed order: the first one whose greedy answer
    has clear margins in every case is used."""
    pope, gqa = S.eval_questions(S.make_scene("test", index))
    qs = [q for q, _, _ in gqa] + [q for q, _, _ in pope]
    return [f"{q}\n{S.SUFFIX}" for q in qs]


@torch.no_grad()
def hf_last_logits(model, ids, px):
    out = model(input_ids=torch.tensor([ids]), pixel_values=px,
                attention_mask=torch.ones(1, len(ids), dtype=torch.long))
    return out.logits[0, -1]


@torch.no_grad()
def own_last_logits(model, ids, px, hooks=T.DENSE):
    k = ids.index(T.IMAGE_TOKEN_ID)
    emb, _ = T.assemble(model, ids[:k], T.encode_images(model, px), [ids[k + 1:]])
    n = emb.shape[1]
    if isinstance(hooks, T.YopoHooks):
        hooks.s = k
    h = T.decoder_hidden(model, emb, torch.arange(n), T.causal_bias(n), hooks)
    return model.language_model.lm_head(h[0, -1])


def greedy_rows(fn, ids):
    """Logit rows of the last prompt row and N_STEPS greedy steps (full recomputation)."""
    rows, greedy, cur = [], [], list(ids)
    for _ in range(N_STEPS + 1):
        lg = fn(cur)
        rows.append(lg.numpy().astype(np.float32))
        nxt = int(lg.argmax())
        greedy.append(nxt)
        cur.append(nxt)
    answer = greedy[:greedy.index(T.EOS)] if T.EOS in greedy else greedy
    margins = [float(np.diff(np.sort(r)[-2:])[0]) for r in rows[:len(answer) + 1]]
    return np.stack(rows), greedy, answer, margins


def checksums(model_dir: Path):
    st = load_file(str(model_dir / "model.safetensors"))
    out = {name: float(st[name].double().sum()) for name in CHECKSUM_TENSORS}
    return {"file_bytes": (model_dir / "model.safetensors").stat().st_size, "tensor_sums": out}


def load_model(model_dir: Path):
    # bf16 -> f32 is exact. Loaded straight as float32: with torch_dtype=bfloat16 then .float(),
    # transformers 4.36 builds LLaMA's RoPE cos/sin cache in bf16, and the rounded rotations
    # move the logits by ~1e-3 of their scale (seen here before this was fixed).
    m = LlavaForConditionalGeneration.from_pretrained(model_dir, torch_dtype=torch.float32)
    return m.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dense", type=Path, default=REPO / "models" / "yopo-shapes-dense")
    ap.add_argument("--yopo12", type=Path, default=REPO / "models" / "yopo-shapes-yopo12")
    ap.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures" / "yopo_shapes")
    ap.add_argument("--tokenizer", type=Path, default=T.DEFAULT_TOKENIZER)
    args = ap.parse_args()
    torch.set_num_threads(1)
    assert transformers.__version__ == "4.36.2"
    args.out.mkdir(parents=True, exist_ok=True)
    for f in args.out.glob("*.npy"):
        f.unlink()
    tok = T.Tok(args.tokenizer)
    (args.out / "plan_mixed.json").write_text(json.dumps(MIXED_PLAN, indent=1) + "\n")

    dense = load_model(args.dense)
    models = {"dense": (dense, args.dense)}
    cases = [("dense", "dense", None), ("yopo_mixed", "dense", args.out / "plan_mixed.json")]
    if (args.yopo12 / "model.safetensors").exists():
        models["yopo12"] = (load_model(args.yopo12), args.yopo12)
        cases.append(("yopo12", "yopo12", args.yopo12 / "plan.json"))

    def hooks_of(plan_path):
        if plan_path is None:
            return T.DENSE
        return T.YopoHooks(T.read_plan(plan_path, N_LAYERS, N_HEADS, FFN), N_HEADS, 0)

    # The hooks with a plan that changes nothing compute the dense model.
    ident = T.YopoHooks(T.plan_layers({"layers": [{}] * N_LAYERS}, N_LAYERS, N_HEADS, FFN),
                        N_HEADS, 0)
    per_case = {name: [] for name, _, _ in cases}

    ref = {"generator": "tools/make_shapes_fixture.py",
           "transformers_version": transformers.__version__, "torch_version": torch.__version__,
           "image_token_id": T.IMAGE_TOKEN_ID, "eos_id": T.EOS, "vocab": T.VOCAB,
           "n_steps": N_STEPS, "clip_mean": T.CLIP_MEAN, "clip_std": T.CLIP_STD,
           "models": {k: {"dir": str(p.relative_to(REPO)), **checksums(p)}
                      for k, (_, p) in models.items()},
           "samples": [], "cases": []}
    for i, index in enumerate((0, 1)):
        sc = S.make_scene("test", index)
        img = S.render(sc)
        px = T.pixel_values(img)[None]
        hf_px = T.image_processor()(images=[img], return_tensors="pt")["pixel_values"]
        assert (hf_px - px).abs().max() < 1e-6
        chosen = None
        for question in candidate_questions(index):
            ids = tok.prompt(question)
            results = {}
            for name, mkey, plan in cases:
                model = models[mkey][0]
                if plan is None:
                    fn = lambda cur, m=model: hf_last_logits(m, cur, px)  # noqa: E731
                else:
                    fn = lambda cur, m=model, p=plan: own_last_logits(  # noqa: E731
                        m, cur, px, hooks_of(p))
                results[name] = greedy_rows(fn, ids)
            if min(min(r[3]) for r in results.values()) > MIN_MARGIN:
                chosen = (question, ids, results)
                break
        assert chosen, f"no question about test image {index} has clear greedy margins"
        question, ids, results = chosen
        # Cross-checks of the reference code itself.
        hf = hf_last_logits(dense, ids, px)
        err = float((own_last_logits(dense, ids, px) - hf).abs().max()) / max(1.0, float(hf.abs().max()))
        print(f"sample {i}: training code's forward vs HF: max relative logit difference {err:.2e}")
        # same f32 weights, different operation order (fused scaled scores, bias before the
        # product): the test's tolerance, 1e-3 of the logit scale
        assert err < 1e-5, f"training code's forward differs from HF by {err} (relative)"
        err = float((own_last_logits(dense, ids, px, ident) - own_last_logits(dense, ids, px))
                    .abs().max())
        assert err < 1e-5, f"identity YOPO hooks change the dense logits by {err}"
        for name, mkey, plan in cases[1:]:  # the cached (batched) greedy path agrees
            got = T.answer_questions(models[mkey][0], tok, img, [question], max_new=N_STEPS + 1,
                                     hooks=hooks_of(plan))[0][1]
            assert got == results[name][2], (name, got, results[name][2])
        np.save(args.out / f"sample{i}_image.npy", np.ascontiguousarray(img, dtype=np.uint8),
                allow_pickle=False)
        ref["samples"].append({
            "image": sc.image_name, "split_index": index,
            "image_pixels_sha256": S.pixels_sha256(img),
            "question": question, "prompt": T.prompt_text(question),
            "prompt_ids": ids, "num_prompt_ids": len(ids),
            "image_token_pos": ids.index(T.IMAGE_TOKEN_ID), "decoder_rows": len(ids) - 1 + 576})
        for name, _, _ in cases:
            rows, greedy, answer, margins = results[name]
            np.save(args.out / f"{name}_sample{i}_logits.npy", rows, allow_pickle=False)
            per_case[name].append({"greedy_ids": greedy, "answer_ids": answer,
                                   "answer_text": tok.decode(answer), "margins": margins,
                                   "logits": f"{name}_sample{i}_logits.npy"})
            print(f"sample {i} {name}: {sc.image_name} {question.splitlines()[0]!r} -> "
                  f"{tok.decode(answer)!r} (ids {greedy}, min margin {min(margins):.3f})")
    for name, mkey, plan in cases:
        ref["cases"].append({
            "name": name, "model": mkey,
            "plan": None if plan is None else str(plan.relative_to(REPO)),
            "reference": "HF LlavaForConditionalGeneration" if plan is None else
                         "tools/train_tiny_llava.py YopoHooks (YOPO exact semantics)",
            "samples": per_case[name]})
    (args.out / "reference.json").write_text(json.dumps(ref, indent=1) + "\n")
    total = sum(f.stat().st_size for f in args.out.iterdir())
    print(f"wrote {args.out} ({total} bytes)")


if __name__ == "__main__":
    main()
