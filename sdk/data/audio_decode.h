// Audio files -> mono float waveforms, and resampling.
//
// Decoding goes through libsndfile (Debian libsndfile1-dev): WAV (PCM 8, 16,
// 24, 32-bit, float), FLAC, Ogg/Vorbis, ... at any sample rate; channels are
// averaged to mono (as librosa.load(mono=True) does before Whisper's
// feature extractor). Resampling goes through libsoxr (libsoxr-dev, its HQ
// recipe: 20-bit precision, linear phase), the library sox and
// python-soxr use.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace loom::data {

struct Waveform {
  at::Tensor samples;       // (N) float32 in [-1, 1], mono
  int64_t sample_rate = 0;  // Hz
  int64_t channels = 1;     // in the file (averaged into samples)
  double seconds() const;
};

// A missing, unreadable, truncated or empty file is a loom::DataError naming
// the file and the reason.
Waveform DecodeAudioFile(const std::string& path);

// (N) float32 at `from_hz` -> float32 at `to_hz` (the same tensor when equal).
at::Tensor Resample(const at::Tensor& samples, int64_t from_hz, int64_t to_hz);

}  // namespace loom::data
