"""Reference outputs of transformers' Qwen2VLImageProcessorFast (4.57.1,
torchvision's resize) on real PNGs, for tests/sdk/data/image_processor_test.cc.

    image_processor_oracle.py make qwen2_vl_images OUT_DIR

Runs in .venv-cuda (scripts/deps_cuda_venv.sh: PyPI's torchvision needs the
CUDA torch build; everything here runs on the CPU). Images: 40 RGBA, 6
gray + alpha and 2 palette 64 x 64 emoji PNGs and the 8 sprite sheets
(1116 .. 4092 px, RGBA and palette) of npm emoji-datasource-google
(.cache/assets/emoji, scripts/assets.sh), plus crops of a sheet saved as PNG
(non-square, tiny: the upscale path, and a 1:150 strip) in RGBA and palette
mode. Writes OUT_DIR/images.txt (one per line: an asset's absolute path, or a crop's
file name in OUT_DIR) and
OUT_DIR/ref.safetensors with pixel_values.<i> and image_grid_thw.<i>.
"""
import os
import struct
import sys

import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import Qwen2VLImageProcessorFast

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
EMOJI = os.path.join(ROOT, ".cache", "assets", "emoji", "img", "google")


def color_type(path):
    with open(path, "rb") as f:
        head = f.read(26)
    return head[25]


def real_images():
    small = sorted(os.listdir(os.path.join(EMOJI, "64")))
    by_type = {3: [], 4: [], 6: []}
    for name in small:
        path = os.path.join(EMOJI, "64", name)
        t = color_type(path)
        if t in by_type:
            by_type[t].append(path)
    picked = by_type[6][:40] + by_type[4][:6] + by_type[3][:2]
    for sheets in ("sheets", "sheets-clean"):
        folder = os.path.join(EMOJI, sheets)
        picked += [os.path.join(folder, n) for n in sorted(os.listdir(folder))]
    return picked


def crops(out_dir):
    sheet = Image.open(os.path.join(EMOJI, "sheets", "32.png")).convert("RGBA")
    boxes = [(0, 0, 20, 30), (40, 10, 140, 47), (100, 100, 433, 1100), (5, 5, 15, 1505), (300, 200, 1291, 233)]
    paths = []
    for i, box in enumerate(boxes):
        part = sheet.crop(box)
        for mode in ("RGBA", "P"):
            img = part if mode == "RGBA" else part.convert("RGB").quantize(colors=64)
            path = os.path.join(out_dir, f"crop{i}_{mode}.png")
            img.save(path)
            paths.append(path)
    return paths


def main():
    if len(sys.argv) != 4 or sys.argv[1] != "make" or sys.argv[2] != "qwen2_vl_images":
        sys.exit("usage: image_processor_oracle.py make qwen2_vl_images OUT_DIR")
    out_dir = sys.argv[3]
    paths = real_images() + crops(out_dir)
    processor = Qwen2VLImageProcessorFast()  # Qwen2-VL's defaults: 56*56 .. 28*28*1280 pixels
    assert type(processor).__name__ == "Qwen2VLImageProcessorFast"
    ref = {}
    for i, path in enumerate(paths):
        out = processor(images=[Image.open(path)], return_tensors="pt")
        ref[f"pixel_values.{i}"] = out["pixel_values"].contiguous()
        ref[f"image_grid_thw.{i}"] = out["image_grid_thw"][0].contiguous()
    save_file(ref, os.path.join(out_dir, "ref.safetensors"))
    with open(os.path.join(out_dir, "images.txt"), "w") as f:
        # Assets by absolute path; the crops by name (OUT_DIR moves once written).
        f.write("\n".join(os.path.basename(p) if p.startswith(out_dir) else os.path.abspath(p) for p in paths) + "\n")
    print(f"{len(paths)} images; torch {torch.__version__}")


if __name__ == "__main__":
    main()
