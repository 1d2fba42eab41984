#!/usr/bin/env python3
"""Writes tests/fixtures/chat/reference.json: multi-turn LLaVA prompts and their token ids.

The prompt texts follow LLaVA's conversation templates (llava/conversation.py: conv_vicuna_v1 is
SeparatorStyle.TWO with sep " " and sep2 "</s>": system + " ", then "ROLE: message" + sep or
sep2 alternately, and "ASSISTANT:" for the reply to come; the llava-hf chat template writes the
same turns without a system line). The ids are what LLaVA's tokenizer_image_token gives with HF
transformers' slow LlamaTokenizer (legacy mode, as LLaVA-1.5 loads it) on the LLaMA-2 tokenizer:
the text split at "<image>", each chunk tokenized on its own ("</s>" read as the EOS token),
BOS only at the start, -200 for the image.

    /usr/bin/python3 tools/make_chat_fixture.py [../shared/assets/tokenizer/llama2-tokenizer.model]
"""
import json
import sys
from pathlib import Path

import transformers
from transformers import LlamaTokenizer

REPO = Path(__file__).resolve().parent.parent
SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. The assistant "
          "gives helpful, detailed, and polite answers to the human's questions.")
IMAGE_TOKEN_INDEX = -200


def two_style(system, turns):
    """conv_vicuna_v1.get_prompt(): turns are (role, message), the last ("ASSISTANT", None)."""
    seps = [" ", "</s>"]
    ret = system + seps[0] if system is not None else ""
    for i, (role, message) in enumerate(turns):
        ret += role + ": " + message + seps[i % 2] if message else role + ":"
    return ret


def tokenizer_image_token(tok, prompt):
    chunks = [tok(c).input_ids for c in prompt.split("<image>")]
    ids = [chunks[0][0]] if chunks[0] and chunks[0][0] == tok.bos_token_id else []
    for k, c in enumerate(chunks):
        body = c[1:] if c and c[0] == tok.bos_token_id else c
        if k > 0:
            ids.append(IMAGE_TOKEN_INDEX)
        ids.extend(body)
    return ids


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else str(
        REPO.parent / "shared" / "assets" / "tokenizer" / "llama2-tokenizer.model")
    tok = LlamaTokenizer(path, legacy=True)
    cases = []
    conv = [("user", "Hi", 0), ("assistant", "Hello.", 0), ("user", "What now?", 0)]
    img = [("user", "What is this?", 1), ("assistant", "A red circle.", 0),
           ("user", "Which object is closest to it?", 0)]
    for name, template, system, turns in [
            ("vicuna_text", "vicuna_v1", "", conv),
            ("vicuna_image", "vicuna_v1", "", img),
            ("vicuna_system", "vicuna_v1", "Answer in one word.", conv),
            ("llava_hf_image", "llava_hf", "", img)]:
        rows = [("USER" if r == "user" else "ASSISTANT", "<image>\n" * n + t)
                for r, t, n in turns] + [("ASSISTANT", None)]
        sys_line = (system or SYSTEM) if template == "vicuna_v1" else None
        prompt = two_style(sys_line, rows)
        cases.append({"name": name, "template": template, "system": system,
                      "turns": [{"role": r, "text": t, "images": n} for r, t, n in turns],
                      "prompt": prompt, "ids": tokenizer_image_token(tok, prompt)})
    out = REPO / "tests" / "fixtures" / "chat" / "reference.json"
    out.write_text(json.dumps({"generator": "tools/make_chat_fixture.py",
                               "transformers_version": transformers.__version__,
                               "cases": cases}, indent=1) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
