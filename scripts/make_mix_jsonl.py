#!/usr/bin/env python3
"""Writes a skewed chat JSONL of real, packaged data (scripts/assets.sh):
Brown-corpus paragraphs (tags stripped; 1 to several hundred words) as
text-only replies, emoji images with their names as captions, and spoken
prompts with their transcripts: many short samples, some long ones, as real
mixes are. Deterministic.

    make_mix_jsonl.py ASSETS_DIR OUT.jsonl N_PARAGRAPHS N_IMAGES N_CLIPS
"""
import json
import os
import random
import subprocess
import sys


def brown_paragraphs(assets):
    out = []
    root = os.path.join(assets, "brown")
    for name in sorted(os.listdir(root)):
        if len(name) != 4:
            continue
        text = open(os.path.join(root, name), encoding="utf-8", errors="replace").read()
        for block in text.split("\n\n"):
            words = [w.rsplit("/", 1)[0] for w in block.split() if "/" in w]
            if len(words) >= 3:
                out.append(" ".join(words).replace(" ,", ",").replace(" .", ".").replace("`` ", '"').replace(" ''", '"'))
    return out


def main():
    assets, out, n_text, n_images, n_clips = os.path.abspath(sys.argv[1]), sys.argv[2], *map(int, sys.argv[3:6])
    paragraphs = brown_paragraphs(assets)
    rng = random.Random(7)
    rng.shuffle(paragraphs)
    tmp = out + ".media.jsonl"
    subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "make_chat_jsonl.py"), assets, tmp,
                    str(n_images), str(n_clips)], check=True, stdout=subprocess.DEVNULL)
    lines = [json.dumps({"messages": [{"role": "user", "content": "Write a passage."},
                                      {"role": "assistant", "content": p}]}) for p in paragraphs[:n_text]]
    lines += [line.rstrip("\n") for line in open(tmp)]
    os.remove(tmp)
    rng.shuffle(lines)
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{out}: {min(n_text, len(paragraphs))} Brown paragraphs, {len(lines) - min(n_text, len(paragraphs))} media samples")


if __name__ == "__main__":
    main()
