#!/usr/bin/env python3
# Write a LLaMA-architecture GGUF file from a Hugging Face LlamaForCausalLM state dict.
#
# Requirements (only for regenerating fixtures; never needed to build or test yopo):
#   apt-get install python3-torch        # torch 1.13 (Debian 12); only make_tiny_llama.py needs it
#   pip install transformers==4.36.2 safetensors gguf numpy sentencepiece
# (see tools/requirements.txt for the exact versions used).
#
# This is our own converter. It follows the conventions of llama.cpp's convert_hf_to_gguf.py for
# the "llama" architecture (key names, tensor names, the Q/K row permutation that turns HF's
# split-half RoPE layout into GGUF's interleaved-pair layout, F32 norms in F16 files) and of
# ggml's reference Q8_0 quantizer. The `gguf` package is used only for the container (GGUFWriter).
"""HF LLaMA state dict -> GGUF (f32, f16 or q8_0), plus helpers to model what a reader sees."""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Mapping, Optional

import numpy as np

import gguf

FTYPES = ("f32", "f16", "q8_0")

# general.file_type values (llama.cpp's LlamaFileType): ALL_F32, MOSTLY_F16, MOSTLY_Q8_0.
_FILE_TYPE = {"f32": 0, "f16": 1, "q8_0": 7}

# ggml's GGML_QNT_VERSION, written as general.quantization_version by llama.cpp's tools.
QUANTIZATION_VERSION = 2

Q8_0_BLOCK = 32  # values per Q8_0 block
Q8_0_BLOCK_BYTES = 2 + Q8_0_BLOCK  # f16 scale + 32 int8

_PER_LAYER = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_GLOBAL = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}


def gguf_tensor_name(hf_name: str) -> str:
    """Maps an HF LlamaForCausalLM parameter name to its GGUF (llama.cpp) tensor name."""
    if hf_name in _GLOBAL:
        return _GLOBAL[hf_name]
    parts = hf_name.split(".")
    if len(parts) > 3 and parts[0] == "model" and parts[1] == "layers" and parts[2].isdigit():
        rest = ".".join(parts[3:])
        if rest in _PER_LAYER:
            return f"blk.{int(parts[2])}.{_PER_LAYER[rest]}"
    raise ValueError(f"no GGUF name for HF tensor '{hf_name}'")


