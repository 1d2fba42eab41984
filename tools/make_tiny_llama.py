#!/usr/bin/env python3
# Writes the tiny LLaMA reference fixtures under tests/fixtures/tiny_llama/ with PyTorch and
# Hugging Face transformers: HF checkpoints, GGUF files (tools/gguf_export.py) and reference
# logits / greedy ids computed by transformers' own LlamaForCausalLM.
#
# Requirements (only for regenerating fixtures; never needed to build or test yopo):
#   apt-get install python3-torch        # torch 1.13 (Debian 12)
#   pip install transformers==4.36.2 safetensors gguf numpy sentencepiece
# (exact versions: tools/requirements.txt). On Debian call /usr/bin/python3 explicitly.
#
# Usage: /usr/bin/python3 tools/make_tiny_llama.py [--out tests/fixtures/tiny_llama]
#            [--tokenizer ../shared/assets/tokenizer/stories260K-tok512.model]
# The output is deterministic (fixed seeds, one thread); see tools/README.md.
"""Generate tiny random LlamaForCausalLM fixtures and their reference outputs."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors.numpy import load_file
from transformers import LlamaConfig, LlamaForCausalLM, LlamaTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gguf_export  # noqa: E402  (our module, next to this script)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "tests" / "fixtures" / "tiny_llama"
DEFAULT_TOKENIZER = REPO.parent / "shared" / "assets" / "tokenizer" / "stories260K-tok512.model"

# Shared by all variants. hidden 32 / intermediate 64 (not 64 / 172) keeps the whole fixture set
# well under 2 MB: the 512 x hidden embedding dominates and variant a is stored five times.
COMMON = dict(
    vocab_size=512,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    hidden_act="silu",
    attention_bias=False,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=None,
    torch_dtype="float32",
)

VARIANTS = {
    # GQA (4 query heads per KV head, head_dim 4), separate lm_head, plain RoPE.
    "gqa_untied": dict(
        seed=1001,
        config=dict(num_attention_heads=8, num_key_value_heads=2, tie_word_embeddings=False,
                    rope_scaling=None, rope_theta=10000.0, max_position_embeddings=128,
                    rms_norm_eps=1e-5),
        gguf=("f32", "f16", "q8_0"),
        sharded_copy="gqa_untied_sharded",
    ),
    # MHA (head_dim 8), lm_head tied to the embedding, linear RoPE scaling, large theta.
    "mha_tied_linear": dict(
        seed=1002,
        config=dict(num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=True,
                    rope_scaling={"type": "linear", "factor": 2.0}, rope_theta=500000.0,
                    max_position_embeddings=128, rms_norm_eps=1e-6),
        gguf=("f32",),
        sharded_copy=None,
    ),
    # GQA (head_dim 8), dynamic NTK RoPE with a 16-position window so the prompts exceed it.
    # No GGUF: llama.cpp's GGUF keys have no encoding for dynamic NTK scaling.
    "gqa_dynamic": dict(
        seed=1003,
        config=dict(num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
                    rope_scaling={"type": "dynamic", "factor": 2.0}, rope_theta=10000.0,
                    max_position_embeddings=16, rms_norm_eps=1e-5),
        gguf=(),
        sharded_copy=None,
    ),
}

# Prompts: BOS + the stories260K tokenization of these texts, cut to the given lengths.
PROMPT_TEXTS = [
    ("Once upon a time, there was a little dog.", 5),
    ("Lily and Tom went to the park to play with a big red ball.", 12),
    ("The sun was shining and the birds were singing in the tall green trees near the house.", 20),
]
GREEDY_PROMPT = 0
GREEDY_NEW_TOKENS = 16
DEQUANT_PROMPTS = (2,)  # prompts with logits for the f16 / q8_0 effective weights (size budget)
SHARD_MAX_BYTES = 100_000  # gives 3 shards for gqa_untied

STD_LINEAR = 0.2   # normal std of every projection matrix (HF's default 0.02 gives ~flat logits)
STD_EMBED = 0.5    # normal std of the token embedding (also the output matrix when tied)
STD_LM_HEAD = 0.5  # normal std of an untied lm_head
NORM_SPREAD = 0.25  # RMSNorm weights are 1 + NORM_SPREAD * N(0, 1)


def log(*args):
    print(*args, file=sys.stderr)


def make_config(spec: dict) -> LlamaConfig:
    return LlamaConfig(**COMMON, **spec["config"])


def init_weights(model: LlamaForCausalLM, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():  # a tied lm_head is not listed separately
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name.endswith("norm.weight"):
                p.copy_(1.0 + NORM_SPREAD * noise)
            elif name == "model.embed_tokens.weight":
                p.copy_(STD_EMBED * noise)
            elif name == "lm_head.weight":
                p.copy_(STD_LM_HEAD * noise)
            else:
                p.copy_(STD_LINEAR * noise)


def load_fresh(model_dir: Path, state_dict=None) -> LlamaForCausalLM:
    # A new model for every measurement: HF 4.36's dynamic-NTK rotary module keeps state (the
    # cos/sin cache and inv_freq of the longest sequence seen so far) across forward calls.
    model = LlamaForCausalLM.from_pretrained(str(model_dir), torch_dtype=torch.float32)
    if state_dict is not None:
        missing, unexpected = model.load_state_dict(
            {k: torch.from_numpy(v.copy()) for k, v in state_dict.items()}, strict=False)
        allowed_missing = {"lm_head.weight"} if model.config.tie_word_embeddings else set()
        if set(missing) - allowed_missing or unexpected:
            raise RuntimeError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
        if model.config.tie_word_embeddings:
            model.tie_weights()
    model.eval()
    return model


@torch.no_grad()
def full_logits(model_dir: Path, ids, state_dict=None) -> np.ndarray:
    model = load_fresh(model_dir, state_dict)
    out = model(torch.tensor([ids]), use_cache=False)
    return out.logits[0].float().numpy()


@torch.no_grad()
def cached_logits(model_dir: Path, ids, prefill: int) -> np.ndarray:
    """Prefill ids[:prefill] in one call, then feed the rest one token at a time through HF's
    past_key_values; returns the logits of every position, [T, vocab]."""
    model = load_fresh(model_dir)
    out = model(torch.tensor([ids[:prefill]]), use_cache=True)
    rows = [out.logits[0]]
    past = out.past_key_values
    for t in range(prefill, len(ids)):
        out = model(torch.tensor([[ids[t]]]), past_key_values=past, use_cache=True)
        past = out.past_key_values
        rows.append(out.logits[0])
    return torch.cat(rows, dim=0).float().numpy()


@torch.no_grad()
def greedy(model_dir: Path, ids, state_dict=None) -> dict:
    model = load_fresh(model_dir, state_dict)
    model.generation_config.eos_token_id = None  # always produce GREEDY_NEW_TOKENS tokens
    model.generation_config.pad_token_id = 0
    out = model.generate(torch.tensor([ids]), max_new_tokens=GREEDY_NEW_TOKENS, do_sample=False,
                         output_scores=True, return_dict_in_generate=True)
    seq = out.sequences[0].tolist()
    new = seq[len(ids):]
    margins = []
    for scores in out.scores:
        top2 = torch.topk(scores[0].float(), 2).values
        margins.append(float(top2[0] - top2[1]))
    return {"prompt": GREEDY_PROMPT, "max_new_tokens": GREEDY_NEW_TOKENS, "new_ids": new,
            "all_ids": seq, "min_top1_top2_logit_margin": min(margins)}


def save_npy(path: Path, arr: np.ndarray) -> None:
    np.save(path, np.ascontiguousarray(arr, dtype="<f4"))


def save_hf(model: LlamaForCausalLM, out_dir: Path, tokenizer_path: Path, **kw) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True, **kw)
    tok = LlamaTokenizer(vocab_file=str(tokenizer_path), legacy=True)
    tok.save_pretrained(str(out_dir))  # tokenizer.model (a copy), tokenizer_config.json, ...
    # The shared assets must not be copied into the repository: drop the raw tokenizer.model
    # (the GGUF files carry the vocabulary in their tokenizer.ggml.* metadata).
    (out_dir / "tokenizer.model").unlink(missing_ok=True)


def tokenize_prompts(tokenizer_path: Path):
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=str(tokenizer_path))
    prompts = []
    for text, length in PROMPT_TEXTS:
        ids = [sp.bos_id()] + sp.encode(text)
        if len(ids) < length:
            raise RuntimeError(f"prompt '{text}' tokenizes to only {len(ids)} ids")
        prompts.append({"text_prefix_of": text, "ids": ids[:length]})
    return prompts


def rel(p: Path, base: Path) -> str:
    return os.path.relpath(p, base)


def make_variant(name: str, spec: dict, out_root: Path, tokenizer_path: Path, vocab, prompts):
    out_dir = out_root / name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    config = make_config(spec)
    torch.manual_seed(spec["seed"])
    model = LlamaForCausalLM(config).float().eval()
    init_weights(model, spec["seed"])
    save_hf(model, out_dir, tokenizer_path)
    if spec["sharded_copy"]:
        sh_dir = out_root / spec["sharded_copy"]
        if sh_dir.exists():
            shutil.rmtree(sh_dir)
        save_hf(model, sh_dir, tokenizer_path, max_shard_size=SHARD_MAX_BYTES)
    del model

    # Everything below starts from the files just written.
    state = load_file(str(out_dir / "model.safetensors"))
    hf_config = json.loads((out_dir / "config.json").read_text())

    ref = {
        "variant": name,
        "generated_by": "tools/make_tiny_llama.py",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "numpy": np.__version__},
        "config": {k: hf_config.get(k) for k in (
            "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
            "num_attention_heads", "num_key_value_heads", "max_position_embeddings",
            "rms_norm_eps", "rope_theta", "rope_scaling", "tie_word_embeddings")},
        "hf_dir": ".",
        "gguf": {},
        "prompts": [],
    }
    if spec["sharded_copy"]:
        ref["hf_sharded_dir"] = "../" + spec["sharded_copy"]

    for ftype in spec["gguf"]:
        fname = f"model-{ftype}.gguf"
        types = gguf_export.write_llama_gguf(out_dir / fname, state, hf_config, vocab, ftype=ftype,
                                             name=f"yopo tiny llama {name}")
        ref["gguf"][ftype] = {"file": fname, "tensor_types": types}

    dynamic = (hf_config.get("rope_scaling") or {}).get("type") == "dynamic"
    for i, p in enumerate(prompts):
        ids = p["ids"]
        full = full_logits(out_dir, ids)
        prefill = len(ids) // 2
        cached = cached_logits(out_dir, ids, prefill)
        diff = float(np.max(np.abs(cached - full)))
        entry = {"ids": ids, "length": len(ids), "logits": f"logits_p{i}.npy",
                 "prefill_len": prefill, "cached_vs_full_max_abs_diff": diff,
                 "logits_max_abs": float(np.max(np.abs(full))),
                 "logits_std": float(np.std(full))}
        save_npy(out_dir / entry["logits"], full)
        if dynamic and diff > 1e-5:
            entry["logits_cached"] = f"logits_cached_p{i}.npy"
            save_npy(out_dir / entry["logits_cached"], cached)
        else:
            if diff > 1e-4:
                raise RuntimeError(
                    f"{name} prompt {i}: cached decode differs from the full pass by {diff}")
            entry["logits_cached"] = entry["logits"]
        ref["prompts"].append(entry)

    ref["greedy"] = greedy(out_dir, prompts[GREEDY_PROMPT]["ids"])

    if "f16" in spec["gguf"] or "q8_0" in spec["gguf"]:
        ref["dequantized_reference"] = {}
        base = [np.load(out_dir / e["logits"]) for e in ref["prompts"]]
        for ftype in ("f16", "q8_0"):
            if ftype not in spec["gguf"]:
                continue
            eff = gguf_export.effective_weights(state, hf_config, ftype)
            files, diffs = [], []
            for i in DEQUANT_PROMPTS:
                lg = full_logits(out_dir, prompts[i]["ids"], eff)
                fname = f"logits_{ftype}w_p{i}.npy"
                save_npy(out_dir / fname, lg)
                files.append(fname)
                diffs.append(float(np.max(np.abs(lg - base[i]))))
            ref["dequantized_reference"][ftype] = {
                "gguf": f"model-{ftype}.gguf", "prompts": list(DEQUANT_PROMPTS), "logits": files,
                "max_abs_diff_vs_f32_logits": diffs,
                "greedy": greedy(out_dir, prompts[GREEDY_PROMPT]["ids"], eff),
            }

    if dynamic:
        ref["dynamic_ntk_note"] = (
            "transformers 4.36 recomputes the RoPE base whenever a forward call sees a total "
            "length L (cached + new tokens) larger than any seen before and larger than "
            "max_position_embeddings (M): base' = base * (factor * L / M - (factor - 1)) ** "
            "(d / (d - 2)), d = head_dim; the new tokens of that call are rotated with base', "
            "keys already in the cache keep their old rotation. 'logits' is one call over the "
            "whole prompt (all positions use base'(T) when T > M); 'logits_cached' is prefill of "
            "prefill_len tokens then one token per call. yopo follows the cached semantics, so "
            "its prefill-then-decode must match 'logits_cached' and a single prefill of the whole "
            "prompt must match 'logits'. The greedy ids come from generate(), i.e. the cached "
            "path.")

    (out_dir / "reference.json").write_text(json.dumps(ref, indent=1) + "\n")
    log(f"{name}: done")
    return ref


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER,
                    help="SentencePiece model with 512 pieces (stories260K-tok512.model)")
    args = ap.parse_args(argv)
    if not args.tokenizer.is_file():
        ap.error(f"tokenizer model not found: {args.tokenizer}")

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    vocab = gguf_export.read_sentencepiece_vocab(str(args.tokenizer))
    prompts = tokenize_prompts(args.tokenizer)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, spec in VARIANTS.items():
        make_variant(name, spec, args.out, args.tokenizer, vocab, prompts)

    total = 0
    for p in sorted(args.out.rglob("*")):
        if p.is_file():
            total += p.stat().st_size
            log(f"{p.stat().st_size:9d}  {rel(p, args.out)}")
    log(f"{total:9d}  total")


if __name__ == "__main__":
    main()
