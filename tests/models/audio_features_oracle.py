"""Reference log-mel features of transformers' WhisperFeatureExtractor
(4.57.1, its torch path) and resampling by python-soxr, for
tests/sdk/data/audio_features_test.cc.

    audio_features_oracle.py features IN.safetensors OUT.safetensors N_MELS
        IN holds wave.<i> (16 kHz float32 waveforms); OUT gets
        input_features.<i> (N_MELS, 3000), frames.<i> (the attention mask's
        sum) and mel_filters (201, N_MELS) float64.
    audio_features_oracle.py resample IN.safetensors OUT.safetensors
        IN holds wave.<i> and rates.<i> = (from, to); OUT gets wave.<i>
        resampled by python-soxr (libsoxr, quality HQ).
"""
import sys

import numpy as np
import soxr
import torch
from safetensors.torch import load_file, save_file
from transformers import WhisperFeatureExtractor


def features(src, dst, n_mels):
    waves = load_file(src)
    extractor = WhisperFeatureExtractor(feature_size=n_mels)
    out = {"mel_filters": torch.from_numpy(np.ascontiguousarray(extractor.mel_filters))}
    for name, wave in waves.items():
        i = name.split(".")[1]
        got = extractor(wave.numpy(), sampling_rate=16000, return_tensors="pt", return_attention_mask=True)
        out[f"input_features.{i}"] = got["input_features"][0].contiguous()
        out[f"frames.{i}"] = got["attention_mask"][0].sum().reshape(1)
    save_file(out, dst)


def resample(src, dst):
    data = load_file(src)
    out = {}
    for name, wave in data.items():
        if not name.startswith("wave."):
            continue
        i = name.split(".")[1]
        rate_from, rate_to = (int(r) for r in data[f"rates.{i}"])
        y = soxr.resample(wave.numpy().astype(np.float32), rate_from, rate_to, quality="HQ")
        out[f"wave.{i}"] = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    save_file(out, dst)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "features":
        features(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[1] == "resample":
        resample(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
