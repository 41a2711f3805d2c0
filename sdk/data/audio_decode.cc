#include "sdk/data/audio_decode.h"

#include <sndfile.h>
#include <soxr.h>

#include <cmath>
#include <vector>

#include <ATen/ATen.h>

#include "ops/base/error.h"

namespace loom::data {

double Waveform::seconds() const {
  return sample_rate > 0 ? static_cast<double>(samples.numel()) / static_cast<double>(sample_rate) : 0.0;
}

Waveform DecodeAudioFile(const std::string& path) {
  SF_INFO info{};
  SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
  if (!file) {
    throw DataError(ErrorWithFix(path + ": cannot decode the audio (" + std::string(sf_strerror(nullptr)) + ")",
                                 "use an intact WAV (PCM or float), FLAC or Ogg file"));
  }
  if (info.frames <= 0 || info.channels <= 0 || info.samplerate <= 0) {
    sf_close(file);
    throw DataError(ErrorWithFix(path + ": the audio holds no samples", "use a non-empty clip"));
  }
  std::vector<float> interleaved(static_cast<size_t>(info.frames) * static_cast<size_t>(info.channels));
  const sf_count_t read = sf_readf_float(file, interleaved.data(), info.frames);
  const int error = sf_error(file);
  sf_close(file);
  if (read != info.frames || error != SF_ERR_NO_ERROR) {
    throw DataError(ErrorWithFix(path + ": truncated audio (" + std::to_string(read) + " of " +
                                     std::to_string(info.frames) + " frames read)",
                                 "re-encode or drop the file"));
  }
  auto all = at::from_blob(interleaved.data(), {info.frames, info.channels}, at::kFloat);
  Waveform w;
  w.samples = (info.channels == 1 ? all.select(1, 0) : all.mean(1)).contiguous().clone();
  w.sample_rate = info.samplerate;
  w.channels = info.channels;
  if (!at::isfinite(w.samples).all().item<bool>()) {
    throw DataError(ErrorWithFix(path + ": the audio holds NaN or infinite samples", "re-encode or drop the file"));
  }
  return w;
}

at::Tensor Resample(const at::Tensor& samples, int64_t from_hz, int64_t to_hz) {
  if (from_hz <= 0 || to_hz <= 0) {
    throw Error("Resample: rates " + std::to_string(from_hz) + " -> " + std::to_string(to_hz) + " Hz");
  }
  auto in = samples.to(at::kFloat).contiguous();
  if (from_hz == to_hz) return in;
  const auto n = static_cast<size_t>(in.numel());
  const auto out_len = static_cast<size_t>(std::ceil(static_cast<double>(n) * static_cast<double>(to_hz) /
                                                     static_cast<double>(from_hz)));
  auto out = at::empty({static_cast<int64_t>(out_len)}, at::kFloat);
  size_t done = 0;
  const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
  const soxr_error_t err = soxr_oneshot(static_cast<double>(from_hz), static_cast<double>(to_hz), 1,
                                        in.data_ptr<float>(), n, nullptr, out.data_ptr<float>(), out_len, &done, &io,
                                        &quality, nullptr);
  if (err) throw Error("Resample: libsoxr failed: " + std::string(err));
  return out.narrow(0, 0, static_cast<int64_t>(done)).clone();
}

}  // namespace loom::data
