#!/usr/bin/env python3
"""Writes a chat JSONL of real, packaged data (scripts/assets.sh): emoji
images with their names as captions (npm emoji-datasource-google) and
spoken prompts with their transcripts (Debian asterisk-core-sounds-en),
plus conversations holding both. Deterministic.

    make_chat_jsonl.py ASSETS_DIR OUT.jsonl N_IMAGES N_CLIPS [HELD_OUT.jsonl N_HELD_OUT]

With HELD_OUT.jsonl: also N_HELD_OUT images and N_HELD_OUT clips that are
not in OUT.jsonl, as pairs (for captioning and transcription after training).
"""
import json
import os
import sys


def main():
    assets, out, n_images, n_clips = os.path.abspath(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    emoji = json.load(open(os.path.join(assets, "emoji", "emoji.json")))
    images = []
    for e in sorted(emoji, key=lambda e: e["image"]):
        path = os.path.join(assets, "emoji", "img", "google", "64", e["image"])
        if e.get("has_img_google") and os.path.exists(path) and e.get("name"):
            images.append((path, e["name"].lower()))
    clips = []
    for line in open(os.path.join(assets, "speech", "core-sounds-en.txt"), encoding="utf-8", errors="replace"):
        if ":" not in line or line.startswith(";"):
            continue
        key, text = line.split(":", 1)
        path = os.path.join(assets, "speech", "en_US_f_Allison", key.strip() + ".wav")
        if os.path.exists(path) and 0 < len(text.strip()) <= 60:
            clips.append((path, text.strip()))
    step_i = max(1, len(images) // max(1, n_images))
    step_c = max(1, len(clips) // max(1, n_clips))
    all_images, all_clips = images, clips
    images, clips = images[::step_i][:n_images], clips[::step_c][:n_clips]
    if len(sys.argv) > 6:
        held, n_held = sys.argv[5], int(sys.argv[6])
        used = {p for p, _ in images} | {p for p, _ in clips}
        # Spread over the lists, so held-out samples are like the training ones.
        free_i = [x for x in all_images[1::max(1, len(all_images) // max(1, 4 * n_held))] if x[0] not in used][:n_held]
        free_c = [x for x in all_clips[1::max(1, len(all_clips) // max(1, 4 * n_held))] if x[0] not in used][:n_held]
        with open(held, "w") as f:
            for path, name in free_i:
                f.write(json.dumps({"image": path, "caption": name}) + "\n")
            for path, text in free_c:
                f.write(json.dumps({"audio": path, "transcript": text}) + "\n")
    with open(out, "w") as f:
        for path, name in images:
            f.write(json.dumps({"image": path, "caption": name}) + "\n")
        for path, text in clips:
            f.write(json.dumps({"audio": path, "transcript": text}) + "\n")
        for (ipath, name), (apath, text) in list(zip(images, clips))[: min(len(images), len(clips)) // 4]:
            f.write(json.dumps({"messages": [
                {"role": "user", "content": [{"type": "image", "image": ipath}, {"type": "text", "text": "What is this? And say: "},
                                             {"type": "audio", "audio": apath}]},
                {"role": "assistant", "content": name + ". " + text}]}) + "\n")
    print(f"{out}: {len(images)} captions, {len(clips)} transcripts, {min(len(images), len(clips)) // 4} mixed")


if __name__ == "__main__":
    main()
