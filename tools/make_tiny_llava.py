#!/usr/bin/env python3
# Writes the tiny LLaVA-1.5-style reference fixtures under tests/fixtures/tiny_llava/ with PyTorch
# and Hugging Face transformers: one seeded random LlavaForConditionalGeneration saved in three
# checkpoint layouts (llava-hf `hf/`, original LLaVA `orig/` + `orig/clip/`, llama.cpp `gguf/`)
# and reference outputs of every stage computed by transformers 4.36.2's own modules.
#
# Requirements (only for regenerating fixtures; never needed to build or test yopo):
#   apt-get install python3-torch python3-pil   # torch 1.13, Pillow (Debian 12)
#   pip install transformers==4.36.2 safetensors gguf numpy sentencepiece
# (exact versions: tools/requirements.txt). On Debian call /usr/bin/python3 explicitly.
#
# Usage: /usr/bin/python3 tools/make_tiny_llava.py [--out tests/fixtures/tiny_llava]
#            [--assets ../shared/assets]
# The output is deterministic (fixed seed, one thread); tests/fixtures/tiny_llava/README.md
# describes every file. After writing, every layout is read back and checked against the model.
"""Generate a tiny random LLaVA-1.5 model in three layouts plus per-stage reference outputs."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
import transformers
from PIL import Image
from safetensors.numpy import load_file
from safetensors.torch import save_file
from transformers import (CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, LlamaConfig,
                          LlamaForCausalLM, LlamaTokenizer, LlavaConfig,
                          LlavaForConditionalGeneration)

import gguf

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gguf_export  # noqa: E402  (our module, next to this script)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "tests" / "fixtures" / "tiny_llava"
DEFAULT_ASSETS = REPO.parent / "shared" / "assets"

SEED = 20240607
TOKENIZER_ASSET = "tokenizer/stories260K-tok512.model"
IMAGES = ("images/chelsea.png", "images/grace_hopper.jpg")  # image 0 is the prompt's image

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]  # OpenAI CLIP (transformers OPENAI_CLIP_MEAN)
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

N_SP_PIECES = 512  # pieces of stories260K-tok512.model
IMAGE_TOKEN = "<image>"
IMAGE_TOKEN_ID = 512  # added after the SentencePiece pieces
VOCAB = 513  # 512 pieces + <image>; no padding rows

PROMPT = ("A chat between a curious human and an artificial intelligence assistant. The assistant "
          "gives helpful, detailed, and polite answers to the human's questions. USER: <image>\n"
          "What is in the picture? ASSISTANT:")
N_GENERATE = 8

VISION = dict(image_size=84, patch_size=14, num_channels=3, hidden_size=32, intermediate_size=64,
              num_hidden_layers=3, num_attention_heads=4, hidden_act="quick_gelu",
              layer_norm_eps=1e-5, projection_dim=64, attention_dropout=0.0)
TEXT = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, hidden_act="silu",
            max_position_embeddings=256, rms_norm_eps=1e-5, rope_theta=10000.0, rope_scaling=None,
            attention_bias=False, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
            pad_token_id=None, torch_dtype="float32")
FEATURE_LAYER = -2  # hidden_states index: output of vision block n_layers - 2 (0-based)

# transformers 4.36 CLIPVisionModel name -> llama.cpp mmproj name (as the classic
# examples/llava/convert_image_encoder_to_gguf.py maps them, including fc1 -> ffn_down and
# fc2 -> ffn_up, i.e. swapped with respect to their meaning).
_CLIP_GLOBAL = {
    "vision_model.embeddings.class_embedding": "v.class_embd",
    "vision_model.embeddings.patch_embedding.weight": "v.patch_embd.weight",
    "vision_model.embeddings.position_embedding.weight": "v.position_embd.weight",
    "vision_model.pre_layrnorm.weight": "v.pre_ln.weight",
    "vision_model.pre_layrnorm.bias": "v.pre_ln.bias",
    "vision_model.post_layernorm.weight": "v.post_ln.weight",
    "vision_model.post_layernorm.bias": "v.post_ln.bias",
}
_CLIP_LAYER = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.out_proj": "attn_out",
    "layer_norm1": "ln1",
    "layer_norm2": "ln2",
    "mlp.fc1": "ffn_down",  # sic: fc1 is the hidden -> intermediate (up) projection
    "mlp.fc2": "ffn_up",  # sic: fc2 is the intermediate -> hidden (down) projection
}


def drop_tokenizer_copy(out: Path) -> None:
    """The shared assets must not be copied into the repository: remove the raw tokenizer.model
    that save_pretrained writes (tests load it from ../shared/assets; the GGUF text model carries
    the vocabulary in its tokenizer.ggml.* metadata)."""
    (out / "tokenizer.model").unlink(missing_ok=True)


def clip_gguf_name(name: str) -> str:
    """CLIPVisionModel state-dict name -> mmproj GGUF tensor name."""
    if name in _CLIP_GLOBAL:
        return _CLIP_GLOBAL[name]
    prefix = "vision_model.encoder.layers."
    if name.startswith(prefix):
        idx, rest = name[len(prefix):].split(".", 1)
        module, kind = rest.rsplit(".", 1)
        if module in _CLIP_LAYER:
            return f"v.blk.{int(idx)}.{_CLIP_LAYER[module]}.{kind}"
    raise ValueError(f"no mmproj GGUF name for CLIP tensor '{name}'")


# ----------------------------------------------------------------------------------------------
# Model


def build_model() -> LlavaForConditionalGeneration:
    """The seeded random model; every weight is rounded to a float16-representable float32."""
    config = LlavaConfig(vision_config=dict(VISION, model_type="clip_vision_model"),
                         text_config=dict(TEXT, model_type="llama"),
                         image_token_index=IMAGE_TOKEN_ID, projector_hidden_act="gelu",
                         vision_feature_select_strategy="default",
                         vision_feature_layer=FEATURE_LAYER, vocab_size=VOCAB,
                         torch_dtype="float32")
    torch.manual_seed(SEED)
    model = LlavaForConditionalGeneration(config).float().eval()
    gen = torch.Generator().manual_seed(SEED)

    def randn(shape, std):
        return torch.randn(shape, generator=gen, dtype=torch.float32) * std

    with torch.no_grad():
        for name, p in model.named_parameters():
            shape = tuple(p.shape)
            if name.endswith("class_embedding"):
                v = randn(shape, 0.5)
            elif name.endswith("position_embedding.weight"):
                v = randn(shape, 0.5)
            elif name.endswith("patch_embedding.weight"):  # conv [out, 3, 14, 14]
                fan_in = shape[1] * shape[2] * shape[3]
                v = randn(shape, 1.0 / fan_in**0.5)
            elif name.endswith("embed_tokens.weight"):
                v = randn(shape, 1.0)
            elif p.ndim == 1 and ("norm" in name or "layrnorm" in name):
                v = 1.0 + randn(shape, 0.1) if name.endswith("weight") else randn(shape, 0.1)
            elif p.ndim == 1:  # linear biases
                v = randn(shape, 0.1)
            elif p.ndim == 2:
                gain = 1.5 if ("q_proj" in name or "k_proj" in name or "lm_head" in name) else 1.0
                v = randn(shape, gain / shape[1]**0.5)
                if name.endswith("lm_head.weight"):
                    v[IMAGE_TOKEN_ID] *= 0.1  # an untrained added row: keep <image> unlikely
            else:
                raise ValueError(f"no init rule for {name} {shape}")
            p.copy_(v.half().float())
    return model


def hf_state(model) -> Dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}


# ----------------------------------------------------------------------------------------------
# Inputs


def image_processor() -> CLIPImageProcessor:
    return CLIPImageProcessor(do_resize=True, size={"shortest_edge": VISION["image_size"]},
                              resample=3, do_center_crop=True,
                              crop_size={"height": VISION["image_size"],
                                         "width": VISION["image_size"]},
                              do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
                              image_mean=CLIP_MEAN, image_std=CLIP_STD, do_convert_rgb=True)


def expand2square(img: Image.Image, background) -> Image.Image:
    """LLaVA's image_aspect_ratio == "pad": paste centred on a square of the background colour."""
    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    out = Image.new(img.mode, (side, side), background)
    out.paste(img, ((side - w) // 2, (side - h) // 2))
    return out


def preprocess(paths: List[Path], proc: CLIPImageProcessor):
    background = tuple(int(x * 255) for x in proc.image_mean)
    squares = [expand2square(Image.open(p).convert("RGB"), background) for p in paths]
    pixel_values = proc(images=squares, return_tensors="pt")["pixel_values"].float()
    resized = proc(images=squares, do_rescale=False, do_normalize=False,
                   return_tensors="np")["pixel_values"]
    resized_u8 = np.asarray(resized).round().astype(np.uint8)  # [N, 3, H, W], values 0..255
    again = (resized_u8.astype(np.float32) / 255 - np.array(CLIP_MEAN, np.float32)[:, None, None]
             ) / np.array(CLIP_STD, np.float32)[:, None, None]
    assert np.abs(again - pixel_values.numpy()).max() < 1e-5, "rescale/normalize mismatch"
    sizes = [list(Image.open(p).size) for p in paths]
    return pixel_values, resized_u8, background, sizes, [list(s.size) for s in squares]


def tokenize_prompt(sp_model_path: Path):
    """LLaVA's tokenizer_image_token: chunks split at <image>, BOS only on the first chunk."""
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=str(sp_model_path))
    chunks = PROMPT.split(IMAGE_TOKEN)
    assert len(chunks) == 2
    ids = [sp.bos_id()] + sp.encode(chunks[0]) + [IMAGE_TOKEN_ID] + sp.encode(chunks[1])
    return ids, chunks, sp


def hf_tokenizer(sp_model_path: Path) -> LlamaTokenizer:
    tok = LlamaTokenizer(vocab_file=str(sp_model_path), legacy=True, add_bos_token=True,
                         add_eos_token=False)
    tok.add_tokens([transformers.AddedToken(IMAGE_TOKEN, special=True, normalized=False)],
                   special_tokens=True)
    assert tok.convert_tokens_to_ids(IMAGE_TOKEN) == IMAGE_TOKEN_ID
    return tok


# ----------------------------------------------------------------------------------------------
# Reference computations


@torch.no_grad()
def vision_reference(model, pixel_values):
    out = model.vision_tower(pixel_values, output_hidden_states=True)
    hidden = torch.stack(out.hidden_states)  # [n_layers + 1, N, 1 + n_patches, hidden]
    selected = out.hidden_states[FEATURE_LAYER]
    features = selected[:, 1:]  # "default": drop CLS
    projected = model.multi_modal_projector(features)
    return hidden, selected, features, projected


@torch.no_grad()
def full_logits(model, ids: List[int], pixel_values):
    input_ids = torch.tensor([ids])
    out = model(input_ids=input_ids, pixel_values=pixel_values,
                attention_mask=torch.ones_like(input_ids))
    return out.logits[0]


@torch.no_grad()
def spliced_logits(model, ids: List[int], projected):
    """Independent assembly: text embeddings with the image rows spliced in at <image>."""
    pos = ids.index(IMAGE_TOKEN_ID)
    emb = model.get_input_embeddings()
    before = emb(torch.tensor(ids[:pos]))
    after = emb(torch.tensor(ids[pos + 1:]))
    seq = torch.cat([before, projected[0], after])[None]
    return model.language_model(inputs_embeds=seq).logits[0]


@torch.no_grad()
def greedy(model, ids: List[int], pixel_values):
    """Greedy ids by full re-computation (no cache), and the logits each step chose from."""
    cur = list(ids)
    steps, new = [], []
    for _ in range(N_GENERATE):
        last = full_logits(model, cur, pixel_values)[-1]
        nxt = int(torch.argmax(last))
        steps.append(last.numpy())
        new.append(nxt)
        cur.append(nxt)
    return new, np.stack(steps)


# ----------------------------------------------------------------------------------------------
# Layout writers


def lm_state(state: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """language_model.* of the HF Llava state -> LlamaForCausalLM names."""
    return {k[len("language_model."):]: v for k, v in state.items()
            if k.startswith("language_model.")}


def clip_state(state: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    return {k[len("vision_tower."):]: v for k, v in state.items() if k.startswith("vision_tower.")}


def projector_state(state: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """multi_modal_projector.linear_{1,2} -> original LLaVA model.mm_projector.{0,2}."""
    ren = {"linear_1": "0", "linear_2": "2"}
    out = {}
    for k, v in state.items():
        if k.startswith("multi_modal_projector."):
            _, lin, kind = k.split(".")
            out[f"model.mm_projector.{ren[lin]}.{kind}"] = v
    return out


def write_hf(model, tok, proc, out: Path):
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    proc.save_pretrained(out)
    drop_tokenizer_copy(out)


def orig_config(model) -> dict:
    t = model.config.text_config
    return {
        "architectures": ["LlavaLlamaForCausalLM"],
        "model_type": "llava_llama",
        "hidden_size": t.hidden_size,
        "intermediate_size": t.intermediate_size,
        "num_hidden_layers": t.num_hidden_layers,
        "num_attention_heads": t.num_attention_heads,
        "num_key_value_heads": t.num_key_value_heads,
        "hidden_act": t.hidden_act,
        "max_position_embeddings": t.max_position_embeddings,
        "rms_norm_eps": t.rms_norm_eps,
        "rope_theta": t.rope_theta,
        "rope_scaling": None,
        "vocab_size": t.vocab_size,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 0,
        "tie_word_embeddings": False,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "use_cache": True,
        "torch_dtype": "float32",
        "freeze_mm_mlp_adapter": False,
        "tune_mm_mlp_adapter": False,
        "use_mm_proj": True,
        "mm_vision_tower": "clip",
        "mm_vision_select_layer": FEATURE_LAYER,
        "mm_vision_select_feature": "patch",
        "mm_projector_type": "mlp2x_gelu",
        "mm_hidden_size": VISION["hidden_size"],
        "image_aspect_ratio": "pad",
        "mm_use_im_start_end": False,
        "mm_use_im_patch_token": False,
        "transformers_version": transformers.__version__,
    }


def write_orig(model, state, sp_model_path: Path, proc, out: Path):
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(orig_config(model), indent=2) + "\n")
    tensors = dict(lm_state(state))  # model.embed_tokens, model.layers.*, model.norm, lm_head
    tensors.update(projector_state(state))
    save_file({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()},
              str(out / "model.safetensors"), metadata={"format": "pt"})
    LlamaTokenizer(vocab_file=str(sp_model_path), legacy=True).save_pretrained(out)
    drop_tokenizer_copy(out)
    clip = CLIPVisionModel(model.config.vision_config).float().eval()
    clip.load_state_dict({k: torch.from_numpy(v) for k, v in clip_state(state).items()})
    clip.save_pretrained(out / "clip", safe_serialization=True)
    proc.save_pretrained(out / "clip")


def write_text_gguf(state, path: Path, sp_model_path: Path):
    """llama.cpp "llama" GGUF of the language model (F32; Q/K rows permuted for RoPE pairs)."""
    t = TEXT
    vocab = gguf_export.read_sentencepiece_vocab(str(sp_model_path))
    tokens = list(vocab.tokens) + [IMAGE_TOKEN]
    scores = list(vocab.scores) + [-1000.0]
    types = list(vocab.token_types) + [int(gguf.TokenType.CONTROL)]
    assert len(tokens) == VOCAB
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-llava")
    w.add_context_length(t["max_position_embeddings"])
    w.add_embedding_length(t["hidden_size"])
    w.add_block_count(t["num_hidden_layers"])
    w.add_feed_forward_length(t["intermediate_size"])
    w.add_rope_dimension_count(t["hidden_size"] // t["num_attention_heads"])
    w.add_head_count(t["num_attention_heads"])
    w.add_head_count_kv(t["num_key_value_heads"])
    w.add_layer_norm_rms_eps(t["rms_norm_eps"])
    w.add_rope_freq_base(t["rope_theta"])
    w.add_vocab_size(VOCAB)
    w.add_file_type(0)  # ALL_F32
    w.add_quantization_version(2)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(vocab.bos_id)
    w.add_eos_token_id(vocab.eos_id)
    w.add_unk_token_id(vocab.unk_id)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    # The SentencePiece model's normalizer (stories260K-tok512 strips/collapses spaces);
    # convert_hf_to_gguf.py writes these two only for some vocabularies.
    w.add_add_space_prefix(True)
    w.add_remove_extra_whitespaces(True)
    lm = lm_state(state)
    order = ["model.embed_tokens.weight"]
    per_layer = ["input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
                 "self_attn.v_proj.weight", "self_attn.o_proj.weight",
                 "post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
                 "mlp.down_proj.weight"]
    for i in range(t["num_hidden_layers"]):
        order += [f"model.layers.{i}.{n}" for n in per_layer]
    order += ["model.norm.weight", "lm_head.weight"]
    assert sorted(order) == sorted(lm), "unexpected language-model tensors"
    for name in order:
        arr = lm[name]
        if name.endswith("q_proj.weight"):
            arr = gguf_export.permute_qk(arr, t["num_attention_heads"])
        elif name.endswith("k_proj.weight"):
            arr = gguf_export.permute_qk(arr, t["num_key_value_heads"])
        w.add_tensor(gguf_export.gguf_tensor_name(name), np.ascontiguousarray(arr, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_mmproj_gguf(state, path: Path):
    """mmproj GGUF as llava_surgery.py + convert_image_encoder_to_gguf.py --clip-model-is-vision
    --use-f32 --llava-projector write it (the converter version that pops the last layer)."""
    v = VISION
    w = gguf.GGUFWriter(str(path), "clip")
    w.add_bool("clip.has_text_encoder", False)
    w.add_bool("clip.has_vision_encoder", True)
    w.add_bool("clip.has_llava_projector", True)
    w.add_file_type(0)  # --use-f32 (conv and projector matrices are F16 regardless)
    w.add_name("clip")
    w.add_description("image encoder for LLaVA")
    w.add_string("clip.projector_type", "mlp")
    w.add_uint32("clip.vision.image_size", v["image_size"])
    w.add_uint32("clip.vision.patch_size", v["patch_size"])
    w.add_uint32("clip.vision.embedding_length", v["hidden_size"])
    w.add_uint32("clip.vision.feed_forward_length", v["intermediate_size"])
    w.add_uint32("clip.vision.projection_dim", v["projection_dim"])
    w.add_uint32("clip.vision.attention.head_count", v["num_attention_heads"])
    w.add_float32("clip.vision.attention.layer_norm_epsilon", v["layer_norm_eps"])
    w.add_uint32("clip.vision.block_count", v["num_hidden_layers"] - 1)
    w.add_array("clip.vision.image_mean", CLIP_MEAN)
    w.add_array("clip.vision.image_std", CLIP_STD)
    w.add_bool("clip.use_gelu", v["hidden_act"] == "gelu")
    # Projector first (2-D weights as F16, biases F32), then the vision tower without its last
    # block and without post_layernorm; 4-D (the patch conv) as F16, the rest F32.
    proj = projector_state(state)
    for name in ["model.mm_projector.0.weight", "model.mm_projector.0.bias",
                 "model.mm_projector.2.weight", "model.mm_projector.2.bias"]:
        arr = proj[name]
        arr = arr.astype(np.float16) if arr.ndim in (2, 4) else arr.astype(np.float32)
        w.add_tensor(name.replace("model.mm_projector", "mm"), arr)
    clip = CLIPVisionModel(CLIPVisionConfig(**VISION)).float()
    clip.load_state_dict({k: torch.from_numpy(a) for k, a in clip_state(state).items()})
    clip.vision_model.encoder.layers.pop(-1)
    for name, t in clip.state_dict().items():
        if name.endswith("position_ids") or name.startswith("vision_model.post_layernorm"):
            continue
        arr = t.detach().numpy().squeeze()
        arr = arr.astype(np.float16) if arr.ndim == 4 else arr.astype(np.float32)
        w.add_tensor(clip_gguf_name(name), arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def save_npy(path: Path, arr):
    arr = np.ascontiguousarray(arr)
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float32)
    np.save(path, arr, allow_pickle=False)


# ----------------------------------------------------------------------------------------------
# Read-back checks


def _same(a, b, what):
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if a.shape != b.shape or not np.array_equal(a, b):
        raise AssertionError(f"{what}: mismatch (shapes {a.shape} vs {b.shape})")


def check_hf(out: Path, state, ids, pixel_values, logits, sp_model_path: Path):
    m = LlavaForConditionalGeneration.from_pretrained(out).float().eval()
    back = hf_state(m)
    assert sorted(back) == sorted(state), "hf/: tensor set differs"
    for k in state:
        _same(back[k], state[k], f"hf/ {k}")
    stored = load_file(str(out / "model.safetensors"))
    assert not any("position_ids" in k or "inv_freq" in k for k in stored), "buffers saved"
    # hf/ keeps tokenizer_config.json and added_tokens.json; the SentencePiece model itself comes
    # from the shared assets (it is not copied into the repository).
    tok = LlamaTokenizer.from_pretrained(out, vocab_file=str(sp_model_path))
    assert tok(PROMPT).input_ids == ids, "hf/ tokenizer disagrees with the reference ids"
    err = np.abs(full_logits(m, ids, pixel_values).numpy() - logits).max()
    assert err == 0, f"hf/ reloaded model's logits differ by {err}"


def check_orig(out: Path, state, ids, pixel_values, logits):
    cfg = json.loads((out / "config.json").read_text())
    stored = load_file(str(out / "model.safetensors"))
    lm = lm_state(state)
    proj = projector_state(state)
    assert sorted(stored) == sorted(list(lm) + list(proj)), "orig/: tensor set differs"
    for k, v in stored.items():
        _same(v, lm[k] if k in lm else proj[k], f"orig/ {k}")
    clip_stored = load_file(str(out / "clip" / "model.safetensors"))
    cs = clip_state(state)
    assert sorted(clip_stored) == sorted(cs), "orig/clip: tensor set differs"
    for k, v in clip_stored.items():
        _same(v, cs[k], f"orig/clip {k}")
    # Functional: run the original pipeline from these files with plain modules.
    with torch.no_grad():
        clip = CLIPVisionModel.from_pretrained(out / cfg["mm_vision_tower"]).float().eval()
        feats = clip(pixel_values, output_hidden_states=True).hidden_states[
            cfg["mm_vision_select_layer"]][:, 1:]
        t = lambda k: torch.from_numpy(stored[k])  # noqa: E731
        h = torch.nn.functional.linear(feats, t("model.mm_projector.0.weight"),
                                       t("model.mm_projector.0.bias"))
        h = torch.nn.functional.gelu(h)
        img = torch.nn.functional.linear(h, t("model.mm_projector.2.weight"),
                                         t("model.mm_projector.2.bias"))
        llama_cfg = LlamaConfig(**{k: v for k, v in TEXT.items()})
        llama = LlamaForCausalLM(llama_cfg).float().eval()
        llama.load_state_dict({k: torch.from_numpy(v) for k, v in stored.items()
                               if not k.startswith("model.mm_projector")})
        pos = ids.index(IMAGE_TOKEN_ID)
        emb = llama.get_input_embeddings()
        seq = torch.cat([emb(torch.tensor(ids[:pos])), img[0], emb(torch.tensor(ids[pos + 1:]))])
        got = llama(inputs_embeds=seq[None]).logits[0].numpy()
    err = np.abs(got - logits).max()
    assert err < 1e-4, f"orig/ functional logits differ by {err}"
    return err


def _unpermute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """GGUF interleaved-pair rows -> HF split-half rows (own inverse of the convert permute)."""
    d = w.shape[0] // n_head
    out = np.empty_like(w)
    for h in range(n_head):
        for i in range(d // 2):
            out[h * d + i] = w[h * d + 2 * i]
            out[h * d + d // 2 + i] = w[h * d + 2 * i + 1]
    return out


def _rope_check(hf_q: np.ndarray, gguf_q: np.ndarray, n_head: int):
    """HF rotate_half RoPE on HF rows == interleaved-pair RoPE (llama.cpp's normal mode) on GGUF
    rows, with GGUF pair i mapped back to HF rows (i, i + d/2), for a random input at a few
    positions."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(hf_q.shape[1]).astype(np.float64)
    d = hf_q.shape[0] // n_head
    inv = 1.0 / (TEXT["rope_theta"] ** (np.arange(0, d, 2) / d))
    for pos in (0, 1, 7, 100):
        ang = pos * inv
        a = (hf_q.astype(np.float64) @ x).reshape(n_head, d)
        lo, hi = a[:, :d // 2], a[:, d // 2:]
        hf_rot = np.concatenate([lo * np.cos(ang) - hi * np.sin(ang),
                                 hi * np.cos(ang) + lo * np.sin(ang)], axis=1)
        b = (gguf_q.astype(np.float64) @ x).reshape(n_head, d // 2, 2)
        ev, od = b[..., 0], b[..., 1]
        gg_rot = np.concatenate([ev * np.cos(ang) - od * np.sin(ang),
                                 od * np.cos(ang) + ev * np.sin(ang)], axis=1)
        assert np.abs(hf_rot - gg_rot).max() < 1e-9, "Q/K permutation breaks RoPE equivalence"


def _read_gguf(path: Path):
    r = gguf.GGUFReader(str(path))
    tensors = {}
    for t in r.tensors:
        shape = tuple(int(x) for x in reversed(t.shape.tolist()))
        tensors[t.name] = (t.tensor_type.name, np.asarray(t.data).astype(np.float32).reshape(shape))
    fields = {}
    for name, f in r.fields.items():
        if not f.types:
            continue
        if f.types[0] == gguf.GGUFValueType.ARRAY:
            vals = [f.parts[i] for i in f.data]
            if f.types[-1] == gguf.GGUFValueType.STRING:
                fields[name] = [bytes(v).decode() for v in vals]
            else:
                fields[name] = [v.tolist()[0] for v in vals]
        elif f.types[0] == gguf.GGUFValueType.STRING:
            fields[name] = bytes(f.parts[f.data[0]]).decode()
        else:
            fields[name] = f.parts[f.data[0]].tolist()[0]
    return fields, tensors


def check_gguf(out: Path, state):
    fields, tensors = _read_gguf(out / "text.gguf")
    assert fields["general.architecture"] == "llama"
    assert len(fields["tokenizer.ggml.tokens"]) == VOCAB
    assert fields["tokenizer.ggml.tokens"][IMAGE_TOKEN_ID] == IMAGE_TOKEN
    lm = lm_state(state)
    t = TEXT
    seen = set()
    for name, (ttype, arr) in tensors.items():
        assert ttype == "F32", f"text.gguf {name} is {ttype}"
        hf = None
        if name == "token_embd.weight":
            hf = "model.embed_tokens.weight"
        elif name == "output_norm.weight":
            hf = "model.norm.weight"
        elif name == "output.weight":
            hf = "lm_head.weight"
        else:
            _, i, rest = name.split(".", 2)
            back = {v: k for k, v in gguf_export._PER_LAYER.items()}
            hf = f"model.layers.{i}.{back[rest]}"
        if hf.endswith("q_proj.weight"):
            _rope_check(lm[hf], arr, t["num_attention_heads"])
            arr = _unpermute_qk(arr, t["num_attention_heads"])
        elif hf.endswith("k_proj.weight"):
            _rope_check(lm[hf], arr, t["num_key_value_heads"])
            arr = _unpermute_qk(arr, t["num_key_value_heads"])
        _same(arr, lm[hf], f"text.gguf {name}")
        seen.add(hf)
    assert seen == set(lm), "text.gguf: tensor set differs"

    fields, tensors = _read_gguf(out / "mmproj.gguf")
    assert fields["general.architecture"] == "clip"
    assert fields["clip.vision.block_count"] == VISION["num_hidden_layers"] - 1
    assert fields["clip.use_gelu"] is False or fields["clip.use_gelu"] == 0
    cs = clip_state(state)
    proj = projector_state(state)
    dropped = ("vision_model.post_layernorm.",
               f"vision_model.encoder.layers.{VISION['num_hidden_layers'] - 1}.")
    expected = {clip_gguf_name(k): k for k in cs if not k.startswith(dropped)}
    expected.update({k.replace("model.mm_projector", "mm"): k for k in proj})
    assert sorted(expected) == sorted(tensors), "mmproj.gguf: tensor set differs"
    for name, (ttype, arr) in tensors.items():
        src = expected[name]
        ref = proj[src] if src in proj else cs[src]
        want = "F16" if (ref.ndim == 4 or (src in proj and ref.ndim == 2)) else "F32"
        assert ttype == want, f"mmproj.gguf {name} stored as {ttype}, expected {want}"
        if "ffn_down" in name:
            assert ".mlp.fc1." in src
        _same(arr, ref, f"mmproj.gguf {name}")


# ----------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--assets", type=Path, default=DEFAULT_ASSETS)
    args = ap.parse_args()
    torch.set_num_threads(1)
    assert transformers.__version__ == "4.36.2", "reference semantics are those of 4.36.2"

    sp_path = args.assets / TOKENIZER_ASSET
    image_paths = [args.assets / p for p in IMAGES]
    out = args.out
    for d in ("hf", "orig", "gguf", "reference"):  # README.md (hand-written) is kept
        if (out / d).exists():
            shutil.rmtree(out / d)
        (out / d).mkdir(parents=True)

    model = build_model()
    state = hf_state(model)
    proc = image_processor()
    pixel_values, resized_u8, background, sizes, squares = preprocess(image_paths, proc)
    ids, chunks, sp = tokenize_prompt(sp_path)
    tok = hf_tokenizer(sp_path)
    assert tok(PROMPT).input_ids == ids, "HF tokenizer (legacy) disagrees with chunked SP encoding"

    # Vision, batched over both images, and chelsea alone.
    hidden_b, selected_b, features_b, projected_b = vision_reference(model, pixel_values)
    hidden, selected, features, projected = vision_reference(model, pixel_values[:1])
    assert torch.allclose(projected, projected_b[:1], atol=1e-5), "batched vision differs"

    logits = full_logits(model, ids, pixel_values[:1]).numpy()
    pos = ids.index(IMAGE_TOKEN_ID)
    n_img = features.shape[1]
    t_exp = len(ids) - 1 + n_img
    assert logits.shape == (t_exp, VOCAB)
    err = np.abs(spliced_logits(model, ids, projected).numpy() - logits).max()
    assert err < 1e-5, f"row order: spliced logits differ by {err}"

    new_ids, step_logits = greedy(model, ids, pixel_values[:1])
    with torch.no_grad():
        gen = model.generate(input_ids=torch.tensor([ids]), pixel_values=pixel_values[:1],
                             attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             max_new_tokens=N_GENERATE, do_sample=False, eos_token_id=None,
                             pad_token_id=0)
    gen_new = gen[0, len(ids):].tolist()
    assert gen_new == new_ids, f"generate() {gen_new} != full-recompute greedy {new_ids}"
    assert all(i < N_SP_PIECES and i != sp.eos_id() for i in new_ids), new_ids
    assert np.abs(step_logits[0] - logits[-1]).max() < 1e-5

    stats = {"logits_std": float(logits.std()), "projector_std": float(projected.std()),
             "vision_selected_std": float(selected.std())}
    for k, v in stats.items():
        assert 0.3 < v < 30, f"degenerate activations: {k} = {v}"

    ref = {
        "generator": "tools/make_tiny_llava.py",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "seed": SEED,
        "prompt": PROMPT,
        "prompt_chunks": chunks,
        "input_ids": ids,
        "input_pieces": [IMAGE_TOKEN if i == IMAGE_TOKEN_ID else sp.id_to_piece(i) for i in ids],
        "num_input_ids": len(ids),
        "image_token_id": IMAGE_TOKEN_ID,
        "image_token_pos": pos,
        "num_image_rows": n_img,
        "expanded_length": t_exp,
        "expanded_rows": {
            "text_before": [0, pos],
            "image": [pos, pos + n_img],
            "text_after": [pos + n_img, t_exp],
        },
        "expanded_input_ids": ids[:pos] + [-1] * n_img + ids[pos + 1:],
        "position_ids": "0 .. expanded_length-1 (image rows count like tokens)",
        "greedy_new_ids": new_ids,
        "greedy_new_pieces": [sp.id_to_piece(i) for i in new_ids],
        "greedy_new_text": sp.decode(new_ids),  # SentencePiece decode; bad UTF-8 -> U+FFFD
        "greedy_all_ids": ids + new_ids,
        "images": [{"file": p, "size_wh": s, "square_wh": q}
                   for p, s, q in zip(IMAGES, sizes, squares)],
        "pad_background_rgb": list(background),
        "image_mean": CLIP_MEAN,
        "image_std": CLIP_STD,
        "vision_feature_layer": FEATURE_LAYER,
        "vision_hidden_states_count": VISION["num_hidden_layers"] + 1,
        "activation_std": stats,
    }
    (out / "reference" / "reference.json").write_text(
        "{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in ref.items()) + "\n}\n")
    r = out / "reference"
    save_npy(r / "pixel_values.npy", pixel_values[:1].numpy())
    save_npy(r / "pixel_values_grace_hopper.npy", pixel_values[1:].numpy())
    save_npy(r / "resized_u8_batch.npy", resized_u8)
    save_npy(r / "vision_hidden_states.npy", hidden[:, 0].numpy())
    save_npy(r / "vision_selected.npy", selected.numpy())
    save_npy(r / "vision_features.npy", features.numpy())
    save_npy(r / "projector_output.npy", projected.numpy())
    save_npy(r / "vision_selected_batch.npy", selected_b.numpy())
    save_npy(r / "vision_features_batch.npy", features_b.numpy())
    save_npy(r / "projector_output_batch.npy", projected_b.numpy())
    save_npy(r / "logits.npy", logits)
    save_npy(r / "greedy_step_logits.npy", step_logits)

    write_hf(model, tok, proc, out / "hf")
    write_orig(model, state, sp_path, proc, out / "orig")
    write_text_gguf(state, out / "gguf" / "text.gguf", sp_path)
    write_mmproj_gguf(state, out / "gguf" / "mmproj.gguf")

    check_hf(out / "hf", state, ids, pixel_values[:1], logits, sp_path)
    orig_err = check_orig(out / "orig", state, ids, pixel_values[:1], logits)
    check_gguf(out / "gguf", state)

    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"ids: {len(ids)} (image at {pos}), expanded {t_exp}; greedy {new_ids} "
          f"{sp.decode(new_ids)!r}; orig functional err {orig_err:.2e}; stats {stats}")
    print(f"wrote {out} ({total} bytes)")


if __name__ == "__main__":
    main()
