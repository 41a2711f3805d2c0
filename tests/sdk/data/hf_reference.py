#!/usr/bin/env python3
"""Reference encodings from Hugging Face `tokenizers` for Loom's C++ tokenizer.

  hf_reference.py encode TOKENIZER_JSON FILE...
      prints one line per FILE: its token ids, space-separated
      (the file is read as UTF-8; added/special tokens are recognized).
  hf_reference.py bench TOKENIZER_JSON FILE REPEATS
      encodes FILE REPEATS times as one string (one thread) and prints
      "tokens=N seconds=S" for the fastest run, then splits FILE into
      paragraphs ("\n\n") and encodes them with encode_batch (all cores) and
      prints "batch_tokens=N batch_seconds=S".
"""
import sys
import time

from tokenizers import Tokenizer


def main() -> int:
    mode, path = sys.argv[1], sys.argv[2]
    tok = Tokenizer.from_file(path)
    if mode == "encode":
        for name in sys.argv[3:]:
            with open(name, "rb") as f:
                text = f.read().decode("utf-8")
            ids = tok.encode(text, add_special_tokens=False).ids
            print(" ".join(map(str, ids)))
        return 0
    if mode == "bench":
        with open(sys.argv[3], "rb") as f:
            text = f.read().decode("utf-8")
        repeats = int(sys.argv[4])
        best, n = float("inf"), 0
        for _ in range(repeats):
            start = time.perf_counter()
            n = len(tok.encode(text, add_special_tokens=False).ids)
            best = min(best, time.perf_counter() - start)
        print(f"tokens={n} seconds={best:.6f}")
        paragraphs = text.split("\n\n")
        best, n = float("inf"), 0
        for _ in range(repeats):
            start = time.perf_counter()
            encodings = tok.encode_batch(paragraphs, add_special_tokens=False)
            best = min(best, time.perf_counter() - start)
            n = sum(len(e.ids) for e in encodings)
        print(f"batch_tokens={n} batch_seconds={best:.6f}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