def permute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF split-half RoPE rows -> GGUF interleaved-pair rows, per head.

    Within each head of dim d, HF rotates the pair (i, i + d/2); GGUF rotates (2i, 2i + 1). Row
    2i + j of a head in the output is row j * d/2 + i of that head in the input. `n_head` is the
    number of heads the rows are split into: num_attention_heads for Q, num_key_value_heads for K.
    """
    rows = w.shape[0]
    if rows % (2 * n_head) != 0:
        raise ValueError(f"cannot permute {rows} rows into {n_head} heads of even size")
    half = rows // n_head // 2
    return w.reshape(n_head, 2, half, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """Inverse of permute_qk: GGUF interleaved-pair rows -> HF split-half rows."""
    rows = w.shape[0]
    half = rows // n_head // 2
    return w.reshape(n_head, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _round_half_away_from_zero(x: np.ndarray) -> np.ndarray:
    # C's roundf(), which ggml's reference quantizer uses (numpy's round is half-to-even).
    return np.sign(x) * np.floor(np.abs(x) + np.float32(0.5))


def quantize_q8_0(x: np.ndarray) -> np.ndarray:
    """Q8_0-encodes a float32 [rows, cols] array (cols % 32 == 0).

    Each block of 32 consecutive values in a row becomes d (float16, little-endian) followed by 32
    int8 q, with d = max|x| / 127 and q = roundf(x * (1/d)) (q = 0 when d == 0), computed in float32
    as ggml's quantize_row_q8_0_ref does. Returns uint8 [rows, cols / 32 * 34].
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] % Q8_0_BLOCK != 0:
        raise ValueError(f"Q8_0 needs a 2-D array with a row length multiple of 32, got {x.shape}")
    rows, cols = x.shape
    blocks = x.reshape(-1, Q8_0_BLOCK)
    amax = np.max(np.abs(blocks), axis=1)
    d = (amax / np.float32(127.0)).astype(np.float32)
    inv = np.zeros_like(d)
    nz = d != 0
    inv[nz] = np.float32(1.0) / d[nz]
    q = _round_half_away_from_zero(blocks * inv[:, None]).astype(np.int8)
    out = np.empty((blocks.shape[0], Q8_0_BLOCK_BYTES), dtype=np.uint8)
    out[:, :2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.reshape(rows, cols // Q8_0_BLOCK * Q8_0_BLOCK_BYTES)


def dequantize_q8_0(data: np.ndarray, shape) -> np.ndarray:
    """Decodes Q8_0 bytes (as from quantize_q8_0) to float32 of the given logical shape."""
    blocks = np.ascontiguousarray(data, dtype=np.uint8).reshape(-1, Q8_0_BLOCK_BYTES)
    d = blocks[:, :2].copy().view("<f2").astype(np.float32)  # [n_blocks, 1]
    q = blocks[:, 2:].copy().view(np.int8).astype(np.float32)
    return (q * d).reshape(shape)


def storage_type(gguf_name: str, shape, ftype: str) -> gguf.GGMLQuantizationType:
    """The GGUF type a tensor is stored as for a given file type.

    f32: everything F32. f16: 2-D weights F16, 1-D (norms) F32 (as convert_hf_to_gguf --outtype
    f16). q8_0: 2-D weights whose row length is a multiple of 32 Q8_0, other 2-D weights F16 (the
    fallback llama.cpp's quantizer uses), 1-D F32.
    """
    if ftype not in FTYPES:
        raise ValueError(f"unknown file type '{ftype}' (expected one of {FTYPES})")
    if ftype == "f32" or len(shape) < 2 or gguf_name.endswith("_norm.weight"):
        return gguf.GGMLQuantizationType.F32
    if ftype == "q8_0" and shape[-1] % Q8_0_BLOCK == 0:
        return gguf.GGMLQuantizationType.Q8_0
    return gguf.GGMLQuantizationType.F16


def encode(x: np.ndarray, qtype: gguf.GGMLQuantizationType) -> np.ndarray:
    """Float32 array -> the array handed to GGUFWriter for that storage type."""
    if qtype == gguf.GGMLQuantizationType.F32:
        return np.ascontiguousarray(x, dtype=np.float32)
    if qtype == gguf.GGMLQuantizationType.F16:
        return np.ascontiguousarray(x, dtype=np.float32).astype(np.float16)
    if qtype == gguf.GGMLQuantizationType.Q8_0:
        return quantize_q8_0(x)
    raise ValueError(f"unsupported storage type {qtype.name}")


def decode(stored: np.ndarray, qtype: gguf.GGMLQuantizationType, shape) -> np.ndarray:
    """Inverse of encode: what a reader gets back as float32."""
    if qtype == gguf.GGMLQuantizationType.Q8_0:
        return dequantize_q8_0(stored, shape)
    return np.asarray(stored).astype(np.float32).reshape(shape)


@dataclasses.dataclass
class Vocab:
    """A SentencePiece vocabulary in the form GGUF's "llama" tokenizer keys hold."""

    tokens: List[str]
    scores: List[float]
    token_types: List[int]  # gguf.TokenType values
    bos_id: int
    eos_id: int
    unk_id: int
    add_bos: bool = True
    add_eos: bool = False


def read_sentencepiece_vocab(model_path: str) -> Vocab:
    """Reads pieces, scores and piece types from a SentencePiece .model file."""
    import sentencepiece  # pip install sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=str(model_path))
    tokens, scores, types = [], [], []
    for i in range(sp.vocab_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(float(sp.get_score(i)))
        if sp.is_unknown(i):
            t = gguf.TokenType.UNKNOWN
        elif sp.is_control(i):
            t = gguf.TokenType.CONTROL
        elif sp.is_unused(i):
            t = gguf.TokenType.UNUSED
        elif sp.is_byte(i):
            t = gguf.TokenType.BYTE
        else:
            t = gguf.TokenType.NORMAL
        types.append(int(t))
    return Vocab(tokens, scores, types, bos_id=sp.bos_id(), eos_id=sp.eos_id(),
                 unk_id=sp.unk_id())


def _head_counts(config: Mapping) -> tuple:
    n_head = int(config["num_attention_heads"])
    n_kv = int(config.get("num_key_value_heads") or n_head)
    return n_head, n_kv


def _gguf_tensors(state_dict: Mapping[str, np.ndarray], config: Mapping):
    """Yields (gguf_name, hf_name, float32 array in GGUF row order), in file order."""
    n_head, n_kv = _head_counts(config)
    tied = bool(config.get("tie_word_embeddings", False))
    names = [n for n in state_dict if not (tied and n == "lm_head.weight")]
    if not tied and "lm_head.weight" not in state_dict:
        raise ValueError("untied config but the state dict has no lm_head.weight")

    def order(hf_name):
        g = gguf_tensor_name(hf_name)
        if g.startswith("blk."):
            return (1, int(g.split(".")[1]), list(_PER_LAYER.values()).index(g.split(".", 2)[2]))
        return (0 if g == "token_embd.weight" else 2, 0, 0 if g == "output_norm.weight" else 1)

    for hf_name in sorted(names, key=order):
        w = np.asarray(state_dict[hf_name], dtype=np.float32)
        if hf_name.endswith("self_attn.q_proj.weight"):
            w = permute_qk(w, n_head)
        elif hf_name.endswith("self_attn.k_proj.weight"):
            w = permute_qk(w, n_kv)
        yield gguf_tensor_name(hf_name), hf_name, w


def effective_weights(state_dict: Mapping[str, np.ndarray], config: Mapping,
                      ftype: str) -> Dict[str, np.ndarray]:
    """The HF-layout float32 weights a correct reader of the GGUF file of `ftype` computes with.

    Each tensor goes through the same path as in write_llama_gguf (permute, encode), is decoded,
    and un-permuted back to HF layout. Tied lm_head.weight is left out, as in the file.
    """
    n_head, n_kv = _head_counts(config)
    out = {}
    for gname, hf_name, w in _gguf_tensors(state_dict, config):
        qtype = storage_type(gname, w.shape, ftype)
        back = decode(encode(w, qtype), qtype, w.shape)
        if hf_name.endswith("self_attn.q_proj.weight"):
            back = unpermute_qk(back, n_head)
        elif hf_name.endswith("self_attn.k_proj.weight"):
            back = unpermute_qk(back, n_kv)
        out[hf_name] = back
    return out


def write_llama_gguf(path: str, state_dict: Mapping[str, np.ndarray], config: Mapping,
                     vocab: Vocab, ftype: str = "f32",
                     name: Optional[str] = None) -> Dict[str, str]:
    """Writes `state_dict` (HF names, float32 numpy arrays) as a GGUF v3 "llama" model.

    `config` is the HF config.json content. Supported rope_scaling: none or {"type": "linear"};
    other types have no llama.cpp GGUF encoding and raise ValueError.
    Returns {gguf tensor name: storage type name}.
    """
    if ftype not in FTYPES:
        raise ValueError(f"unknown file type '{ftype}' (expected one of {FTYPES})")
    n_head, n_kv = _head_counts(config)
    hidden = int(config["hidden_size"])
    vocab_size = int(config["vocab_size"])
    if len(vocab.tokens) != vocab_size:
        raise ValueError(
            f"vocab has {len(vocab.tokens)} tokens but config.vocab_size is {vocab_size}")

    w = gguf.GGUFWriter(str(path), "llama")  # writes general.architecture = "llama"
    w.add_name(name or "llama")
    w.add_context_length(int(config["max_position_embeddings"]))
    w.add_embedding_length(hidden)
    w.add_block_count(int(config["num_hidden_layers"]))
    w.add_feed_forward_length(int(config["intermediate_size"]))
    w.add_rope_dimension_count(hidden // n_head)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    w.add_rope_freq_base(float(config.get("rope_theta", 10000.0)))
    scaling = config.get("rope_scaling")
    if scaling:
        kind = scaling.get("type", scaling.get("rope_type"))
        if kind != "linear":
            raise ValueError(f"rope_scaling type '{kind}' has no GGUF encoding (only 'linear')")
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(float(scaling["factor"]))
    w.add_vocab_size(vocab_size)
    w.add_file_type(_FILE_TYPE[ftype])
    w.add_quantization_version(QUANTIZATION_VERSION)

    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(vocab.tokens)
    w.add_token_scores(vocab.scores)
    w.add_token_types(vocab.token_types)
    w.add_bos_token_id(vocab.bos_id)
    w.add_eos_token_id(vocab.eos_id)
    w.add_unk_token_id(vocab.unk_id)
    w.add_add_bos_token(vocab.add_bos)
    w.add_add_eos_token(vocab.add_eos)

    types = {}
    for gname, _, arr in _gguf_tensors(state_dict, config):
        qtype = storage_type(gname, arr.shape, ftype)
        data = encode(arr, qtype)
        w.add_tensor(gname, data, raw_dtype=qtype)
        types[gname] = qtype.name

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return types
