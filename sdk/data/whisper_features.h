// Whisper's log-mel features in C++, equal to transformers'
// WhisperFeatureExtractor (4.57.1, its torch path) on the same 16 kHz
// waveform:
//
//   1. the waveform cut or zero-padded to chunk_seconds x 16000 samples;
//   2. STFT (n_fft 400, hop 160, periodic Hann window, centred with reflect
//      padding), the last frame dropped, power |X|^2;
//   3. a Slaney mel filter bank (0 .. 8000 Hz, Slaney normalisation; built
//      in double, used in fp32), log10 of max(mel, 1e-10);
//   4. floored at the clip's max - 8, then (x + 4) / 4.
//
// Frames past ceil(samples / hop) are the padding's (Qwen2-Audio's
// feature_lengths, what AudioEncoder masks).
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace loom::data {

struct WhisperFeatureOptions {  // defaults: Whisper's preprocessor_config.json (Qwen2-Audio: n_mels 128)
  int64_t n_mels = 80;
  int64_t n_fft = 400;
  int64_t hop_length = 160;
  int64_t sampling_rate = 16000;
  int64_t chunk_seconds = 30;
};

struct AudioFeatures {
  at::Tensor input_features;  // (n_mels, chunk_seconds * sr / hop) float32
  int64_t frames = 0;         // real frames: ceil(min(samples, chunk) / hop)
};

// The (1 + n_fft / 2, n_mels) filter bank, float64 (transformers' mel_filters).
at::Tensor WhisperMelFilters(const WhisperFeatureOptions& options = {});

// waveform: (N) float32 at options.sampling_rate (Resample first).
AudioFeatures WhisperLogMel(const at::Tensor& waveform, const WhisperFeatureOptions& options = {});

}  // namespace loom::data
