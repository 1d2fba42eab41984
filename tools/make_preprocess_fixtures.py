#!/usr/bin/env python3
# Writes the image decoding / preprocessing reference fixtures under tests/fixtures/preprocess/
# with Pillow and Hugging Face transformers' CLIPImageProcessor (the code LLaVA-1.5 runs).
#
# Requirements (only for regenerating fixtures; never needed to build or test yopo):
#   apt-get install python3-pil           # Pillow 9.4.0 (Debian 12)
#   pip install transformers==4.36.2 numpy torch   (see tools/requirements.txt)
# On Debian call /usr/bin/python3 explicitly.
#
# Usage: /usr/bin/python3 tools/make_preprocess_fixtures.py [--out tests/fixtures/preprocess]
#            [--images ../shared/assets/images]
#
# What it writes (all PNG files are 8-bit RGB, lossless):
#   photo_<name>_pad.png    LLaVA pad mode up to the bicubic resize: expand2square with the CLIP
#                           mean colour, then CLIPImageProcessor's resize + center crop (336x336)
#   photo_<name>_crop.png   CLIPImageProcessor alone: shortest edge 336, center crop 336x336
#   photo_<name>_norm.json  (one photo) the normalised float tensor of pad mode: per-channel sums
#                           and sampled values, computed by CLIPImageProcessor itself
#   synth_*.png             synthetic inputs made here (no shared assets needed) with their
#                           pad/crop results, plain PIL bicubic resizes, and a normalisation
#                           checksum JSON
#   decode_*                small files in several PNG/BMP/GIF/JPEG modes, each with the RGB
#                           image PIL's Image.open(f).convert("RGB") gives (decode_*.rgb.png)
#   manifest.json           the list of cases the C++ tests read
# The photos themselves (../shared/assets/images) are never copied into the repository.
# To stay under ~1.5 MB, pad-mode results are stored for all five photos but crop-mode results
# for chelsea and rocket only (astronaut is square, so its crop result equals its pad result).
# The output is deterministic: a rerun with the same Pillow/transformers reproduces every file.
"""Generate PIL / CLIPImageProcessor reference fixtures for yopo's image preprocessing."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import PIL
import transformers
from PIL import Image
from transformers import CLIPImageProcessor

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "tests" / "fixtures" / "preprocess"
DEFAULT_IMAGES = REPO.parent / "shared" / "assets" / "images"

# openai/clip-vit-large-patch14-336 preprocessor_config.json (the vision tower of LLaVA-1.5).
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
SIZE = 336

# name -> whether the crop-mode result is stored too
PHOTOS = {
    "chelsea.png": True,
    "coffee.png": False,
    "astronaut.png": False,  # square: crop == pad
    "rocket.jpg": True,
    "grace_hopper.jpg": False,
}
NORM_PHOTO = "chelsea.png"  # PNG: its decoding is exact, so 1e-5 holds for the whole tensor


def clip_processor() -> CLIPImageProcessor:
    return CLIPImageProcessor(
        do_resize=True,
        size={"shortest_edge": SIZE},
        resample=Image.BICUBIC,
        do_center_crop=True,
        crop_size={"height": SIZE, "width": SIZE},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
        do_convert_rgb=True,
    )


def expand2square(pil_img: Image.Image, background_color) -> Image.Image:
    """LLaVA's llava/mm_utils.py expand2square (image_aspect_ratio: pad)."""
    width, height = pil_img.size
    if width == height:
        return pil_img
    if width > height:
        result = Image.new(pil_img.mode, (width, width), background_color)
        result.paste(pil_img, (0, (width - height) // 2))
        return result
    result = Image.new(pil_img.mode, (height, height), background_color)
    result.paste(pil_img, ((height - width) // 2, 0))
    return result


PAD_COLOR = tuple(int(x * 255) for x in CLIP_MEAN)  # (122, 116, 104), as LLaVA computes it


def hf_uint8(proc: CLIPImageProcessor, img: Image.Image) -> np.ndarray:
    """CLIPImageProcessor's resize + center crop, before rescale/normalize, as HWC uint8."""
    out = proc.preprocess(img, do_rescale=False, do_normalize=False, return_tensors="np")
    chw = np.asarray(out["pixel_values"][0])
    assert np.all(chw == np.round(chw)) and chw.min() >= 0 and chw.max() <= 255
    return chw.astype(np.uint8).transpose(1, 2, 0)


def hf_normalized(proc: CLIPImageProcessor, img: Image.Image) -> np.ndarray:
    out = proc.preprocess(img, return_tensors="np")["pixel_values"][0]
    assert out.dtype == np.float32 and out.shape == (3, SIZE, SIZE)
    return out


def pad_uint8(proc: CLIPImageProcessor, rgb: Image.Image) -> np.ndarray:
    ref = hf_uint8(proc, expand2square(rgb, PAD_COLOR))
    # Cross-check: the processor's resize is PIL's bicubic resize of the square image.
    direct = np.asarray(expand2square(rgb, PAD_COLOR).resize((SIZE, SIZE), Image.BICUBIC))
    assert np.array_equal(ref, direct), "CLIPImageProcessor != PIL resize"
    return ref


def crop_uint8(proc: CLIPImageProcessor, rgb: Image.Image) -> np.ndarray:
    return hf_uint8(proc, rgb)


class Writer:
    def __init__(self, out: Path):
        self.out = out
        self.sizes: dict[str, int] = {}

    def png(self, name: str, arr: np.ndarray) -> str:
        assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
        buf = io.BytesIO()
        Image.fromarray(arr, "RGB").save(buf, "PNG", optimize=True)
        return self.raw(name, buf.getvalue())

    def raw(self, name: str, data: bytes) -> str:
        (self.out / name).write_bytes(data)
        self.sizes[name] = len(data)
        return name

    def json(self, name: str, obj) -> str:
        text = json.dumps(obj, indent=1)
        # one [c, y, x, value] sample per line instead of one number per line
        text = re.sub(r"\[\s+(-?[0-9][^\[\]{}]*?)\s+\]",
                      lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text)
        return self.raw(name, (text + "\n").encode())


def norm_checksum(tensor: np.ndarray, source: str, mode: str, rng: np.random.Generator) -> dict:
    """Per-channel sums plus ~300 sampled values (corners, pad edges and random) of a CHW tensor."""
    c, h, w = tensor.shape
    picks = {(ch, y, x) for ch in range(c) for y in (0, h - 1) for x in (0, w - 1)}
    for _ in range(300):
        picks.add((int(rng.integers(c)), int(rng.integers(h)), int(rng.integers(w))))
    samples = [[ch, y, x, float(tensor[ch, y, x])] for ch, y, x in sorted(picks)]
    t64 = tensor.astype(np.float64)
    return {
        "source": source,
        "mode": mode,
        "shape": [c, h, w],
        "computed_by": f"transformers {transformers.__version__} CLIPImageProcessor"
        + (" after LLaVA expand2square" if mode == "pad" else ""),
        "mean": CLIP_MEAN,
        "std": CLIP_STD,
        "channel_sum": [float(t64[ch].sum()) for ch in range(c)],
        "channel_sum_sq": [float((t64[ch] ** 2).sum()) for ch in range(c)],
        "samples": samples,
    }


def synthetic(w: int, h: int, seed: int) -> np.ndarray:
    """Gradients, a checkerboard, saturated blocks, thin lines and a patch of noise: every kind of
    content the bicubic filter's rounding and clipping (overshoot at hard edges) can trip on,
    while staying cheap to store as PNG."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3), np.float64)
    img[..., 0] = 255 * x / max(w - 1, 1)
    img[..., 1] = 255 * y / max(h - 1, 1)
    img[..., 2] = 255 * (x + y) / (w + h)
    img[((x // 8 + y // 8) % 2 == 0) & (x < w / 2)] *= 0.5  # checkerboard: sharp edges
    img[(x > w * 0.6) & (y < h * 0.3)] = [255, 255, 255]  # saturated blocks: overshoot clips
    img[(x < w * 0.25) & (y > h * 0.7)] = [0, 0, 0]
    img[:, np.arange(w) % 11 == 3] = [255, 0, 0]  # thin vertical lines
    ny, nx = slice(h // 3, h // 3 + max(h // 6, 1)), slice(w // 3, w // 3 + max(w // 6, 1))
    img[ny, nx] = rng.integers(0, 256, size=img[ny, nx].shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def decode_cases(wr: Writer, manifest: dict) -> None:
    """Small files in the modes PIL's convert('RGB') has to handle, with PIL's RGB result."""
    rgb = synthetic(23, 17, seed=7)
    base = Image.fromarray(rgb, "RGB")
    alpha = Image.fromarray(((np.arange(23 * 17) * 37) % 256).astype(np.uint8).reshape(17, 23))
    rgba = base.copy()
    rgba.putalpha(alpha)
    la = base.convert("L")
    la.putalpha(alpha)
    pal = base.quantize(colors=16, dither=Image.Dither.NONE)
    pal_trns = pal.copy()
    pal_trns.info["transparency"] = 3
    frame2 = Image.fromarray(255 - rgb, "RGB").quantize(colors=16, dither=Image.Dither.NONE)
    files = {}
    files["decode_rgb.png"] = ("PNG", base, {})
    files["decode_grey.png"] = ("PNG", base.convert("L"), {})
    files["decode_grey_alpha.png"] = ("PNG", la, {})
    files["decode_rgba.png"] = ("PNG", rgba, {})
    files["decode_palette.png"] = ("PNG", pal, {})
    files["decode_palette_trns.png"] = ("PNG", pal_trns, {"transparency": 3})
    files["decode_rgb24.bmp"] = ("BMP", base, {})
    files["decode_palette8.bmp"] = ("BMP", pal, {})
    files["decode_two_frames.gif"] = ("GIF", pal, {"save_all": True, "append_images": [frame2]})
    files["decode_baseline.jpg"] = ("JPEG", base, {"quality": 90})  # 4:2:0
    files["decode_progressive.jpg"] = ("JPEG", base, {"quality": 90, "progressive": True})
    files["decode_grey.jpg"] = ("JPEG", base.convert("L"), {"quality": 90})
    cases = []
    for name, (fmt, im, kw) in files.items():
        buf = io.BytesIO()
        im.save(buf, fmt, **kw)
        wr.raw(name, buf.getvalue())
        with Image.open(io.BytesIO(buf.getvalue())) as back:
            expected = np.asarray(back.convert("RGB"))
        exp_name = wr.png(name + ".rgb.png", expected)
        # JPEG: stb_image's IDCT/upsampling/colour conversion differ from libjpeg-turbo's.
        cases.append({"file": name, "expected": exp_name, "lossy_decoder": fmt == "JPEG"})
    manifest["decode"] = cases


def synthetic_cases(wr: Writer, proc: CLIPImageProcessor, manifest: dict,
                    rng: np.random.Generator) -> None:
    resizes = []
    pipelines = []
    inputs = {"synth_337x211.png": synthetic(337, 211, seed=1),
              "synth_50x400.png": synthetic(50, 400, seed=2),
              "synth_3x2.png": synthetic(3, 2, seed=3)}
    targets = {
        # down both ways; up x / down y; vertical pass only; horizontal pass only; tiny
        "synth_337x211.png": [(97, 61), (401, 150), (337, 260), (500, 211), (5, 3)],
        "synth_50x400.png": [(17, 333)],
        "synth_3x2.png": [(7, 5), (1, 1), (336, 224)],
    }
    for name, arr in inputs.items():
        wr.png(name, arr)
        im = Image.fromarray(arr, "RGB")
        for ow, oh in targets[name]:
            out = np.asarray(im.resize((ow, oh), Image.BICUBIC))
            stem = name[:-4]
            resizes.append({"input": name, "width": ow, "height": oh,
                            "expected": wr.png(f"{stem}_resize_{ow}x{oh}.png", out)})
        if min(arr.shape[:2]) < 4:
            continue
        stem = name[:-4]
        pipelines.append({"input": name, "mode": "pad",
                          "expected": wr.png(f"{stem}_pad.png", pad_uint8(proc, im))})
        pipelines.append({"input": name, "mode": "crop",
                          "expected": wr.png(f"{stem}_crop.png", crop_uint8(proc, im))})
    manifest["resize"] = resizes
    manifest["pipeline"] = pipelines
    src = "synth_337x211.png"
    im = Image.fromarray(inputs[src], "RGB")
    manifest["normalized"] = [
        {"input": src, "mode": "pad", "expected": wr.json(
            "synth_337x211_pad_norm.json",
            norm_checksum(hf_normalized(proc, expand2square(im, PAD_COLOR)), src, "pad", rng))},
        {"input": src, "mode": "crop", "expected": wr.json(
            "synth_337x211_crop_norm.json",
            norm_checksum(hf_normalized(proc, im), src, "crop", rng))},
    ]


def photo_cases(wr: Writer, proc: CLIPImageProcessor, images: Path, manifest: dict,
                rng: np.random.Generator) -> None:
    cases = []
    for name, with_crop in PHOTOS.items():
        path = images / name
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as raw:
            rgb = raw.convert("RGB")
        stem = name.rsplit(".", 1)[0]
        entry = {"asset": f"images/{name}", "sha256": hashlib.sha256(data).hexdigest(),
                 "width": rgb.width, "height": rgb.height,
                 "lossy_decoder": name.endswith(".jpg"),
                 "pad": wr.png(f"photo_{stem}_pad.png", pad_uint8(proc, rgb))}
        if with_crop:
            entry["crop"] = wr.png(f"photo_{stem}_crop.png", crop_uint8(proc, rgb))
        elif rgb.width == rgb.height:
            entry["crop"] = entry["pad"]
            assert np.array_equal(crop_uint8(proc, rgb), pad_uint8(proc, rgb))
        if name == NORM_PHOTO:
            entry["pad_norm"] = wr.json(
                f"photo_{stem}_pad_norm.json",
                norm_checksum(hf_normalized(proc, expand2square(rgb, PAD_COLOR)),
                              f"images/{name}", "pad", rng))
        cases.append(entry)
    manifest["photos"] = cases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    args = ap.parse_args()
    if not args.images.is_dir():
        print(f"error: {args.images} not found (the shared photos)", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.iterdir():  # our previous output; README.md stays
        if old.is_file() and old.name.startswith(("decode_", "synth_", "photo_", "manifest.")):
            old.unlink()

    proc = clip_processor()
    rng = np.random.default_rng(1234)
    wr = Writer(args.out)
    manifest = {
        "generator": "tools/make_preprocess_fixtures.py",
        "versions": {"Pillow": PIL.__version__, "transformers": transformers.__version__,
                     "numpy": np.__version__},
        "pad_color": list(PAD_COLOR),
        "size": SIZE,
    }
    decode_cases(wr, manifest)
    synthetic_cases(wr, proc, manifest, rng)
    photo_cases(wr, proc, args.images, manifest, rng)
    wr.json("manifest.json", manifest)

    for name, size in sorted(wr.sizes.items()):
        print(f"{size:9d}  {name}")
    total = sum(wr.sizes.values())
    print(f"{total:9d}  total ({len(wr.sizes)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
