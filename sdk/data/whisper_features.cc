#include "sdk/data/whisper_features.h"

#include <cmath>

#include <ATen/ATen.h>

#include "ops/base/error.h"

namespace loom::data {
namespace {

// Slaney's mel scale: linear below 1 kHz, logarithmic above.
double HertzToMel(double hz) {
  const double min_log_hz = 1000.0, min_log_mel = 15.0, logstep = 27.0 / std::log(6.4);
  return hz >= min_log_hz ? min_log_mel + std::log(hz / min_log_hz) * logstep : 3.0 * hz / 200.0;
}

double MelToHertz(double mel) {
  const double min_log_hz = 1000.0, min_log_mel = 15.0, logstep = std::log(6.4) / 27.0;
  return mel >= min_log_mel ? min_log_hz * std::exp(logstep * (mel - min_log_mel)) : 200.0 * mel / 3.0;
}

}  // namespace

at::Tensor WhisperMelFilters(const WhisperFeatureOptions& o) {
  const int64_t bins = 1 + o.n_fft / 2, mels = o.n_mels;
  const double mel_min = HertzToMel(0.0), mel_max = HertzToMel(8000.0);
  // mels + 2 filter edges, evenly spaced in mel (np.linspace), in Hz.
  std::vector<double> edges(static_cast<size_t>(mels + 2));
  for (int64_t i = 0; i < mels + 2; ++i) {
    const double mel = mel_min + (mel_max - mel_min) * static_cast<double>(i) / static_cast<double>(mels + 1);
    edges[static_cast<size_t>(i)] = MelToHertz(mel);
  }
  auto filters = at::zeros({bins, mels}, at::kDouble);
  auto f = filters.accessor<double, 2>();
  const double nyquist = static_cast<double>(o.sampling_rate / 2);
  for (int64_t b = 0; b < bins; ++b) {
    const double hz = nyquist * static_cast<double>(b) / static_cast<double>(bins - 1);  // np.linspace(0, sr // 2, bins)
    for (int64_t m = 0; m < mels; ++m) {
      const double lo = edges[m], mid = edges[m + 1], hi = edges[m + 2];
      const double down = (hz - lo) / (mid - lo), up = (hi - hz) / (hi - mid);
      const double weight = std::max(0.0, std::min(down, up));
      f[b][m] = weight * 2.0 / (hi - lo);  // Slaney normalisation: about constant energy per filter
    }
  }
  return filters;
}

AudioFeatures WhisperLogMel(const at::Tensor& waveform, const WhisperFeatureOptions& o) {
  if (waveform.dim() != 1) throw Error("WhisperLogMel: expected a (N) waveform, got " + c10::str(waveform.sizes()));
  const int64_t chunk = o.chunk_seconds * o.sampling_rate;
  const int64_t n = std::min<int64_t>(waveform.numel(), chunk);
  auto x = at::zeros({chunk}, at::kFloat);
  x.narrow(0, 0, n).copy_(waveform.narrow(0, 0, n));
  const auto window = at::hann_window(o.n_fft, at::kFloat);
  const auto spectrum = at::stft(x, o.n_fft, o.hop_length, o.n_fft, window, /*center=*/true, "reflect",
                                 /*normalized=*/false, /*onesided=*/true, /*return_complex=*/true);
  const auto power = spectrum.narrow(-1, 0, spectrum.size(-1) - 1).abs().pow(2);  // (bins, frames)
  const auto mel = at::matmul(WhisperMelFilters(o).to(at::kFloat).t(), power);  // (n_mels, frames)
  auto log_spec = at::clamp_min(mel, 1e-10).log10();
  log_spec = at::maximum(log_spec, log_spec.max() - 8.0);
  AudioFeatures out;
  out.input_features = ((log_spec + 4.0) / 4.0).contiguous();
  out.frames = (n + o.hop_length - 1) / o.hop_length;
  return out;
}

}  // namespace loom::data
