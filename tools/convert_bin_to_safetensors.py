#!/usr/bin/env python3
"""Convert a checkpoint saved as PyTorch .bin files (pytorch_model.bin or sharded
pytorch_model-0000X-of-0000N.bin with pytorch_model.bin.index.json) into safetensors files that
yopo reads: model.safetensors, or model-0000X-of-0000N.safetensors plus
model.safetensors.index.json. Original LLaVA checkpoints (YOPO's released ones among them) and
older CLIP towers often ship only .bin files.

Needs: PyTorch and safetensors (apt-get install python3-torch; pip install safetensors).
Usage: /usr/bin/python3 tools/convert_bin_to_safetensors.py CHECKPOINT_DIR [--out DIR]
The tensors are written as they are stored (dtype unchanged); shared storage is copied so that
each tensor owns its bytes (safetensors does not allow aliasing).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file


def load_bin(path: Path) -> dict:
    state = torch.load(str(path), map_location="cpu")
    if isinstance(state, dict) and "state_dict" in state and len(state) == 1:
        state = state["state_dict"]
    out = {}
    for name, t in state.items():
        if not isinstance(t, torch.Tensor):
            raise SystemExit(f"{path}: entry {name!r} is not a tensor ({type(t).__name__})")
        out[name] = t.detach().contiguous().clone()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--out", type=Path, help="output directory (default: the checkpoint's)")
    args = ap.parse_args()
    src: Path = args.checkpoint
    out: Path = args.out or src
    out.mkdir(parents=True, exist_ok=True)

    index = src / "pytorch_model.bin.index.json"
    if index.exists():
        weight_map = json.loads(index.read_text())["weight_map"]
        shards = sorted(set(weight_map.values()))
        new_map = {}
        for i, shard in enumerate(shards, 1):
            name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
            tensors = load_bin(src / shard)
            save_file(tensors, str(out / name), metadata={"format": "pt"})
            for t in tensors:
                new_map[t] = name
            print(f"{shard} -> {name} ({len(tensors)} tensors)")
        missing = set(weight_map) - set(new_map)
        if missing:
            raise SystemExit(f"tensors listed in the index but absent from the shards: {sorted(missing)[:5]}")
        (out / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {}, "weight_map": new_map}, indent=2))
    elif (src / "pytorch_model.bin").exists():
        tensors = load_bin(src / "pytorch_model.bin")
        save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
        print(f"pytorch_model.bin -> model.safetensors ({len(tensors)} tensors)")
    else:
        raise SystemExit(f"{src}: no pytorch_model.bin or pytorch_model.bin.index.json")

    if out != src:
        for extra in src.iterdir():
            if extra.suffix in (".json", ".model", ".txt") and "pytorch_model" not in extra.name:
                shutil.copy2(extra, out / extra.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
